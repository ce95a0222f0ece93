"""Does a delivery's JSON match its topic's declared columns?

Each declared column is read from the payload's top-level key of the same name. A missing key
or ``null`` is NULL (raw columns are all nullable); any other value must have the declared
type, or the delivery goes to the dead letters with the first mismatch as the reason. Text is
not converted to numbers here: raw tables keep what was sent, and a column that arrives as text
is declared ``string`` and typed by a staging model.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa

from headwater.errors import BadRequestError

_INT_RANGES = {pa.int32(): (-(2**31), 2**31 - 1), pa.int64(): (-(2**63), 2**63 - 1)}


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; `BadRequestError` (400) naming what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"not valid JSON ({exc})", "body") from None
    if not isinstance(document, dict):
        raise BadRequestError(f"must be a JSON object, got {type(document).__name__}", "body")
    return document


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _mismatch(value: Any, data_type: pa.DataType) -> str | None:
    """Why ``value`` cannot be a ``data_type``, or None when it can."""
    if pa.types.is_string(data_type):
        return None if isinstance(value, str) else "expected text"
    if pa.types.is_boolean(data_type):
        return None if isinstance(value, bool) else "expected true or false"
    if pa.types.is_integer(data_type):
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected a whole number"
        low, high = _INT_RANGES[data_type]
        return None if low <= value <= high else f"out of range for {data_type}"
    if pa.types.is_floating(data_type):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "expected a number"
    if pa.types.is_decimal(data_type):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return "expected a decimal number"
        try:
            decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return "expected a decimal number"
        return None
    if pa.types.is_date(data_type):
        ok = isinstance(value, str) and _parses(date.fromisoformat, value)
        return None if ok else "expected a date like 2026-12-01"
    if pa.types.is_timestamp(data_type):
        ok = isinstance(value, str) and _parses(datetime.fromisoformat, value)
        return None if ok else "expected an ISO 8601 timestamp like 2026-12-01T09:30:00Z"
    return f"type {data_type} is not accepted from JSON"


def mismatches(payload: dict[str, Any], schema: pa.Schema) -> Iterator[tuple[str, str]]:
    """Each declared column the payload gets wrong, with why."""
    for column in schema:
        value = payload.get(column.name)
        if value is None:
            continue
        problem = _mismatch(value, column.type)
        if problem:
            yield column.name, f"{column.name}: {problem}, got {_show(value)}"


def schema_mismatch(payload: dict[str, Any], schema: pa.Schema) -> str | None:
    """The first declared column the payload gets wrong, as a reason; None if it matches."""
    return next((reason for _, reason in mismatches(payload, schema)), None)
