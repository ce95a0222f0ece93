"""Incremental runs read only what is new, on SQLite and PostgreSQL alike.

Specification: an incremental model reads, from each input in ``incremental_on``, only the
rows appended since its watermark; a rewrite of such an input makes it do what it declares;
maintenance rewrites are never re-read; ``--full-refresh`` rebuilds from current snapshots.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from headwater.db import Database
from headwater.lake import MAINTENANCE_PROPERTY, Lake
from headwater.pipeline import load_project, run_pipeline
from headwater.pipeline.runner import ensure_sources
from headwater.pipeline.state import PipelineState
from tests.pipeline.projects import MODELS, append_orders, orders, rows, write_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def _run(project_dir: Path, database: Database, lake: Lake, **kwargs: object):  # type: ignore[no-untyped-def]
    project = load_project(project_dir)
    ensure_sources(project, lake)
    return run_pipeline(project, database, lake, **kwargs)  # type: ignore[arg-type]


def _first_run(project_dir: Path, database: Database, lake: Lake, count: int):  # type: ignore[no-untyped-def]
    """Create the raw table, deliver orders 0..count-1 and run the pipeline once."""
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, count))
    return _run(project_dir, database, lake)


def test_first_run_reads_everything_and_the_next_only_what_was_appended(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    load_project(project_dir)
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, 100))
    first = _run(project_dir, database, lake)
    assert first.status == "COMPLETED"
    assert {n: o.record.mode for n, o in first.outcomes.items()} == {
        "staging.stg_orders": "full",
        "analytics.order_log": "full",
        "marts.totals": "full",
    }
    append_orders(lake, orders(100, 7))
    second = _run(project_dir, database, lake)
    assert second.status == "COMPLETED"
    staging = second.outcomes["staging.stg_orders"].record
    assert (staging.mode, staging.rows_read, staging.rows_written) == ("incremental", 7, 7)
    log = second.outcomes["analytics.order_log"].record
    assert (log.mode, log.rows_read, log.rows_written) == ("incremental", 7, 7)
    assert rows(lake, "marts.totals") == [{"orders": 107, "revenue": float(sum(range(107)))}]


def test_a_run_with_nothing_new_reads_nothing_and_changes_nothing(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    _first_run(project_dir, database, lake, 10)
    before = lake.load("analytics.order_log")
    assert before is not None
    again = _run(project_dir, database, lake)
    assert again.outcomes["analytics.order_log"].record.rows_read == 0
    after = lake.load("analytics.order_log")
    assert after is not None and after.current_snapshot() == before.current_snapshot()


def test_merge_deduplicates_redelivered_events_across_runs(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    _first_run(project_dir, database, lake, 10)
    append_orders(lake, pa.concat_tables([orders(5, 5), orders(10, 2)]))  # 5 duplicates
    result = _run(project_dir, database, lake)
    assert result.status == "COMPLETED"
    assert len(rows(lake, "staging.stg_orders")) == 12
    assert rows(lake, "marts.totals")[0]["orders"] == 12


def test_a_rewritten_input_makes_an_append_model_refresh_fully_and_say_why(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    _first_run(project_dir, database, lake, 10)
    # A correction upstream replaces one order's event: a delete, then the fixed row.
    table = lake.load("raw.orders")
    assert table is not None
    table.delete("event_id = 'e3'")
    append_orders(lake, orders(3, 1, amount="1000"))
    result = _run(project_dir, database, lake)
    assert result.status == "COMPLETED"
    staging = result.outcomes["staging.stg_orders"].record
    assert staging.mode == "full"
    assert any("was rewritten" in note for note in staging.details["notes"])
    assert rows(lake, "marts.totals") == [
        {"orders": 10, "revenue": float(sum(range(10)) - 3 + 1000)}
    ]


def test_on_input_rewrite_fail_stops_the_model_with_the_reason(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    files = dict(MODELS)
    files["analytics/order_log.sql"] = (
        "-- materialized: append\n-- on_input_rewrite: fail\n"
        "SELECT order_id, amount FROM staging.stg_orders\n"
    )
    project_dir = write_project(tmp_path / "p", files)
    _first_run(project_dir, database, lake, 5)
    staging = lake.load("staging.stg_orders")
    assert staging is not None
    staging.delete("event_id = 'e1'")
    result = _run(project_dir, database, lake)
    log = result.outcomes["analytics.order_log"].record
    assert log.status == "FAILED"
    assert log.message is not None and "on_input_rewrite: fail" in log.message
    assert result.skipped == {"marts.totals": "upstream analytics.order_log did not complete"}


def test_maintenance_rewrites_are_not_read_again(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    _first_run(project_dir, database, lake, 10)
    table = lake.load("raw.orders")
    assert table is not None
    # What compaction commits: the same rows in new files, marked as maintenance.
    data = table.scan().to_arrow()
    table.overwrite(data, snapshot_properties={MAINTENANCE_PROPERTY: "compaction"})
    result = _run(project_dir, database, lake)
    staging = result.outcomes["staging.stg_orders"].record
    assert (staging.mode, staging.rows_read) == ("incremental", 0)
    assert rows(lake, "marts.totals")[0]["orders"] == 10


def test_full_refresh_rebuilds_the_selected_models_from_current_snapshots(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    _first_run(project_dir, database, lake, 10)
    result = _run(project_dir, database, lake, select=["analytics.order_log+"], full_refresh=True)
    assert set(result.outcomes) == {"analytics.order_log", "marts.totals"}
    log = result.outcomes["analytics.order_log"].record
    assert (log.mode, log.rows_read, log.rows_written) == ("full", 10, 10)
    assert len(rows(lake, "analytics.order_log")) == 10


def test_watermarks_are_the_input_snapshots_the_run_read(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    ensure_sources(load_project(project_dir), lake)
    raw_snapshot = append_orders(lake, orders(0, 3))
    _run(project_dir, database, lake)
    marks = PipelineState(database).watermarks("shoptest", "staging.stg_orders")
    assert marks == {"raw.orders": raw_snapshot}


def test_a_new_column_is_added_and_an_incompatible_type_needs_full_refresh(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    files = {"staging/stg_orders.sql": "-- materialized: append\nSELECT order_id FROM raw.orders\n"}
    project_dir = write_project(tmp_path / "p", files)
    _first_run(project_dir, database, lake, 2)
    (project_dir / "models/staging/stg_orders.sql").write_text(
        "-- materialized: append\nSELECT order_id, amount FROM raw.orders\n"
    )
    append_orders(lake, orders(2, 1))
    result = _run(project_dir, database, lake)
    assert result.status == "COMPLETED"
    notes = result.outcomes["staging.stg_orders"].record.details["notes"]
    assert any("added column amount" in note for note in notes)
    assert sorted(rows(lake, "staging.stg_orders"), key=lambda r: str(r["order_id"])) == [
        {"order_id": "o0", "amount": None},
        {"order_id": "o1", "amount": None},
        {"order_id": "o2", "amount": "2"},
    ]
    (project_dir / "models/staging/stg_orders.sql").write_text(
        "-- materialized: append\nSELECT order_id, CAST(amount AS DOUBLE) AS amount FROM raw.orders\n"
    )
    append_orders(lake, orders(3, 1))
    failed = _run(project_dir, database, lake)
    message = failed.outcomes["staging.stg_orders"].record.message
    assert message is not None
    assert "column amount" in message and "--full-refresh" in message
    rebuilt = _run(project_dir, database, lake, full_refresh=True)
    assert rebuilt.status == "COMPLETED"
    assert len(rows(lake, "staging.stg_orders")) == 4


VIEWED = {
    "staging/parsed.sql": """-- materialized: view
