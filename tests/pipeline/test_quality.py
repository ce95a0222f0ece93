"""Quality gates: every test kind, run after the write and before publication.

Specification: each test kind finds exactly the failing rows; a failing ``error`` test
restores the table's previous snapshot, marks the run failed and skips everything downstream;
a ``warn`` test is recorded and the data published. Results (failing-row counts and samples)
are stored with the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from headwater.audit import list_entries, verify_log
from headwater.db import Database
from headwater.lake import Lake
from headwater.pipeline import load_project, run_pipeline
from headwater.pipeline.declarations import parse_tests
from headwater.pipeline.quality import Facts, run_tests
from headwater.pipeline.runner import ensure_sources
from headwater.pipeline.state import show_run
from tests.pipeline.projects import append_orders, orders, rows, write_project

TABLE = pa.table(
    {
        "id": [1, 2, 2, None],
        "status": ["paid", "paid", "lost", "paid"],
        "amount": [10.0, -5.0, 3.0, 1.0],
        "customer": ["c1", "c2", "c9", None],
    }
)
CUSTOMERS = pa.table({"customer_id": ["c1", "c2"]})


def _outcome(declaration: Any, new_rows: str | None = None) -> tuple[str, int, list[Any]]:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA staging")
    connection.register("t", TABLE)
    connection.register("c", CUSTOMERS)
    connection.execute("CREATE VIEW staging.orders AS SELECT * FROM t")
    connection.execute("CREATE VIEW staging.customers AS SELECT * FROM c")
    column = declaration.pop("column", None) if isinstance(declaration, dict) else None
    (test,) = parse_tests([declaration], "staging.orders", "t.yml", column=column)
    (result,) = run_tests(connection, "staging.orders", [test], "staging.orders", new_rows)
    return result.status, result.failures, result.sample


@pytest.mark.parametrize(
    ("declaration", "failures"),
    [
        ({"column": "id", "not_null": {}}, 1),
        ({"column": "id", "unique": {}}, 1),  # one duplicated value (2)
        ({"column": "status", "accepted_values": {"values": ["paid"]}}, 1),
        (
            {
                "column": "customer",
                "relationships": {"to": "staging.customers", "field": "customer_id"},
            },
            1,
        ),
        ({"row_count": {"min": 1, "max": 3}}, 1),
        ({"expression": "amount >= 0"}, 1),
        ({"sql": "SELECT * FROM staging.orders WHERE amount > 5"}, 1),
    ],
)
def test_each_test_kind_counts_the_rows_that_break_it(declaration: Any, failures: int) -> None:
    status, count, sample = _outcome(declaration)
    assert (status, count) == ("fail", failures)
    assert len(sample) == failures


@pytest.mark.parametrize(
    "declaration",
    [
        {"column": "status", "not_null": {}},
        {"column": "status", "accepted_values": {"values": ["paid", "lost"]}},
        {"row_count": {"min": 4, "max": 4}},
        {"expression": "amount > -10"},
    ],
)
def test_tests_that_hold_pass(declaration: Any) -> None:
    assert _outcome(declaration)[:2] == ("pass", 0)


def test_freshness_fails_on_old_data_and_passes_on_recent() -> None:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA s")
    connection.execute(
        "CREATE TABLE s.t AS SELECT now() - INTERVAL 2 DAY AS old, now() - INTERVAL 1 MINUTE AS new"
    )
    tests = parse_tests(
        [
            {"freshness": {"column": "old", "max_age": "1d"}},
            {"freshness": {"column": "new", "max_age": "1h"}},
        ],
        "s.t",
        "t.yml",
    )
    statuses = [r.status for r in run_tests(connection, "s.t", tests, "s.t")]
    assert statuses == ["fail", "pass"]


def test_a_warn_test_that_fails_is_a_warning_and_a_broken_query_an_error() -> None:
    assert _outcome({"expression": {"expression": "amount >= 0", "severity": "warn"}})[0] == "warn"
    status, _count, sample = _outcome({"expression": "no_such_column > 0"})
    assert status == "error"
    assert "no_such_column" in sample[0]["error"]


def test_row_level_tests_check_only_the_new_rows_when_given() -> None:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA staging")
    connection.register("t", TABLE)
    connection.register("fresh", TABLE.slice(0, 1))
    connection.execute("CREATE VIEW staging.orders AS SELECT * FROM t")
    (test,) = parse_tests([{"expression": "amount >= 0"}], "staging.orders", "t.yml")
    (whole,) = run_tests(connection, "staging.orders", [test], "staging.orders")
    (new,) = run_tests(connection, "staging.orders", [test], "staging.orders", "fresh")
    assert (whole.status, new.status) == ("fail", "pass")


STAGING = """-- materialized: append
SELECT event_id, order_id, TRY_CAST(amount AS DOUBLE) AS amount FROM raw.orders
"""


def _gated_project(tmp_path: Path, severity: str) -> Path:
    return write_project(
        tmp_path / "p",
        {
            "staging/stg_orders.sql": STAGING,
            "staging/tests.yml": (
                "models:\n  stg_orders:\n    columns:\n      amount:\n"
                f"        tests: [{{not_null: {{severity: {severity}}}}}]\n"
            ),
            "marts/counted.sql": "SELECT count(*) AS n FROM staging.stg_orders\n",
        },
    )


def _run(project_dir: Path, database: Database, lake: Lake):  # type: ignore[no-untyped-def]
    project = load_project(project_dir)
    ensure_sources(project, lake)
    return run_pipeline(project, database, lake)


def test_a_failing_error_test_rolls_back_the_write_and_skips_downstream(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    project_dir = _gated_project(tmp_path, "error")
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, 5))
    assert _run(project_dir, database, lake).status == "COMPLETED"
    good = lake.load("staging.stg_orders")
    assert good is not None
    good_snapshot = good.current_snapshot()
    append_orders(lake, orders(5, 3, amount="n/a"))  # amounts that do not convert: NULL
    result = _run(project_dir, database, lake)
    staging = result.outcomes["staging.stg_orders"].record
    assert result.status == "FAILED"
    assert staging.status == "FAILED"
    assert staging.message == "tests failed: not_null(amount) (3 failing rows)"
    assert result.skipped == {"marts.counted": "upstream staging.stg_orders did not complete"}
    after = lake.load("staging.stg_orders")
    assert after is not None and after.current_snapshot() == good_snapshot
    assert len(rows(lake, "staging.stg_orders")) == 5
    stored = show_run(database, result.run_uuid)
    assert stored is not None
    (test,) = stored["model_runs"][0]["tests"]
    assert (test["status"], test["failures"], len(test["sample"])) == ("fail", 3, 3)
    assert {row["order_id"] for row in test["sample"]} == {"o5", "o6", "o7"}
    # The watermark did not move: once the source is fixed, the same rows are read again.
    raw = lake.load("raw.orders")
    assert raw is not None
    raw.delete("amount = 'n/a'")
    append_orders(lake, orders(5, 3))
    fixed = _run(project_dir, database, lake)
    assert fixed.status == "COMPLETED"
    assert rows(lake, "marts.counted") == [{"n": 8}]
    with database.read() as connection:
        assert verify_log(connection).ok
        page, _total = list_entries(connection, action="pipeline.model.rollback")
    (rollback,) = page
    details = json.loads(rollback.details)
    assert details["run"] == staging.run_uuid
    assert good_snapshot is not None
    assert details["snapshot"] == details["snapshot_before"] == good_snapshot.snapshot_id


def test_a_failing_warn_test_publishes_and_records_the_warning(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    project_dir = _gated_project(tmp_path, "warn")
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, 2, amount="n/a"))
    result = _run(project_dir, database, lake)
    assert result.status == "COMPLETED"
    (warning,) = result.outcomes["staging.stg_orders"].tests
    assert (warning.status, warning.failures) == ("warn", 2)
    assert rows(lake, "marts.counted") == [{"n": 2}]


def test_unique_on_an_incremental_run_finds_a_new_value_that_repeats_an_old_one() -> None:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA staging")
    connection.register("t", TABLE)  # ids 1, 2, 2, NULL: the 2s were written by this run
    connection.register("fresh", TABLE.slice(1, 1))
    connection.register("unrelated", TABLE.slice(0, 1))
    connection.execute("CREATE VIEW staging.orders AS SELECT * FROM t")
    (test,) = parse_tests(["unique"], "staging.orders", "t.yml", column="id")
    (repeated,) = run_tests(connection, "staging.orders", [test], "staging.orders", "fresh")
    (other,) = run_tests(connection, "staging.orders", [test], "staging.orders", "unrelated")
    assert (repeated.status, repeated.failures) == ("fail", 1)
    assert other.status == "pass"


def _orders_connection() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA staging")
    connection.register("t", TABLE)
    connection.execute("CREATE VIEW staging.orders AS SELECT * FROM t")
    return connection


def test_row_count_of_a_stored_table_is_answered_from_its_iceberg_row_count() -> None:
    connection = duckdb.connect()  # no table at all: a query would fail
    (test,) = parse_tests([{"row_count": {"min": 1, "max": 3}}], "staging.orders", "t.yml")
    (enough,) = run_tests(connection, "staging.orders", [test], "staging.orders", None, Facts(2))
    (too_many,) = run_tests(connection, "staging.orders", [test], "staging.orders", None, Facts(9))
    assert (enough.status, enough.failures) == ("pass", 0)
    assert (too_many.status, too_many.failures, too_many.sample) == ("fail", 1, [{"row_count": 9}])
    assert too_many.query.startswith("-- answered from Iceberg metadata: 9 rows\n")


def test_unique_on_the_key_an_incremental_merge_wrote_holds_by_construction() -> None:
    connection = _orders_connection()  # ids 1, 2, 2, NULL
    connection.register("fresh", TABLE.slice(1, 1))
    (test,) = parse_tests(["unique"], "staging.orders", "t.yml", column="id")
    merged = Facts(merged_by=("id",))
    (by_merge,) = run_tests(connection, "staging.orders", [test], "staging.orders", "fresh", merged)
    assert (by_merge.status, by_merge.failures) == ("pass", 0)
    assert "holds by construction" in by_merge.query
    # Any other key, or a full run (no new rows), is counted in the table.
    other = Facts(merged_by=("customer",))
    (counted,) = run_tests(connection, "staging.orders", [test], "staging.orders", "fresh", other)
    (full,) = run_tests(connection, "staging.orders", [test], "staging.orders", None, merged)
    assert (counted.status, full.status) == ("fail", "fail")


def test_freshness_passes_on_fresh_new_rows_and_otherwise_checks_the_whole_table() -> None:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA staging")
    connection.execute(
        "CREATE VIEW staging.orders AS SELECT * FROM (VALUES (now() - INTERVAL 1 HOUR), "
        "(now() - INTERVAL 30 DAY)) AS v(seen)"
    )
    connection.execute("CREATE TABLE fresh AS SELECT now() - INTERVAL 1 HOUR AS seen")
    connection.execute("CREATE TABLE stale AS SELECT now() - INTERVAL 30 DAY AS seen")
    (test,) = parse_tests(
        [{"freshness": {"column": "seen", "max_age": "1d"}}], "staging.orders", "t.yml"
    )
    (by_new,) = run_tests(connection, "staging.orders", [test], "staging.orders", "fresh")
    (by_table,) = run_tests(connection, "staging.orders", [test], "staging.orders", "stale")
    assert (by_new.status, by_table.status) == ("pass", "pass")
    assert "FROM fresh" in by_new.query
    assert "FROM staging.orders" in by_table.query
    connection.execute("CREATE OR REPLACE VIEW staging.orders AS SELECT * FROM stale")
    (old,) = run_tests(connection, "staging.orders", [test], "staging.orders", "stale")
    assert (old.status, old.failures) == ("fail", 1)


def test_a_run_that_wrote_no_rows_has_no_new_rows_to_check() -> None:
    connection = _orders_connection()  # no "fresh" relation: a query of it would fail
    tests = [
        *parse_tests(["not_null", "unique"], "staging.orders", "t.yml", column="id"),
        *parse_tests([{"row_count": {"min": 5}}], "staging.orders", "t.yml"),
    ]
    nothing = Facts(written=0)
    results = run_tests(connection, "staging.orders", tests, "staging.orders", "fresh", nothing)
    assert [(r.name, r.status) for r in results] == [
        ("not_null(id)", "pass"),
        ("unique(id)", "pass"),
        ("row_count", "fail"),  # the table itself is still checked: it has 4 rows
    ]
    assert all(r.query.startswith("-- no rows written") for r in results[:2])
