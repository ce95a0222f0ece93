"""Models that recompute only what new rows touch, on SQLite and PostgreSQL alike.

Specification: ``whole.<layer>.<table>`` is always the whole input, beside the plain name that
an incremental run narrows to the new rows; a ``merge`` model's ``delete_when`` deletes the
rows of the keys it marks (and drops marked rows on a full run); a Python model gets ``this``,
its own table as the last run left it, on incremental runs only; and a model reading a merged
table incrementally sees each key once, in its latest version, even across several merges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.db import Database
from headwater.lake import Lake
from headwater.pipeline import ProjectError, build_graph, load_project, run_pipeline
from headwater.pipeline.runner import PipelineResult, ensure_sources
from tests.pipeline.projects import MODELS, append_orders, orders, rows, write_project

STAGING = MODELS["staging/stg_orders.sql"]

# Per amount bucket (amount // 10): orders and revenue, recomputed only for touched buckets.
BUCKETS = """-- materialized: merge
-- unique_key: bucket
-- incremental_on: [staging.stg_orders]
WITH touched AS (SELECT DISTINCT CAST(floor(amount / 10) AS BIGINT) AS bucket FROM staging.stg_orders)
SELECT t.bucket, count(o.order_id) AS orders, coalesce(sum(o.amount), 0) AS revenue
FROM touched AS t
LEFT JOIN whole.staging.stg_orders AS o ON CAST(floor(o.amount / 10) AS BIGINT) = t.bucket
GROUP BY t.bucket
"""

# Counts its runs through ``this``: 1 on a full run, the previous count + 1 after.
COUNTER = """
import duckdb
import pyarrow as pa

INPUTS = ["staging.stg_orders"]
CONFIG = {"materialized": "merge", "unique_key": "id"}


def model(inputs: dict[str, duckdb.DuckDBPyRelation]) -> pa.Table:
    previous = inputs["this"].fetchall()[0][1] if "this" in inputs else 0
    new = inputs["staging.stg_orders"].count("*").fetchall()[0][0]
    return pa.table({"id": [1], "runs": [previous + 1], "last_new_rows": [new]})
"""


def _run(root: Path, database: Database, lake: Lake, **kwargs: object) -> PipelineResult:
    project = load_project(root)
    ensure_sources(project, lake)
    result = run_pipeline(project, database, lake, **kwargs)  # type: ignore[arg-type]
    assert result.status == "COMPLETED", [o.record.message for o in result.outcomes.values()]
    return result


def _project(tmp_path: Path, lake: Lake, files: dict[str, str]) -> Path:
    root = write_project(tmp_path / "p", files)
    ensure_sources(load_project(root), lake)
    return root


def _buckets(lake: Lake) -> dict[int, tuple[int, float]]:
    return {r["bucket"]: (r["orders"], r["revenue"]) for r in rows(lake, "marts.buckets")}


def _expected(amounts: list[float]) -> dict[int, tuple[int, float]]:
    found: dict[int, tuple[int, float]] = {}
    for amount in amounts:
        count, total = found.get(int(amount // 10), (0, 0.0))
        found[int(amount // 10)] = (count + 1, total + amount)
    return found


def test_a_merge_model_recomputes_touched_keys_from_the_whole_input(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    root = _project(
        tmp_path, lake, {"staging/stg_orders.sql": STAGING, "marts/buckets.sql": BUCKETS}
    )
    append_orders(lake, orders(0, 25))  # amounts 0..24: buckets 0, 1, 2
    _run(root, database, lake)
    assert _buckets(lake) == _expected([float(i) for i in range(25)])

    append_orders(lake, orders(25, 3))  # amounts 25..27: only bucket 2 is touched
    second = _run(root, database, lake)
    record = second.outcomes["marts.buckets"].record
    assert record.mode == "incremental"
    assert record.details["reads"]["staging.stg_orders"]["rows"] == 3
    assert record.details["reads"]["staging.stg_orders"]["whole_rows"] == 28
    assert record.rows_written == 1  # bucket 2's new totals
    assert _buckets(lake) == _expected([float(i) for i in range(28)])
    # Merge-on-read: bucket 2's old row is deleted by position; no data file is rewritten.
    table = lake.load("marts.buckets")
    assert table is not None
    append, delete = (table.snapshot_by_id(s.snapshot_id) for s in table.snapshots()[-2:][::-1])
    assert delete is not None and delete.summary is not None
    assert append is not None and append.summary is not None
    assert (delete.summary.operation.value, append.summary.operation.value) == (
        "delete",
        "append",
    )
    assert delete.summary["added-position-deletes"] == "1"
    assert "deleted-data-files" not in delete.summary.additional_properties
    assert append.summary["total-data-files"] == "2"


def test_the_merge_deletes_a_key_marked_by_delete_when(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    # Per order: its amount; an order whose raw amount becomes "0" is deleted.
    per_order = """-- materialized: merge
