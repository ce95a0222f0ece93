"""The ``schedules:`` section of ``headwater.yml``: what the scheduler runs, and when.

::

    schedules:
      shop-pipeline: {run: pipeline, cron: "*/5 * * * *"}
      compact-daily: {run: compact, cron: "0 3 * * *", tables: ["raw.*", "staging.*"]}
      expire-weekly: {run: expire, cron: "0 4 * * 0", older_than: 7d, retain_last: 5}
      retention:     {run: retention, cron: "30 4 * * *"}
      nightly-backup: {run: backup, cron: "0 2 * * *", keep: 7}

Cron expressions are read as Airflow reads them (croniter), in UTC. ``missed`` says what a
scheduler does with slots that passed while none ran: ``run_once`` (the default) runs the
latest of them once, as a catch-up; ``skip`` records them as skipped and waits for the next.

Without a ``schedules:`` section the alert rules are evaluated every minute and nothing else
is scheduled; a declared section may still name its own ``alerts`` schedule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from croniter import croniter

from headwater.errors import ConfigError
from headwater.ops.durations import parse_duration

Kind = Literal["pipeline", "pull", "compact", "expire", "orphans", "retention", "alerts", "backup"]
KINDS: tuple[Kind, ...] = (
    "pipeline",
    "pull",
    "compact",
    "expire",
    "orphans",
    "retention",
    "alerts",
    "backup",
)
Missed = Literal["run_once", "skip"]

# The keys each kind takes besides run, cron, missed and enabled.
_OPTIONS: dict[str, set[str]] = {
    "pipeline": {"select", "full_refresh"},
    "pull": set(),
    "compact": {"tables", "target_size_mb"},
    "expire": {"tables", "older_than", "retain_last"},
    "orphans": {"tables", "older_than"},
    "retention": {"older_than", "grace"},
    "alerts": set(),
    "backup": {"folder", "data", "keep"},
}
_COMMON = {"run", "cron", "missed", "enabled"}


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    kind: Kind
    cron: str
    missed: Missed = "run_once"
    select: tuple[str, ...] = ()
    full_refresh: bool = False
    tables: tuple[str, ...] = ("*",)
    target_size_mb: int = 128
    older_than: timedelta | None = None
    retain_last: int = 5
    grace: timedelta | None = None
    folder: str | None = None  # backup: where archives go (default <home>/backups)
    data: bool = True  # backup: with the data files
    keep: int = 7  # backup: archives of this schedule kept, newest first
    options: Mapping[str, Any] = field(default_factory=dict)  # as declared, for display

    def slot_at_or_before(self, when: datetime) -> datetime:
        """The latest time this schedule was due at or before ``when``."""
        if croniter.match(self.cron, when.replace(second=0, microsecond=0)) and (
            when.second == 0 and when.microsecond == 0
        ):
            return when
        return croniter(self.cron, when).get_prev(datetime)

    def next_slot(self, after: datetime) -> datetime:
        return croniter(self.cron, after).get_next(datetime)

    def covers(self, table: str) -> bool:
        return any(fnmatch.fnmatchcase(table, pattern) for pattern in self.tables)


DEFAULT_SCHEDULES = (Schedule("alerts", "alerts", "* * * * *"),)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(where, "must be a list of text")
    return tuple(value)


def _whole(value: Any, where: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(where, f"must be a whole number of at least {low}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, "must be a path")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, "must be true or false")
    return value


def _duration(value: Any, where: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None


def _schedule(name: str, spec: Any, where: str) -> Schedule | None:
    if not isinstance(spec, Mapping):
        raise ConfigError(where, "must be a mapping with run: and cron:")
    kind = spec.get("run")
    if kind not in KINDS:
        raise ConfigError(f"{where}.run", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = sorted(set(spec) - _COMMON - _OPTIONS[kind])
    if unknown:
        known = ", ".join(sorted(_COMMON | _OPTIONS[kind]))
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown key for run: {kind}; known: {known}")
    cron = spec.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ConfigError(f"{where}.cron", f"{cron!r} is not a cron expression like */5 * * * *")
    missed = spec.get("missed", "run_once")
    if missed not in ("run_once", "skip"):
        raise ConfigError(f"{where}.missed", "must be run_once or skip")
    if not _flag(spec.get("enabled", True), f"{where}.enabled"):
        return None
    full_refresh = _flag(spec.get("full_refresh", False), f"{where}.full_refresh")
    return Schedule(
        name=name,
        kind=kind,
        cron=cron,
        missed=missed,
        select=_strings(spec["select"], f"{where}.select") if "select" in spec else (),
        full_refresh=full_refresh,
        tables=_strings(spec["tables"], f"{where}.tables") if "tables" in spec else ("*",),
        target_size_mb=_whole(spec.get("target_size_mb", 128), f"{where}.target_size_mb", 1),
        older_than=_duration(spec["older_than"], f"{where}.older_than")
        if "older_than" in spec
        else None,
        retain_last=_whole(spec.get("retain_last", 5), f"{where}.retain_last", 1),
        grace=_duration(spec["grace"], f"{where}.grace") if "grace" in spec else None,
        folder=_text(spec["folder"], f"{where}.folder") if "folder" in spec else None,
        data=_flag(spec.get("data", True), f"{where}.data"),
        keep=_whole(spec.get("keep", 7), f"{where}.keep", 1),
        options={k: v for k, v in spec.items() if k not in _COMMON},
    )


def parse_schedules(section: object, where: str = "schedules") -> tuple[Schedule, ...]:
    """Check the section; `DEFAULT_SCHEDULES` when there is none."""
    if section is None:
        return DEFAULT_SCHEDULES
    if not isinstance(section, Mapping):
        raise ConfigError(where, "must be a mapping of schedule names to {run:, cron:}")
    found = []
    for name, spec in section.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError(f"{where}.{name}", "a schedule's name must be text without /")
        schedule = _schedule(name, spec, f"{where}.{name}")
        if schedule is not None:
            found.append(schedule)
    return tuple(found)
