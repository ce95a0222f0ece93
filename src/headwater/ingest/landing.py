"""Landing inbox deliveries in raw Iceberg tables, each exactly once.

One topic is landed by one process at a time: the lander holds the topic's `named_lock`, which
dies with it, so several consumers can run (each takes the topics nobody holds) and a killed
one never blocks the rest. Under the lock, one batch goes like this:

1. **recover**: a snapshot of the raw table whose ``headwater.ingest.batch-id`` the database
   does not know was committed by a lander that died before step 4. Its rows say which
   deliveries it holds (``_hw_inbox_seq``): they are marked landed now, nothing is written;
2. **take** up to ``max_rows`` waiting deliveries of the topic, oldest first;
3. **append** them to ``raw.<source>_<topic>`` in one Iceberg commit whose snapshot properties
   carry the batch id and the inbox range it covers (first and last seq, row count);
4. **mark** them landed, record the batch and audit it, in one database transaction.

A crash before 3 commits leaves the deliveries waiting (landed by the next batch); after 3 and
before 4, step 1 finds the snapshot. Either way every delivery lands once. The watermark is
thus in Iceberg itself, and the database's marks only follow it.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from sqlalchemy import Connection, bindparam, select, update
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from headwater import audit
from headwater.db import Database, named_lock
from headwater.db.schema import ingest_batches, ingest_inbox
from headwater.faults import fault_point
from headwater.ingest.raw import audit_node, raw_table
from headwater.ingest.sources import Topic
from headwater.lake import Lake

BATCH_PROPERTY = "headwater.ingest.batch-id"
FIRST_SEQ_PROPERTY = "headwater.ingest.first-seq"
LAST_SEQ_PROPERTY = "headwater.ingest.last-seq"
ROWS_PROPERTY = "headwater.ingest.rows"
DEFAULT_MAX_ROWS = 10_000
_MARK_CHUNK = 500

# Every raw table of a webhook topic has these after its declared columns.
INGEST_COLUMNS = pa.schema(
    [
        pa.field("_hw_event_id", pa.string()),
        pa.field("_hw_received_at", pa.timestamp("us", tz="UTC")),
        pa.field("_hw_source", pa.string()),
        pa.field("_hw_batch_id", pa.string()),
        pa.field("_hw_inbox_seq", pa.int64()),
        pa.field("_hw_payload", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class LandedBatch:
    source: str
    topic: str
    table: str
    batch_id: str
    rows: int
    first_seq: int
    last_seq: int
    snapshot_id: int
    recovered: bool = False  # committed by a lander that died; only marked now


@dataclass(frozen=True, slots=True)
class _Waiting:
    seq: int
    event_id: str
    received_at: datetime
    body: bytes


def table_schema(topic: Topic) -> pa.Schema:
    """The raw table of ``topic``: its declared columns, then the ingest columns."""
    return pa.schema([*topic.schema, *INGEST_COLUMNS])


def _value(value: Any, data_type: pa.DataType) -> Any:
    # The receiver has checked each value's type; only text forms need converting.
    if value is None:
        return None
    if pa.types.is_timestamp(data_type):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if pa.types.is_date(data_type):
        return date.fromisoformat(value)
    if pa.types.is_decimal(data_type):
        return decimal.Decimal(str(value))
    if pa.types.is_floating(data_type):
        return float(value)
    return value


def arrow_batch(topic: Topic, batch_id: str, rows: Sequence[_Waiting]) -> pa.Table:
    """The rows of one landing batch, as the raw table's columns."""
    payloads = [orjson.loads(row.body) for row in rows]
    columns: dict[str, pa.Array] = {}
    for field in topic.schema:
        values = [_value(p.get(field.name), field.type) for p in payloads]
        columns[field.name] = pa.array(values, type=field.type)
    columns["_hw_event_id"] = pa.array([row.event_id for row in rows], pa.string())
    columns["_hw_received_at"] = pa.array(
        [row.received_at for row in rows], pa.timestamp("us", tz="UTC")
    )
    columns["_hw_source"] = pa.array([topic.source] * len(rows), pa.string())
    columns["_hw_batch_id"] = pa.array([batch_id] * len(rows), pa.string())
    columns["_hw_inbox_seq"] = pa.array([row.seq for row in rows], pa.int64())
    columns["_hw_payload"] = pa.array([row.body.decode() for row in rows], pa.string())
    return pa.table(columns, schema=table_schema(topic))