-- unique_key: order_id
-- delete_when: amount = 0
SELECT order_id, TRY_CAST(amount AS DOUBLE) AS amount FROM raw.orders
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_id DESC) = 1
"""
    root = _project(tmp_path, lake, {"staging/per_order.sql": per_order})
    append_orders(lake, orders(0, 4))  # o0 has amount 0: a full run never writes it
    first = _run(root, database, lake)
    assert sorted(r["order_id"] for r in rows(lake, "staging.per_order")) == ["o1", "o2", "o3"]
    assert first.outcomes["staging.per_order"].record.rows_written == 3

    cancel = orders(2, 1, amount="0").set_column(0, "event_id", [["z2"]])
    append_orders(lake, cancel)
    second = _run(root, database, lake)
    record = second.outcomes["staging.per_order"].record
    assert record.mode == "incremental" and record.details["rows_deleted"] == 1
    assert sorted(r["order_id"] for r in rows(lake, "staging.per_order")) == ["o1", "o3"]


def test_a_python_model_gets_this_on_incremental_runs_only(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    root = _project(
        tmp_path, lake, {"staging/stg_orders.sql": STAGING, "marts/counter.py": COUNTER}
    )
    append_orders(lake, orders(0, 5))
    _run(root, database, lake)
    assert rows(lake, "marts.counter") == [{"id": 1, "runs": 1, "last_new_rows": 5}]
    append_orders(lake, orders(5, 2))
    _run(root, database, lake)
    assert rows(lake, "marts.counter") == [{"id": 1, "runs": 2, "last_new_rows": 2}]
    _run(root, database, lake, full_refresh=True)
    assert rows(lake, "marts.counter") == [{"id": 1, "runs": 1, "last_new_rows": 7}]


def test_an_input_merged_twice_since_the_watermark_gives_each_key_once_in_its_latest_version(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    latest = """-- materialized: merge
-- unique_key: order_id
SELECT order_id, TRY_CAST(amount AS DOUBLE) AS amount FROM raw.orders
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_id DESC) = 1
"""
    copy = """-- materialized: merge
-- unique_key: order_id
SELECT order_id, amount FROM staging.latest
"""
    root = _project(tmp_path, lake, {"staging/latest.sql": latest, "analytics/copy.sql": copy})
    append_orders(lake, orders(0, 3))
    _run(root, database, lake)
    # Two merges into staging.latest that analytics.copy does not run after: o1 changes twice.
    for event, amount in (("y1", "10"), ("z1", "20")):
        append_orders(lake, orders(1, 1, amount=amount).set_column(0, "event_id", [[event]]))
        _run(root, database, lake, select=["staging.latest"])
    third = _run(root, database, lake, select=["analytics.copy"])
    record = third.outcomes["analytics.copy"].record
    assert record.mode == "incremental" and record.rows_written == 1
    assert sorted((r["order_id"], r["amount"]) for r in rows(lake, "analytics.copy")) == [
        ("o0", 0.0),
        ("o1", 20.0),
        ("o2", 2.0),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"marts/m.sql": "SELECT * FROM other.staging.stg_orders"},
            "m.sql:1: other.staging.stg_orders: the only catalog is whole",
        ),
        (
            {
                "staging/v.sql": "-- materialized: view\nSELECT * FROM raw.orders",
                "marts/m.sql": "SELECT * FROM whole.staging.v",
            },
            "whole.staging.v is a view, which is never stored",
        ),
        (
            {"marts/m.sql": "-- delete_when: x = 1\nSELECT 1 AS x FROM raw.orders"},
            "delete_when needs materialized: merge",
        ),
        (
            {
                "marts/m.sql": "-- materialized: merge\n-- unique_key: x\n"
                "-- delete_when: x = = 1\nSELECT 1 AS x FROM raw.orders"
            },
            "delete_when is not an SQL condition",
        ),
    ],
)
def test_bad_whole_references_and_delete_when_are_errors_naming_the_model(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    root = write_project(tmp_path / "p", files)
    with pytest.raises(ProjectError, match=message):
        build_graph(load_project(root))
