"""Pulled source: a table of another database, read incrementally by a cursor column.

A raw table declared with ``database:`` copies the rows of a table of any database SQLAlchemy
reaches, oldest cursor value first, in bounded batches::

    tables:
      pos_orders:
        database:
          url_env: POS_DATABASE_URL   # the SQLAlchemy URL, from the environment
          table: public.orders        # [schema.]table
          cursor: updated_at          # a column that grows with every insert and update
          batch_rows: 10000
        columns: ...                  # the columns copied, by name

Each batch is ``SELECT <columns> WHERE cursor > :mark ORDER BY cursor LIMIT batch_rows``,
completed with every row sharing the batch's last cursor value (so no row is skipped at a
batch boundary), and is one Iceberg append whose snapshot carries the new high-water mark. The
mark lives in the table itself: a run starts from the mark of the latest snapshot that has
one, so a pull killed at any point repeats nothing it committed and misses nothing it did not.
After each commit the batch is recorded (``ingest_pulls``) and audited in one transaction; a
commit whose record is missing is recorded by the next run. A row updated after it was copied
comes again with its new cursor value: the raw table keeps each version, as a CDC feed would.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import pyarrow as pa
from pyiceberg.table import Table
from sqlalchemy import Connection, MetaData, create_engine, select
from sqlalchemy import Table as SqlTable
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from headwater import audit
from headwater.db import Database, named_lock
from headwater.db.schema import ingest_pulls
from headwater.errors import ConfigError, HeadwaterError
from headwater.faults import fault_point
from headwater.ingest.landing import BATCH_PROPERTY
from headwater.ingest.raw import (
    ProjectLike,
    audit_node,
    declared_column,
    pull_blocks,
    raw_table,
    whole_number,
)
from headwater.lake import Lake

MARK_PROPERTY = "headwater.ingest.high-water"
DEFAULT_BATCH_ROWS = 10_000
PULL_COLUMNS = pa.schema([pa.field("_hw_batch_id", pa.string())])


class PullError(HeadwaterError):
    """The source database could not be read; nothing was landed from the failed batch."""


@dataclass(frozen=True, slots=True)
class TableSource:
    table: str  # raw.<table>
    schema: pa.Schema
    url: str
    source_table: str  # [schema.]table in the source database
    cursor: str
    batch_rows: int
    namespace: str  # the project's OpenLineage namespace

    def dataset(self) -> tuple[str, str]:
        """OpenLineage naming of the source table: ``postgres://host:port``, ``db.schema.table``."""
        url = make_url(self.url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            return "sqlite", f"{url.database}.{self.source_table}"
        scheme = "postgres" if backend == "postgresql" else backend
        port = f":{url.port}" if url.port else ""
        return f"{scheme}://{url.host}{port}", f"{url.database}.{self.source_table}"


class PulledSource(Protocol):
    """A source whose commits carry their position in `MARK_PROPERTY` (a database table, a
    REST API): what the record and the recovery of its batches need."""

    @property
    def table(self) -> str: ...
    def dataset(self) -> tuple[str, str]: ...


@dataclass(frozen=True, slots=True)
class PulledBatch:
    table: str
    batch_id: str
    rows: int
    mark: Any
    snapshot_id: int
    recovered: bool = False


_KEYS = {"url_env", "table", "cursor", "batch_rows"}


def table_sources(
    project: ProjectLike, environ: Mapping[str, str] | None = None
) -> list[TableSource]:
    """The raw tables of ``project`` pulled from a database; `ConfigError` names file and key."""
    environ = os.environ if environ is None else environ
    found = []
    for name, table, block, key in pull_blocks(project, "database", _KEYS):
        for required in ("url_env", "table", "cursor"):
            if not isinstance(block.get(required), str) or not block[required].strip():
                raise ConfigError(f"{key}.{required}", "is required")
        url = environ.get(block["url_env"], "")
        if not url:
            raise ConfigError(
                f"{key}.url_env", f"environment variable {block['url_env']} is not set"
            )
        declared_column(table, block["cursor"], f"{key}.cursor")
        rows = whole_number(block, "batch_rows", key, 1, 1_000_000, DEFAULT_BATCH_ROWS)
        found.append(
            TableSource(
                table=name,
                schema=table.schema,
                url=url,
                source_table=block["table"],
                cursor=block["cursor"],
                batch_rows=rows,
                namespace=project.namespace,
            )
        )
    return found


def marks(table: Table) -> list[tuple[int, str, Any]]:
    """(snapshot id, batch id, mark) of every pull commit, oldest first."""
    found = []
    for snapshot in table.metadata.snapshots:
        properties = snapshot.summary.additional_properties if snapshot.summary else {}
        if MARK_PROPERTY in properties:
            mark = orjson.loads(properties[MARK_PROPERTY])
            found.append((snapshot.snapshot_id, properties.get(BATCH_PROPERTY, ""), mark))
    return found


def _as_mark(value: Any) -> Any:
    """A cursor value as JSON can keep it (timestamps as ISO text)."""
    return value.isoformat() if isinstance(value, datetime) else value


def _from_mark(value: Any, data_type: pa.DataType) -> Any:
    if isinstance(value, str) and pa.types.is_timestamp(data_type):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def record(
    database: Database, table: Table, batch: PulledBatch, source: PulledSource, actor: str
) -> None:
    """After its commit: the batch in ``ingest_pulls`` and the audit log, in one transaction."""
    with database.write() as connection:
        _record(connection, table, batch, source, actor)


def _record(
    connection: Connection, table: Table, batch: PulledBatch, source: PulledSource, actor: str
) -> None:
    connection.execute(
        ingest_pulls.insert(),
        {
            "batch_id": batch.batch_id,
            "table_name": batch.table,
            "mark": orjson.dumps(_as_mark(batch.mark)).decode(),
            "rows": batch.rows,
            "snapshot_id": batch.snapshot_id,
            "landed_at": datetime.now(UTC),
        },
    )
    source_ns, source_name = source.dataset()
    details = {
        "table": batch.table,
        "source": f"{source_ns}/{source_name}",
        "rows": batch.rows,
        "high_water": _as_mark(batch.mark),
        "snapshot": batch.snapshot_id,
        "batch_id": batch.batch_id,
        "recovered": batch.recovered,
    }
    action = "ingest.pull.recover" if batch.recovered else "ingest.pull.land"
    audit.append(
        connection,
        audit.AuditRecord(action, audit_node(table), actor, details, [f"run:{batch.batch_id}"]),
    )


def recover(
    database: Database, table: Table, source: PulledSource, actor: str
) -> list[PulledBatch]:
    """Record the commits of ``source`` that a pull killed after its commit never recorded."""
    commits = marks(table)
    if not commits:
        return []
    with database.read() as connection:
        query = select(ingest_pulls.c.batch_id).where(
            ingest_pulls.c.batch_id.in_([batch for _, batch, _ in commits])
        )
        known = set(connection.execute(query).scalars())
    recovered = []
    for snapshot_id, batch_id, mark in commits:
        if batch_id in known:
            continue
        snapshot = table.snapshot_by_id(snapshot_id)
        added = (
            snapshot.summary.additional_properties.get("added-records", "0")
            if snapshot and snapshot.summary
            else "0"
        )
        batch = PulledBatch(source.table, batch_id, int(added), mark, snapshot_id, recovered=True)
        record(database, table, batch, source, actor)
        recovered.append(batch)
    return recovered


def _fetch(source: TableSource, mark: Any) -> list[dict[str, Any]]:
    engine = create_engine(source.url)
    try:
        schema_name, _, table_name = source.source_table.rpartition(".")
        remote = SqlTable(table_name, MetaData(), schema=schema_name or None, autoload_with=engine)
        missing = [c for c in source.schema.names if c not in remote.c]
        if missing:
            raise PullError(f"{source.source_table} has no column {missing[0]!r}")
        columns = [remote.c[name] for name in source.schema.names]
        cursor = remote.c[source.cursor]
        query = select(*columns).order_by(cursor).limit(source.batch_rows)
        if mark is not None:
            query = query.where(cursor > mark)
        with engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
            if len(rows) == source.batch_rows:
                # Rows that share the last cursor value would be skipped by the next batch's
                # ``> mark``: take all of them now.
                last = rows[-1][source.cursor]
                taken = {tuple(r.values()) for r in rows}
                ties = connection.execute(select(*columns).where(cursor == last))
                rows.extend(dict(r._mapping) for r in ties if tuple(r) not in taken)
        return rows
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise PullError(f"cannot read {source.source_table}: {reason}") from None
    finally:
        engine.dispose()


@dataclass(slots=True)
class PullStart:
    table: Table
    pulled: list[PulledBatch]  # the commits of a killed pull, recorded now
    mark: Any  # what the last commit's `MARK_PROPERTY` holds (None: no commit yet)


@contextmanager
def pulling(
    database: Database, lake: Lake, source: PulledSource, schema: pa.Schema, actor: str
) -> Iterator[PullStart | None]:
    """The start of a pull of ``source`` into its raw table (with ``schema``), under the table's
    pull lock; None when another process holds it."""
    with named_lock(database, f"headwater.ingest.pull:{source.table}") as held:
        if not held:
            yield None
            return
        table = raw_table(lake, source.table, schema)
        pulled = recover(database, table, source, actor)
        commits = marks(table)
        yield PullStart(table, pulled, commits[-1][2] if commits else None)


def pull_table(
    database: Database, lake: Lake, source: TableSource, *, actor: str, max_batches: int = 1000
) -> list[PulledBatch] | None:
    """Copy the rows past the high-water mark, a batch per commit; None when another process
    is pulling this table."""
    schema = pa.schema([*source.schema, *PULL_COLUMNS])
    with pulling(database, lake, source, schema, actor) as start:
        if start is None:
            return None
        table, pulled = start.table, start.pulled
        cursor_type = source.schema.field(source.cursor).type
        mark = None if start.mark is None else _from_mark(start.mark, cursor_type)
        for _ in range(max_batches):
            rows = _fetch(source, mark)
            if not rows:
                break
            batch_id = str(uuid.uuid4())
            data = pa.table(
                {
                    **{f.name: pa.array([r[f.name] for r in rows], f.type) for f in source.schema},
                    "_hw_batch_id": pa.array([batch_id] * len(rows), pa.string()),
                }
            )
            mark = rows[-1][source.cursor]
            properties = {
                MARK_PROPERTY: orjson.dumps(_as_mark(mark)).decode(),
                BATCH_PROPERTY: batch_id,
            }
            fault_point("before-append", f"ingest:{source.table}")
            lake.append(table, data, properties)
            fault_point("after-append", f"ingest:{source.table}")
            current = table.current_snapshot()
            assert current is not None
            batch = PulledBatch(source.table, batch_id, len(rows), mark, current.snapshot_id)
            record(database, table, batch, source, actor)
            pulled.append(batch)
        return pulled
