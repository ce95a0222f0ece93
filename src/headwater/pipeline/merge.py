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
from pyiceberg.table import Table, Transaction

from headwater.lake import TableFiles, add_delete_files, write_position_deletes
from headwater.pipeline.scan import FILE_COLUMN, POSITION_COLUMN, select_rows
from headwater.pipeline.sqltext import identifier


class DuplicateKeyError(ValueError):
    """The incoming rows hold one key twice: which version should win is undefined."""


@dataclass(frozen=True, slots=True)
class MergePlan:
    new: pa.Table
    changed: pa.Table
    deleted: pa.Table  # the keys (only) of existing rows to delete

    @property
    def written(self) -> pa.Table:
        """The rows the commit writes: new, then changed."""
        return pa.concat_tables([self.new, self.changed])

    @property
    def rows(self) -> int:
        return int(self.new.num_rows + self.changed.num_rows + self.deleted.num_rows)


def _same_key(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{identifier(k)} = {right}.{identifier(k)}" for k in keys)


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
    """Split ``incoming`` against the DuckDB relation ``target`` (the table as it is).

    The target is read twice at most: its key columns, to find the incoming keys it holds,
    and, only when some are found, the whole rows of those keys, to tell changed from
    unchanged. An increment of new keys therefore reads one column of the table. With
    ``sequence_by``, an incoming row replaces an existing one only when its sequence value is
    greater (or the existing one's is NULL), as when events arrive out of order.
    """
    try:
        return _plan(connection, incoming, target, keys, delete_when, sequence_by)
    finally:
        for name in ("hw_incoming", "hw_marked"):
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
        return MergePlan(empty, empty, key_schema.empty_table())
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
    connection.execute(
        f"CREATE TEMP TABLE hw_matched AS SELECT {key_list} FROM "
        f"(SELECT {key_list} FROM {target}) AS t SEMI JOIN "
        f"(SELECT {key_list} FROM hw_incoming UNION ALL SELECT {key_list} FROM hw_marked) AS i "
        f"ON {on}"
    )
    new = connection.sql(
        f"SELECT i.* FROM hw_incoming AS i ANTI JOIN hw_matched AS m ON {_same_key('i', 'm', keys)}"
    ).to_arrow_table()
    ((matched,),) = connection.execute("SELECT count(*) FROM hw_matched").fetchall()
    if not matched:
        return MergePlan(
            new.cast(incoming.schema), incoming.schema.empty_table(), key_schema.empty_table()
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
        f"SEMI JOIN hw_matched AS m ON {_same_key('t', 'm', keys)}) AS t "
        f"ON {on} WHERE NOT ({same or 'TRUE'}){newer}"
    ).to_arrow_table()
    return MergePlan(
        new.cast(incoming.schema), changed.cast(incoming.schema), removed.cast(key_schema)
    )


def _delete_replaced(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    files: TableFiles,
    replaced: pa.Table,
    keys: Sequence[str],
    properties: dict[str, str],
    transaction: Transaction,
) -> None:
    """Merge-on-read: delete the rows holding a replaced key by position, with one position
    delete file per data file that holds any, as one ``delete`` snapshot.

    One join over the key columns finds the rows (their file and position); the data files
    themselves are not touched, so replacing a thousand rows of a million-row table writes
    a few kilobytes instead of rewriting the files that hold them.
    """
    connection.register("hw_replaced", replaced)
    try:
        hits = connection.execute(
            f"SELECT f.{FILE_COLUMN}, list(f.{POSITION_COLUMN}) "
            f"FROM ({select_rows(connection, files, positions=True)}) AS f "
            f"SEMI JOIN hw_replaced AS r ON {_same_key('f', 'r', keys)} GROUP BY ALL"
        ).fetchall()
    finally:
        connection.unregister("hw_replaced")
    delete_files = [
        write_position_deletes(table, path, pa.array(positions, pa.int64()))
        for path, positions in hits
    ]
    if delete_files:
        add_delete_files(transaction, table, delete_files, properties)


def commit_merge(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    files: TableFiles,
    plan: MergePlan,
    keys: Sequence[str],
    properties: dict[str, str],
) -> None:
    """Write ``plan`` into ``table`` (whose data files are ``files``) as one Iceberg commit:
    position deletes of the rows holding replaced or deleted keys, then an append of the new
    and changed rows. Nothing at all is committed when nothing changed."""
    if not plan.rows:
        return
    replaced = pa.concat_tables([plan.changed.select(list(keys)), plan.deleted])
    with table.transaction() as transaction:
        if replaced.num_rows:
            _delete_replaced(connection, table, files, replaced, keys, properties, transaction)
        written = plan.written
        if written.num_rows:
            transaction.append(written, snapshot_properties=properties)
