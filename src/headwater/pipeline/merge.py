"""``merge``: upsert a model's new rows into its table by ``unique_key``, planned in DuckDB.

PyIceberg's ``upsert`` finds the existing rows by scanning the table with an ``IN`` filter of
every incoming key, evaluated row by row in Arrow: on a million-row table that costs about a
second for any number of new rows. Here DuckDB joins the incoming rows against the table's
files to split them into new rows, changed rows and unchanged ones. New rows are appended;
changed rows replace their old versions (merge-on-read: position delete files name the old
rows, and no data file is rewritten); unchanged rows, such as re-deliveries, are not written
at all. A model with ``delete_when`` marks rows whose key is to be deleted instead. All of it
is one Iceberg commit: a ``delete`` snapshot of the replaced and deleted rows, then one append
of the new and changed rows, so a model reading this table incrementally reads exactly the
new and changed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from headwater.lake import (
    ROW_GROUP_ROWS,
    add_delete_files,
    sorted_rows,
    transaction,
    write_position_deletes,
)
from headwater.pipeline.scan import FILE_COLUMN, POSITION_COLUMN
from headwater.pipeline.sqltext import identifier


class DuplicateKeyError(ValueError):
    """The incoming rows hold one key twice: which version should win is undefined."""


# The schema of `MergePlan.positions`.
NO_POSITIONS = pa.schema([(FILE_COLUMN, pa.string()), (POSITION_COLUMN, pa.int64())])


@dataclass(frozen=True, slots=True)
class MergePlan:
    new: pa.Table
    changed: pa.Table
    deleted: pa.Table  # the keys (only) of existing rows to delete
    # Where the replaced and deleted rows are: data file (its Iceberg path) and position.
    positions: pa.Table

    @property
    def written(self) -> pa.Table:
        """The rows the commit writes: new, then changed."""
        return pa.concat_tables([self.new, self.changed])

    @property
    def rows(self) -> int:
        return int(self.new.num_rows + self.changed.num_rows + self.deleted.num_rows)


def _same_key(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{identifier(k)} = {right}.{identifier(k)}" for k in keys)


# Row positions closer than a Parquet row group of the lake's tables are read as one range:
# fewer, wider ranges prune as well and keep the filter short.
_NEAR_ROWS = ROW_GROUP_ROWS
_MAX_RANGES = 64


def _near_matches(connection: duckdb.DuckDBPyConnection) -> str:
    """A filter on `POSITION_COLUMN` that keeps every matched row and lets DuckDB skip the
    row groups holding none, so telling changed rows from unchanged ones reads the row
    groups of the matched keys, not the table. It pays when matches cluster, as re-deliveries
    of recent events do in a table sorted by time (``sort_by``); spread matches make one
    range, which skips nothing and costs nothing. Positions of all files are pooled: the
    filter may keep a little more than needed, never less (the key join decides)."""
    ranges = connection.execute(
        "SELECT min(pos), max(pos) FROM (SELECT pos, "
        f"sum(CASE WHEN gap > {_NEAR_ROWS} THEN 1 ELSE 0 END) OVER (ORDER BY pos) AS run "
        f"FROM (SELECT {POSITION_COLUMN} AS pos, {POSITION_COLUMN} - lag({POSITION_COLUMN}) "
        f"OVER (ORDER BY {POSITION_COLUMN}) AS gap FROM hw_matched)) GROUP BY run ORDER BY 1"
    ).fetchall()
    if len(ranges) > _MAX_RANGES:
        return "TRUE"
    return " OR ".join(f"t.{POSITION_COLUMN} BETWEEN {low} AND {high}" for low, high in ranges)


def deletion(delete_when: str | None) -> str:
    """The condition marking a result row as a deletion (never true without ``delete_when``)."""
    return f"COALESCE(({delete_when}), FALSE)" if delete_when else "FALSE"


def plan_merge(
    connection: duckdb.DuckDBPyConnection,
    incoming: pa.Table,
    target: str,
    keys: Sequence[str],
    delete_when: str | None = None,
    sequence_by: str | None = None,
) -> MergePlan:
    """Split ``incoming`` against the DuckDB relation ``target`` (the table as it is, read
    with positions: `select_rows(..., positions=True)`).

    The target is read twice at most: its key columns with each row's position, to find the
    incoming keys it holds (and where), and, only when some are found, the whole rows of
    those keys, to tell changed from unchanged. An increment of new keys therefore reads one
    column of the table (and the positions). With ``sequence_by``, an incoming row replaces
    an existing one only when its sequence value is greater (or the existing one's is NULL),
    as when events arrive out of order.
    """
    try:
        return _plan(connection, incoming, target, keys, delete_when, sequence_by)
    finally:
        for name in ("hw_incoming", "hw_marked", "hw_replaced"):
            connection.unregister(name)
        connection.execute("DROP TABLE IF EXISTS hw_matched")


def _plan(
    connection: duckdb.DuckDBPyConnection,
    incoming: pa.Table,
    target: str,
    keys: Sequence[str],
    delete_when: str | None,
    sequence_by: str | None,
) -> MergePlan:
    key_list = ", ".join(identifier(k) for k in keys)
    key_schema = pa.schema([incoming.schema.field(k) for k in keys])
    if not incoming.num_rows:  # nothing new: the table is not even read
        empty = incoming.schema.empty_table()
        return MergePlan(empty, empty, key_schema.empty_table(), NO_POSITIONS.empty_table())
    connection.register("hw_incoming", incoming)
    duplicate = connection.execute(
        f"SELECT {key_list}, count(*) FROM hw_incoming GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if duplicate:
        *values, count = duplicate[0]
        raise DuplicateKeyError(
            f"{count} new rows share the key {', '.join(keys)} = {', '.join(map(repr, values))}; "
            "deduplicate them in the model's SQL (e.g. QUALIFY row_number() ...)"
        )
    marked = key_schema.empty_table()
    if delete_when:
        flag = deletion(delete_when)
        marked = connection.sql(f"SELECT {key_list} FROM hw_incoming WHERE {flag}").to_arrow_table()
        kept = connection.sql(f"SELECT * FROM hw_incoming WHERE NOT {flag}").to_arrow_table()
        connection.register("hw_incoming", kept.cast(incoming.schema))
    connection.register("hw_marked", marked.cast(key_schema))
    on = _same_key("i", "t", keys)
    located = f"{key_list}, {FILE_COLUMN}, {POSITION_COLUMN}"
    connection.execute(
        f"CREATE TEMP TABLE hw_matched AS SELECT {located} FROM "
        f"(SELECT {located} FROM {target}) AS t SEMI JOIN "
        f"(SELECT {key_list} FROM hw_incoming UNION ALL SELECT {key_list} FROM hw_marked) AS i "
        f"ON {on}"
    )
    new = connection.sql(
        f"SELECT i.* FROM hw_incoming AS i ANTI JOIN hw_matched AS m ON {_same_key('i', 'm', keys)}"
    ).to_arrow_table()
    ((matched,),) = connection.execute("SELECT count(*) FROM hw_matched").fetchall()
    if not matched:
        return MergePlan(
            new.cast(incoming.schema),
            incoming.schema.empty_table(),
            key_schema.empty_table(),
            NO_POSITIONS.empty_table(),
        )
    removed = connection.sql(
        f"SELECT i.* FROM hw_marked AS i SEMI JOIN hw_matched AS m ON {_same_key('i', 'm', keys)}"
    ).to_arrow_table()
    compared = [name for name in incoming.schema.names if name not in keys]
    newer = ""
    if sequence_by:
        column = identifier(sequence_by)
        newer = f" AND (i.{column} > t.{column} OR t.{column} IS NULL)"
    same = " AND ".join(
        f"i.{identifier(c)} IS NOT DISTINCT FROM t.{identifier(c)}" for c in compared
    )
    changed = connection.sql(
        f"SELECT i.* FROM hw_incoming AS i JOIN (SELECT t.* FROM {target} AS t "
        f"SEMI JOIN hw_matched AS m ON {_same_key('t', 'm', keys)} "
        f"WHERE {_near_matches(connection)}) AS t "
        f"ON {on} WHERE NOT ({same or 'TRUE'}){newer}"
    ).to_arrow_table()
    connection.register(
        "hw_replaced", pa.concat_tables([changed.select(list(keys)), removed]).cast(key_schema)
    )
    positions = connection.sql(
        f"SELECT m.{FILE_COLUMN}, m.{POSITION_COLUMN} FROM hw_matched AS m "
        f"SEMI JOIN hw_replaced AS r ON {_same_key('m', 'r', keys)}"
    ).to_arrow_table()
    return MergePlan(
        new.cast(incoming.schema),
        changed.cast(incoming.schema),
        removed.cast(key_schema),
        positions.cast(NO_POSITIONS),
    )


def commit_merge(
    table: Table, plan: MergePlan, properties: dict[str, str], sort_by: Sequence[str] = ()
) -> None:
    """Write ``plan`` into ``table`` as one Iceberg commit: a ``delete`` snapshot of position
    delete files (merge-on-read: one per data file holding replaced or deleted rows; the data
    files themselves are not touched, so replacing a thousand rows of a million-row table
    writes a few kilobytes), then an append of the new and changed rows, sorted by
    ``sort_by``. Nothing at all is committed when nothing changed."""
    if not plan.rows:
        return
    by_file = plan.positions.group_by(FILE_COLUMN).aggregate([(POSITION_COLUMN, "list")])
    with transaction(table) as staged:
        delete_files = [
            write_position_deletes(table, path, pa.array(positions, pa.int64()))
            for path, positions in zip(
                by_file.column(FILE_COLUMN).to_pylist(),
                by_file.column(f"{POSITION_COLUMN}_list").to_pylist(),
                strict=True,
            )
        ]
        if delete_files:
            add_delete_files(staged, table, delete_files, properties)
        written = sorted_rows(plan.written, sort_by)
        if written.num_rows:
            staged.append(written, snapshot_properties=properties)
