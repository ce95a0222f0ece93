"""How the pages write times, durations and links: Jinja filters, registered once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def when(value: str | datetime | None) -> str:
    """A timestamp as UTC to the second (what the API returns, easier to read)."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(value: str | datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: ``3 h ago``."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def duration(run: dict[str, Any]) -> float | None:
    """Seconds from a Marquez run's start to its end; None while it runs."""
    started, ended = parse_time(run.get("startedAt")), parse_time(run.get("endedAt"))
    if started is None or ended is None:
        return None
    return (ended - started).total_seconds()


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f} s"


def query(**values: Any) -> str:
    """A query string of the values that are set: ``/dataset?{{ query(namespace=..) }}``."""
    return urlencode({k: v for k, v in values.items() if v is not None and v != ""})


def register_filters(env: Environment) -> None:
    env.filters["when"] = when
    env.filters["age"] = age
    env.filters["seconds"] = seconds
    env.filters["duration"] = duration
    env.globals["query"] = query
