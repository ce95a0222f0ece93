"""Column type names of source declarations (``sources/*.yml``) and their Arrow types."""

from __future__ import annotations

import re

import pyarrow as pa

_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    # Iceberg timestamptz: microseconds, stored as UTC.
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")

TYPE_NAMES = (*_SIMPLE, "decimal(P,S)")


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a declared type name; `ValueError` naming the known ones otherwise."""
    key = name.strip().lower()
    if key in _SIMPLE:
        return _SIMPLE[key]
    match = _DECIMAL.fullmatch(key)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"{name!r}: decimal precision must be 1-38 and scale <= precision")
        return pa.decimal128(precision, scale)
    raise ValueError(f"unknown type {name!r}; use one of {', '.join(TYPE_NAMES)}")


def nullable_schema(schema: pa.Schema) -> pa.Schema:
    """The same schema with every field nullable.

    headwater tables are all-optional: a model's result says nothing about nullability, and an
    Iceberg `required` field would refuse a later batch that happens to carry a NULL.
    """
    return pa.schema([field.with_nullable(True) for field in schema])
