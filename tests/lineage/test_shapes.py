"""``shapes.iso``: timestamps as Marquez writes them, from datetimes or from the stored text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from headwater.lineage.shapes import iso

MOMENTS = [
    datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, 0, 120000, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_stored_text_formats_as_the_datetime_does(moment: datetime) -> None:
    """Graph nodes read timestamps as the text SQLite stores (and PostgreSQL is asked to
    write): ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC."""
    stored = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert iso(stored) == iso(moment)


def test_whole_seconds_have_no_fraction_and_a_z() -> None:
    assert iso(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00Z"
    assert iso("2024-05-01 12:00:00.000000") == "2024-05-01T12:00:00Z"
    assert iso("2024-05-01 12:00:00.500000") == "2024-05-01T12:00:00.500000Z"


def test_other_stored_forms_are_parsed_as_utc() -> None:
    assert iso("2024-05-01 12:00:00") == "2024-05-01T12:00:00Z"
    assert iso("2024-05-01T12:00:00.25") == "2024-05-01T12:00:00.250000Z"
    assert iso("2024-05-01 14:00:00+02:00") == "2024-05-01T12:00:00Z"


def test_an_aware_datetime_in_another_zone_is_written_in_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    assert iso(datetime(2024, 5, 1, 14, 0, 1, tzinfo=berlin_summer)) == "2024-05-01T12:00:01Z"


def test_none_stays_none() -> None:
    assert iso(None) is None