SELECT event_id, order_id, TRY_CAST(amount AS DOUBLE) AS amount FROM raw.orders
""",
    "staging/valid.sql": """-- materialized: append
SELECT event_id, order_id, amount FROM staging.parsed WHERE amount IS NOT NULL
""",
    "staging/invalid.sql": """-- materialized: append
SELECT event_id, 'amount is not a number' AS reason FROM staging.parsed WHERE amount IS NULL
""",
}


def test_models_reading_a_view_read_its_inputs_incrementally_through_it(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    project_dir = write_project(tmp_path / "p", VIEWED)
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, 4))
    first = _run(project_dir, database, lake)
    assert first.status == "COMPLETED"
    assert lake.load("staging.parsed") is None  # a view is not stored
    append_orders(lake, pa.concat_tables([orders(4, 2), orders(6, 1, amount="n/a")]))
    second = _run(project_dir, database, lake)
    valid = second.outcomes["staging.valid"].record
    invalid = second.outcomes["staging.invalid"].record
    assert (valid.mode, valid.rows_read, valid.rows_written) == ("incremental", 3, 2)
    assert (invalid.mode, invalid.rows_read, invalid.rows_written) == ("incremental", 3, 1)
    assert second.outcomes["staging.parsed"].record.mode == "view"
    assert len(rows(lake, "staging.valid")) == 6
    assert rows(lake, "staging.invalid") == [{"event_id": "e6", "reason": "amount is not a number"}]
    assert PipelineState(database).watermarks("shoptest", "staging.valid").keys() == {"raw.orders"}
