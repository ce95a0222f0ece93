"""A delivery matches its topic when every declared column it carries has the declared type."""

from __future__ import annotations

import pyarrow as pa
import pytest

from headwater.errors import BadRequestError
from headwater.ingest.payloads import parse_object, schema_mismatch
from headwater.lake import arrow_type

SCHEMA = pa.schema(
    [
        pa.field(name, arrow_type(kind))
        for name, kind in [
            ("id", "long"),
            ("small", "int"),
            ("email", "string"),
            ("total", "double"),
            ("paid", "boolean"),
            ("day", "date"),
            ("at", "timestamp"),
            ("price", "decimal(10,2)"),
        ]
    ]
)


def test_missing_keys_and_nulls_are_nulls_and_extra_keys_are_kept_in_the_payload() -> None:
    assert schema_mismatch({"id": None, "note": {"anything": [1]}}, SCHEMA) is None


def test_values_of_the_declared_types_match() -> None:
    payload = {
        "id": 2**62,
        "small": -5,
        "email": "A@B.C",
        "total": 3,
        "paid": False,
        "day": "2026-12-01",
        "at": "2026-12-01T10:00:00Z",
        "price": "12.50",
    }
    assert schema_mismatch(payload, SCHEMA) is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"id": "7"}, 'id: expected a whole number, got "7"'),
        ({"id": True}, "id: expected a whole number, got true"),
        ({"small": 2**31}, "small: out of range for int32"),
        ({"email": 5}, "email: expected text, got 5"),
        ({"total": "1.5"}, 'total: expected a number, got "1.5"'),
        ({"paid": "yes"}, 'paid: expected true or false, got "yes"'),
        ({"day": "01/12/2026"}, "day: expected a date like 2026-12-01"),
        ({"at": "yesterday"}, "at: expected an ISO 8601 timestamp"),
        ({"price": "n/a"}, "price: expected a decimal number"),
    ],
)
def test_the_first_mismatch_is_the_reason(payload: dict[str, object], reason: str) -> None:
    mismatch = schema_mismatch(payload, SCHEMA)
    assert mismatch is not None and mismatch.startswith(reason)


def test_long_values_are_shortened_in_the_reason() -> None:
    mismatch = schema_mismatch({"id": "x" * 500}, SCHEMA)
    assert mismatch is not None and len(mismatch) < 100 and mismatch.endswith("xxx...")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "body: not valid JSON"),
        (b"[1, 2]", "body: must be a JSON object, got list"),
        (b"", "body: not valid JSON"),
    ],
)
def test_a_body_must_be_one_json_object(body: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_object(body)