def _raw_table(lake: Lake, topic: Topic) -> Table:
    return raw_table(lake, topic.table, table_schema(topic))


def _batch_snapshots(table: Table, after: int | None) -> list[tuple[int, str]]:
    """(snapshot id, batch id) of the landing commits after snapshot ``after``, oldest first."""
    snapshots = table.metadata.snapshots
    ids = [snapshot.snapshot_id for snapshot in snapshots]
    start = ids.index(after) + 1 if after in ids else 0
    found = []
    for snapshot in snapshots[start:]:
        batch = (
            snapshot.summary.additional_properties.get(BATCH_PROPERTY) if snapshot.summary else None
        )
        if batch:
            found.append((snapshot.snapshot_id, batch))
    return found


def _last_recorded(connection: Connection, topic: Topic) -> int | None:
    query = (
        select(ingest_batches.c.snapshot_id)
        .where(ingest_batches.c.source == topic.source, ingest_batches.c.topic == topic.name)
        .order_by(ingest_batches.c.id.desc())
        .limit(1)
    )
    found = connection.execute(query).scalar()
    return int(found) if found is not None else None


def _known(connection: Connection, batch_ids: Sequence[str]) -> set[str]:
    if not batch_ids:
        return set()
    query = select(ingest_batches.c.batch_id).where(ingest_batches.c.batch_id.in_(batch_ids))
    return set(connection.execute(query).scalars())


def _waiting(connection: Connection, topic: Topic, limit: int) -> list[_Waiting]:
    query = (
        select(
            ingest_inbox.c.seq,
            ingest_inbox.c.event_id,
            ingest_inbox.c.received_at,
            ingest_inbox.c.body,
        )
        .where(
            ingest_inbox.c.source == topic.source,
            ingest_inbox.c.topic == topic.name,
            ingest_inbox.c.batch_id.is_(None),
        )
        .order_by(ingest_inbox.c.seq)
        .limit(limit)
    )
    return [_Waiting(*row) for row in connection.execute(query)]


_MARK = (
    update(ingest_inbox)
    .where(ingest_inbox.c.seq.in_(bindparam("seqs", expanding=True)))
    .where(ingest_inbox.c.batch_id.is_(None))
    .values(batch_id=bindparam("batch"))
)


def _record(
    connection: Connection, table: Table, batch: LandedBatch, seqs: Sequence[int], actor: str
) -> None:
    """Mark ``seqs`` landed by ``batch``, record the batch and audit it."""
    for start in range(0, len(seqs), _MARK_CHUNK):
        chunk = list(seqs[start : start + _MARK_CHUNK])
        connection.execute(_MARK, {"seqs": chunk, "batch": batch.batch_id})
    connection.execute(
        ingest_batches.insert(),
        {
            "batch_id": batch.batch_id,
            "source": batch.source,
            "topic": batch.topic,
            "rows": batch.rows,
            "first_seq": batch.first_seq,
            "last_seq": batch.last_seq,
            "snapshot_id": batch.snapshot_id,
            "landed_at": datetime.now(UTC),
        },
    )
    node = audit_node(table)
    details = {
        "batch_id": batch.batch_id,
        "source": batch.source,
        "topic": batch.topic,
        "table": batch.table,
        "rows": batch.rows,
        "inbox_first_seq": batch.first_seq,
        "inbox_last_seq": batch.last_seq,
        "snapshot": batch.snapshot_id,
        "recovered": batch.recovered,
    }
    action = "ingest.batch.recover" if batch.recovered else "ingest.batch.land"
    # The batch id is also the OpenLineage run id of the landing (headwater.ingest.lineage).
    refs = [f"run:{batch.batch_id}", f"webhook:{batch.source}/{batch.topic}"]
    audit.append(connection, audit.AuditRecord(action, node, actor, details, refs))


