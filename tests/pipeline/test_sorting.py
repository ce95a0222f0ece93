"""``sort_by``: every data file a model writes is in that order, and the Iceberg table says so;
a merge re-reads only the row groups of the keys it matched."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table.sorting import NullOrder, SortDirection

from headwater.db import Database
from headwater.lake import Lake, local_path
from headwater.pipeline import load_project, run_pipeline
from headwater.pipeline.merge import plan_merge
from headwater.pipeline.runner import ensure_sources
from tests.pipeline.projects import append_orders, orders, write_project

SORTED = {
    "staging/stg_orders.sql": """-- materialized: merge
-- unique_key: event_id
-- sort_by: [amount, order_id]
SELECT event_id, order_id, TRY_CAST(amount AS DOUBLE) AS amount, ordered_at FROM raw.orders
""",
}


def _files_in_order(lake: Lake, name: str) -> list[list[tuple[object, object]]]:
    table = lake.load(name)
    assert table is not None
    found = []
    for task in table.scan().plan_files():
        data = pq.read_table(local_path(task.file.file_path), columns=["amount", "order_id"])
        found.append(
            list(zip(*(data.column(c).to_pylist() for c in data.column_names), strict=True))
        )
    return found


def _key(row: tuple[object, object]) -> tuple[bool, object, object]:
    return (row[0] is None, row[0], row[1])  # NULLs last


def test_every_file_a_model_writes_is_sorted_and_the_table_declares_the_order(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    root = write_project(tmp_path, SORTED)
    project = load_project(root)
    ensure_sources(project, lake)
    append_orders(lake, orders(0, 50).take(list(range(49, -1, -1))))  # delivered backwards
    append_orders(lake, orders(0, 3, amount="n/a"))  # NULL amounts: last
    assert run_pipeline(project, database, lake).status == "COMPLETED"
    append_orders(lake, orders(100, 20).take(list(range(19, -1, -1))))
    assert run_pipeline(project, database, lake).status == "COMPLETED"

    files = _files_in_order(lake, "staging.stg_orders")
    assert len(files) == 2  # the first run's file and the merge's append
    for rows in files:
        assert rows == sorted(rows, key=_key)
    table = lake.load("staging.stg_orders")
    assert table is not None
    order = table.sort_order()
    names = [table.schema().find_column_name(field.source_id) for field in order.fields]
    assert names == ["amount", "order_id"]
    assert {(field.direction, field.null_order) for field in order.fields} == {
        (SortDirection.ASC, NullOrder.NULLS_LAST)
    }


def test_a_sort_column_the_model_does_not_return_fails_the_model_with_its_name(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    model = SORTED["staging/stg_orders.sql"].replace("[amount, order_id]", "[total]")
    root = write_project(tmp_path, {"staging/stg_orders.sql": model})
    project = load_project(root)
    ensure_sources(project, lake)
    append_orders(lake, orders(0, 5))
    result = run_pipeline(project, database, lake)
    record = result.outcomes["staging.stg_orders"].record
    assert record.status == "FAILED"
    assert record.message == "sort_by names total, which the model does not return"


@pytest.mark.parametrize("spread", [False, True])
def test_a_merge_finds_changed_rows_whether_its_matches_cluster_or_not(
    tmp_path: Path, spread: bool
) -> None:
    # A table of 600,000 rows in row groups of 100,000; the incoming rows change some and
    # repeat others unchanged, either all near the end or spread over every row group.
    rows = 600_000
    path = tmp_path / "target.parquet"
    pq.write_table(pa.table({"k": range(rows), "v": [0] * rows}), path, row_group_size=100_000)
    keys = list(range(0, rows, rows // 6)) if spread else list(range(rows - 6, rows))
    incoming = pa.table({"k": keys, "v": [1, 0, 1, 0, 1, 0]})
    connection = duckdb.connect()
    connection.execute(
        f"CREATE VIEW target AS SELECT k, v, '{path}' AS hw_file, file_row_number "
        f"FROM read_parquet('{path}', file_row_number = true)"
    )
    plan = plan_merge(connection, incoming, "target", ["k"])
    assert plan.new.num_rows == 0
    assert sorted(plan.changed.column("k").to_pylist()) == keys[0::2]
    assert sorted(plan.positions.column("file_row_number").to_pylist()) == keys[0::2]
