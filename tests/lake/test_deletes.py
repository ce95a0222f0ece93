"""Merge-on-read position deletes, written by headwater, on SQLite and PostgreSQL.

Specification: a position delete file names rows of one data file; the snapshot adding it is
a ``delete`` whose summary counts it; PyIceberg's reader and headwater's DuckDB views both
leave those rows out, and the planned row count does too; a full overwrite removes the delete
files with the data files they refer to; positional reads give each row's manifest path and
position, which is what a delete file must name.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from headwater.lake import Lake, TableFiles, add_delete_files, summary_rows, write_position_deletes
from headwater.pipeline.scan import FILE_COLUMN, POSITION_COLUMN, connect, register, select_rows


def _table_of_two_files(lake: Lake) -> Table:
    table = lake.create("staging.t", pa.schema([("id", pa.int64()), ("name", pa.string())]))
    table.append(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
    table.append(pa.table({"id": [4, 5], "name": ["d", "e"]}))
    return table


def _data_files(table: Table) -> set[str]:
    """The data file paths of the current snapshot, as the manifests have them."""
    return {task.file.file_path for task in table.scan().plan_files()}


def _delete(table: Table, positions: dict[str, list[int]]) -> Table:
    files = [
        write_position_deletes(table, path, pa.array(rows, pa.int64()))
        for path, rows in positions.items()
    ]
    with table.transaction() as transaction:
        add_delete_files(transaction, table, files, {"headwater.run-id": "r1"})
    table.refresh()
    return table


def _current(lake: Lake, name: str) -> Table:
    table = lake.load(name)
    assert table is not None and table.current_snapshot() is not None
    return table


def _duckdb_rows(lake: Lake, table: Table) -> list[tuple[object, ...]]:
    connection = connect()
    snapshot = table.current_snapshot()
    assert snapshot is not None
    register(connection, "staging.t", lake.files(table, snapshot.snapshot_id))
    return sorted(connection.execute("SELECT * FROM staging.t").fetchall())


def test_deleted_positions_are_gone_for_pyiceberg_duckdb_and_the_row_count(lake: Lake) -> None:
    table = _table_of_two_files(lake)
    by_id = {row["id"]: (row[FILE_COLUMN], row[POSITION_COLUMN]) for row in _positions(lake, table)}
    first, second = by_id[2][0], by_id[5][0]
    table = _delete(table, {first: [by_id[2][1]], second: [by_id[5][1]]})

    table = _current(lake, "staging.t")
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    summary = snapshot.summary.additional_properties
    assert snapshot.summary.operation.value == "delete"
    assert summary["added-position-delete-files"] == "2"
    assert summary["total-position-deletes"] == "2"
    assert summary["headwater.run-id"] == "r1"
    assert summary_rows(summary) == 3

    expected = [(1, "a"), (3, "c"), (4, "d")]
    assert sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == [
        {"id": i, "name": n} for i, n in expected
    ]
    assert _duckdb_rows(lake, table) == expected
    files = lake.files(table, snapshot.snapshot_id)
    assert files.rows == files.exact_rows == 3
    # File-scoped: each delete file applies to the one data file it names.
    assert sorted(len(task.delete_files) for task in files.tasks) == [1, 1]


def _one_row_deleted(lake: Lake) -> tuple[TableFiles, FileScanTask, DataFile]:
    """The files of a table with one row deleted: the task holding it and its delete file."""
    table = _table_of_two_files(lake)
    row = _positions(lake, table)[0]
    table = _delete(table, {str(row[FILE_COLUMN]): [int(row[POSITION_COLUMN])]})  # type: ignore[call-overload]
    snapshot = table.current_snapshot()
    assert snapshot is not None
    files = lake.files(table, snapshot.snapshot_id)
    task = next(task for task in files.tasks if task.delete_files)
    (delete,) = task.delete_files
    return files, task, delete


def test_the_row_count_is_not_exact_with_a_delete_file_that_may_name_several_files(
    lake: Lake,
) -> None:
    files, task, delete = _one_row_deleted(lake)
    unscoped = delete.__class__.from_args(
        content=delete.content,
        file_path=delete.file_path,
        file_format=delete.file_format,
        partition=delete.partition,
        record_count=1,
        file_size_in_bytes=delete.file_size_in_bytes,
    )  # no file_path bounds, as another engine may write it
    odd = type(files)((type(task)(task.file, delete_files={unscoped}),), files.schema)
    assert (odd.rows, odd.exact_rows) == (task.file.record_count - 1, None)


def _positions(lake: Lake, table: Table) -> list[dict[str, object]]:
    connection = connect()
    snapshot = table.current_snapshot()
    assert snapshot is not None
    query = select_rows(connection, lake.files(table, snapshot.snapshot_id), positions=True)
    return connection.sql(query).to_arrow_table().to_pylist()


def test_positional_reads_name_the_manifest_path_and_skip_deleted_rows(lake: Lake) -> None:
    table = _table_of_two_files(lake)
    positions = _positions(lake, table)
    paths = _data_files(table)
    assert {row[FILE_COLUMN] for row in positions} == paths
    assert sorted(row[POSITION_COLUMN] for row in positions) == [0, 0, 1, 1, 2]
    three = next(row for row in positions if row["id"] == 3)
    table = _delete(table, {str(three[FILE_COLUMN]): [int(three[POSITION_COLUMN])]})  # type: ignore[call-overload]
    assert sorted(row["id"] for row in _positions(lake, _current(lake, "staging.t"))) == [
        1,
        2,
        4,
        5,
    ]


def test_a_full_overwrite_removes_the_delete_files_with_their_data_files(lake: Lake) -> None:
    table = _table_of_two_files(lake)
    first = next(row for row in _positions(lake, table) if row["id"] == 1)
    table = _delete(table, {str(first[FILE_COLUMN]): [int(first[POSITION_COLUMN])]})  # type: ignore[call-overload]
    deleted_at = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    lake.overwrite(table, pa.table({"id": [7], "name": ["g"]}), {"headwater.run-id": "r2"})

    table = _current(lake, "staging.t")
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    summary = snapshot.summary.additional_properties
    assert summary["total-delete-files"] == "0"
    assert summary["total-position-deletes"] == "0"
    assert summary["removed-position-delete-files"] == "1"
    assert summary_rows(summary) == 1
    assert all(not task.delete_files for task in table.scan().plan_files())
    assert _duckdb_rows(lake, table) == [(7, "g")]
    # The snapshot with the delete file still reads as it was (time travel).
    assert lake.files(table, deleted_at).rows == 4
    assert sorted(r["id"] for r in table.scan(snapshot_id=deleted_at).to_arrow().to_pylist()) == [
        2,
        3,
        4,
        5,
    ]


def test_delete_files_of_other_kinds_are_refused(lake: Lake) -> None:
    files, task, delete = _one_row_deleted(lake)
    equality = delete.__class__.from_args(
        content=2,  # equality deletes
        file_path=delete.file_path,
        file_format=delete.file_format,
        partition=delete.partition,
        record_count=1,
        file_size_in_bytes=delete.file_size_in_bytes,
        equality_ids=[1],
    )
    odd = type(files)((type(task)(task.file, delete_files={equality}),), files.schema)
    with pytest.raises(ValueError, match="only Parquet position delete files"):
        register(connect(), "staging.odd", odd)