def _batch(
    topic: Topic, batch_id: str, seqs: Sequence[int], snapshot_id: int, *, recovered: bool
) -> LandedBatch:
    return LandedBatch(
        source=topic.source,
        topic=topic.name,
        table=topic.table,
        batch_id=batch_id,
        rows=len(seqs),
        first_seq=seqs[0] if seqs else 0,
        last_seq=seqs[-1] if seqs else 0,
        snapshot_id=snapshot_id,
        recovered=recovered,
    )


def _recover(
    database: Database, lake: Lake, table: Table, topic: Topic, actor: str
) -> list[LandedBatch]:
    with database.read() as connection:
        candidates = _batch_snapshots(table, _last_recorded(connection, topic))
        known = _known(connection, [batch for _, batch in candidates])
    recovered = []
    for snapshot_id, batch_id in candidates:
        if batch_id in known:
            continue
        rows = table.scan(
            row_filter=f"_hw_batch_id == '{batch_id}'",  # a UUID this module made
            selected_fields=("_hw_inbox_seq",),
            snapshot_id=snapshot_id,
        ).to_arrow()
        seqs = sorted(rows.column("_hw_inbox_seq").to_pylist())
        batch = _batch(topic, batch_id, seqs, snapshot_id, recovered=True)
        with database.write() as connection:
            _record(connection, table, batch, seqs, actor)
        recovered.append(batch)
    return recovered


FaultPoint = Callable[[str], None]


def _snapshot_of(table: Table, batch_id: str) -> int | None:
    for snapshot in reversed(table.metadata.snapshots):
        summary = snapshot.summary
        if summary and summary.additional_properties.get(BATCH_PROPERTY) == batch_id:
            return snapshot.snapshot_id
    return None


@retry(
    retry=retry_if_exception_type(CommitFailedException),
    stop=stop_after_attempt(5),
    wait=wait_exponential_jitter(multiplier=0.05, max=2),
    reraise=True,
)
def _append(lake: Lake, topic: Topic, data: pa.Table, properties: dict[str, str]) -> Table:
    # Another writer of the raw table (a demo delivery, maintenance) committed first: reload
    # and append again; the refused commit left nothing behind.
    table = _raw_table(lake, topic)
    lake.append(table, data, properties)
    return table  # PyIceberg updated it with the metadata it committed


def land_topic(
    database: Database,
    lake: Lake,
    topic: Topic,
    *,
    actor: str,
    max_rows: int = DEFAULT_MAX_ROWS,
    fault: FaultPoint | None = None,
) -> list[LandedBatch] | None:
    """Recover and land one batch of ``topic``; None when another process holds the topic.

    ``fault`` is called with the name of each step's boundary; by default that is
    `headwater.faults.fault_point` for subject ``ingest:<source>/<topic>``.
    """
    subject = f"ingest:{topic.source}/{topic.name}"
    fault = fault or (lambda point: fault_point(point, subject))
    with named_lock(database, f"headwater.ingest:{topic.source}/{topic.name}") as held:
        if not held:
            return None
        table = _raw_table(lake, topic)
        landed = _recover(database, lake, table, topic, actor)
        with database.read() as connection:
            waiting = _waiting(connection, topic, max_rows)
        if not waiting:
            return landed
        batch_id = str(uuid.uuid4())
        data = arrow_batch(topic, batch_id, waiting)
        seqs = [row.seq for row in waiting]
        properties = {
            BATCH_PROPERTY: batch_id,
            FIRST_SEQ_PROPERTY: str(seqs[0]),
            LAST_SEQ_PROPERTY: str(seqs[-1]),
            ROWS_PROPERTY: str(len(seqs)),
        }
        fault("before-append")
        table = _append(lake, topic, data, properties)
        fault("after-append")
        snapshot_id = _snapshot_of(table, batch_id)
        assert snapshot_id is not None  # the commit just made it
        batch = _batch(topic, batch_id, seqs, snapshot_id, recovered=False)
        with database.write() as connection:
            _record(connection, table, batch, seqs, actor)
        fault("after-mark")
        landed.append(batch)
        return landed
