"""Durations as people write them in commands and configuration: a whole number and a unit
(``30s``, ``5m``, ``12h``, ``7d``, ``2w``), or a whole number of seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_PATTERN = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXAMPLES = "30s, 5m, 1h or 7d"


def parse_duration(value: object) -> timedelta:
    """``value`` as a duration; `ValueError` saying why it is not one."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str) and (match := _PATTERN.fullmatch(value.strip())):
        seconds = int(match[1]) * _SECONDS[match[2]]
    if seconds is None:
        raise ValueError(f"must be a duration like {EXAMPLES}, got {value!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long") from None
