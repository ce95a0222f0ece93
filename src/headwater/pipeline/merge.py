"""``merge``: upsert a model's new rows into its table by ``unique_key``, planned in DuckDB.

PyIceberg's ``upsert`` finds the existing rows by scanning the table with an ``IN`` filter of
every incoming key, evaluated row by row in Arrow: on a million-row table that costs about a
second for any number of new rows. Here DuckDB joins the incoming rows against the table's
files (it reads only the columns it needs, in batches) to split them into new rows, changed
rows and unchanged ones. New rows are appended; changed rows replace their old versions
(copy-on-write: only the files holding those keys are rewritten); unchanged rows, such as
re-deliveries, are not written at all. All of it is one Iceberg commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.upsert_util import create_match_filter

from headwater.pipeline.sqltext import identifier


class DuplicateKeyError(ValueError):
    """The incoming rows hold one key twice: which version should win is undefined."""


@dataclass(frozen=True, slots=True)
class MergePlan:
    new: pa.Table
    changed: pa.Table

    @property
    def rows(self) -> int:
        return int(self.new.num_rows + self.changed.num_rows)


def _same_key(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{identifier(k)} = {right}.{identifier(k)}" for k in keys)


def plan_merge(
    connection: duckdb.DuckDBPyConnection,
    incoming: pa.Table,
    target: str,
    keys: Sequence[str],
) -> MergePlan:
    """Split ``incoming`` against the DuckDB relation ``target`` (the table as it is).

    The target is read twice at most: its key columns, to find the incoming keys it holds,
    and, only when some are found, the whole rows of those keys, to tell changed from
    unchanged. An increment of new keys therefore reads one column of the table.
    """
    connection.register("hw_incoming", incoming)
    try:
        return _plan(connection, incoming, target, keys)
    finally:
        connection.unregister("hw_incoming")
        connection.execute("DROP TABLE IF EXISTS hw_matched")


def _plan(
    connection: duckdb.DuckDBPyConnection,
    incoming: pa.Table,
    target: str,
    keys: Sequence[str],
) -> MergePlan:
    key_list = ", ".join(identifier(k) for k in keys)
    duplicate = connection.execute(
        f"SELECT {key_list}, count(*) FROM hw_incoming GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if duplicate:
        *values, count = duplicate[0]
        raise DuplicateKeyError(
            f"{count} new rows share the key {', '.join(keys)} = {', '.join(map(repr, values))}; "
            "deduplicate them in the model's SQL (e.g. QUALIFY row_number() ...)"
        )
    on = _same_key("i", "t", keys)
    connection.execute(
        f"CREATE TEMP TABLE hw_matched AS SELECT {key_list} FROM "
        f"(SELECT {key_list} FROM {target}) AS t SEMI JOIN hw_incoming AS i ON {on}"
    )
    ((matched,),) = connection.execute("SELECT count(*) FROM hw_matched").fetchall()
    if not matched:
        return MergePlan(incoming, incoming.schema.empty_table())
    new = connection.sql(
        f"SELECT i.* FROM hw_incoming AS i ANTI JOIN hw_matched AS m ON {_same_key('i', 'm', keys)}"
    ).to_arrow_table()
    compared = [name for name in incoming.schema.names if name not in keys]
    same = " AND ".join(
        f"i.{identifier(c)} IS NOT DISTINCT FROM t.{identifier(c)}" for c in compared
    )
    changed = connection.sql(
        f"SELECT i.* FROM hw_incoming AS i JOIN (SELECT t.* FROM {target} AS t "
        f"SEMI JOIN hw_matched AS m ON {_same_key('t', 'm', keys)}) AS t "
        f"ON {on} WHERE NOT ({same or 'TRUE'})"
    ).to_arrow_table()
    return MergePlan(new.cast(incoming.schema), changed.cast(incoming.schema))


def commit_merge(
    table: Table, plan: MergePlan, keys: Sequence[str], properties: dict[str, str]
) -> None:
    """Write ``plan`` as one Iceberg commit (nothing at all when nothing changed)."""
    if not plan.rows:
        return
    with table.transaction() as transaction:
        if plan.changed.num_rows:
            transaction.overwrite(
                plan.changed,
                overwrite_filter=create_match_filter(plan.changed, list(keys)),
                snapshot_properties=properties,
            )
        if plan.new.num_rows:
            transaction.append(plan.new, snapshot_properties=properties)
