"""Durations as people write them in commands and configuration: ``30s``, ``5m``, ``12h``,
``7d``, ``2w``, or a bare number of seconds."""

from __future__ import annotations

import re
from datetime import timedelta

from headwater.errors import BadRequestError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | int | float, field: str) -> timedelta:
    """``value`` as a duration; `BadRequestError` naming ``field`` if it is not one."""
    if isinstance(value, bool):
        raise BadRequestError("must be a duration like 30s, 5m, 12h or 7d", field)
    if isinstance(value, int | float):
        if value < 0:
            raise BadRequestError("must not be negative", field)
        return timedelta(seconds=value)
    found = _PATTERN.match(value)
    if found is None:
        raise BadRequestError(f"{value!r} is not a duration like 30s, 5m, 12h or 7d", field)
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2) or "s"])
