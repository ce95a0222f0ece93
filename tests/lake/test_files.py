"""Planning a table's data files, and reading them through DuckDB, on SQLite and PostgreSQL.

Specification: the files of a snapshot are planned once per Lake and schema (a snapshot's
files never change); a schema change re-plans them with the new schema; DuckDB's view over
them has the Iceberg schema, NULL for a column the files predate and widened types.
"""

from __future__ import annotations

import pyarrow as pa

from headwater.lake import Lake
from headwater.pipeline.scan import connect, register


def _snapshot(lake: Lake, name: str) -> int:
    table = lake.load(name)
    assert table is not None and table.current_snapshot() is not None
    return table.current_snapshot().snapshot_id  # type: ignore[union-attr]


def test_a_snapshots_files_are_planned_once_and_again_after_a_schema_change(lake: Lake) -> None:
    table = lake.create("staging.t", pa.schema([("id", pa.int32())]))
    table.append(pa.table({"id": pa.array([1, 2], pa.int32())}))
    first = _snapshot(lake, "staging.t")
    table = lake.load("staging.t")
    assert table is not None
    planned = lake.files(table, first)
    assert lake.files(lake.load("staging.t"), first) is planned  # type: ignore[arg-type]
    table.append(pa.table({"id": pa.array([3], pa.int32())}))
    assert lake.files(table, _snapshot(lake, "staging.t")).rows == 3
    assert lake.files(table, first).rows == 2

    lake.evolve(table, pa.schema([("id", pa.int64()), ("name", pa.string())]))
    table = lake.load("staging.t")
    assert table is not None
    evolved = lake.files(table, first)
    assert evolved is not planned and evolved.schema.names == ["id", "name"]


def test_duckdb_reads_old_files_with_the_current_schema(lake: Lake) -> None:
    table = lake.create("staging.t", pa.schema([("id", pa.int32())]))
    table.append(pa.table({"id": pa.array([1], pa.int32())}))
    lake.evolve(table, pa.schema([("id", pa.int64()), ("name", pa.string())]))
    table = lake.load("staging.t")
    assert table is not None
    table.append(pa.table({"id": pa.array([2], pa.int64()), "name": ["two"]}))
    connection = connect()
    register(connection, "staging.t", lake.files(table, _snapshot(lake, "staging.t")))
    assert connection.execute("DESCRIBE staging.t").fetchall()[0][:2] == ("id", "BIGINT")
    assert sorted(connection.execute("SELECT * FROM staging.t").fetchall()) == [
        (1, None),
        (2, "two"),
    ]
    register(connection, "staging.empty", lake.files(table, None))
    assert connection.execute("SELECT count(*) FROM staging.empty").fetchall() == [(0,)]
    assert [row[0] for row in connection.execute("DESCRIBE staging.empty").fetchall()] == [
        "id",
        "name",
    ]
