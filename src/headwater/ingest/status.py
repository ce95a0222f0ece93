"""What each webhook topic has received, refused, landed and still holds: `headwater ingest
status` and the dead letters (`headwater ingest dead-letters`), with their replay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, case, func, select, update

from headwater import audit
from headwater.db import Database, aggregate_time
from headwater.db.schema import ingest_batches, ingest_counters, ingest_dead_letters, ingest_inbox
from headwater.errors import BadRequestError
from headwater.ingest.inbox import Delivery, store_one
from headwater.ingest.payloads import schema_mismatch
from headwater.ingest.sources import WebhookSource

COUNTERS = ("rejected", "malformed", "duplicates", "backpressure", "unavailable")


@dataclass
class TopicStatus:
    source: str
    topic: str
    table: str
    received: int = 0  # stored in the inbox
    waiting: int = 0  # of those, not landed yet: the backlog
    landed: int = 0  # rows landed in the raw table
    batches: int = 0
    dead_letters: int = 0  # not replayed
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    last_received_at: datetime | None = None
    last_landed_at: datetime | None = None
    oldest_waiting_at: datetime | None = None

    @property
    def lag_s(self) -> float | None:
        """How long the oldest waiting delivery has waited: 0 with nothing waiting."""
        if self.oldest_waiting_at is None:
            return 0.0 if self.received else None
        return (datetime.now(UTC) - self.oldest_waiting_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("last_received_at", "last_landed_at", "oldest_waiting_at"):
            values[key] = values[key].isoformat() if values[key] else None
        values["lag_s"] = None if self.lag_s is None else round(self.lag_s, 3)
        return values


def _utc(value: datetime | str | None) -> datetime | None:
    return None if value is None else aggregate_time(value)


def ingest_status(
    connection: Connection, sources: Mapping[str, WebhookSource]
) -> list[TopicStatus]:
    """One row per declared topic, and per topic that still has stored deliveries."""
    found: dict[tuple[str, str], TopicStatus] = {}
    for source in sources.values():
        for topic in source.topics.values():
            found[(source.name, topic.name)] = TopicStatus(source.name, topic.name, topic.table)

    def row(source: str, topic: str) -> TopicStatus:
        key = (source, topic)
        if key not in found:
            found[key] = TopicStatus(source, topic, f"raw.{source}_{topic}")
        return found[key]

    waiting = ingest_inbox.c.batch_id.is_(None)
    inbox = select(
        ingest_inbox.c.source,
        ingest_inbox.c.topic,
        func.count(),
        func.sum(case((waiting, 1), else_=0)),
        func.max(ingest_inbox.c.received_at),
        func.min(case((waiting, ingest_inbox.c.received_at), else_=None)),
    ).group_by(ingest_inbox.c.source, ingest_inbox.c.topic)
    for source, topic, received, backlog, last, oldest in connection.execute(inbox):
        status = row(source, topic)
        status.received, status.waiting = int(received), int(backlog or 0)
        status.last_received_at = _utc(last)
        status.oldest_waiting_at = _utc(oldest)
    batches = select(
        ingest_batches.c.source,
        ingest_batches.c.topic,
        func.count(),
        func.sum(ingest_batches.c.rows),
        func.max(ingest_batches.c.landed_at),
    ).group_by(ingest_batches.c.source, ingest_batches.c.topic)
    for source, topic, count, rows, last in connection.execute(batches):
        status = row(source, topic)
        status.batches, status.landed, status.last_landed_at = int(count), int(rows), _utc(last)
    dead = (
        select(ingest_dead_letters.c.source, ingest_dead_letters.c.topic, func.count())
        .where(ingest_dead_letters.c.replayed_at.is_(None))
        .group_by(ingest_dead_letters.c.source, ingest_dead_letters.c.topic)
    )
    for source, topic, count in connection.execute(dead):
        row(source, topic).dead_letters = int(count)
    for source, topic, counter, value in connection.execute(select(ingest_counters)):
        row(source, topic).counters[counter] = int(value)
    return sorted(found.values(), key=lambda s: (s.source, s.topic))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    source: str
    topic: str
    event_id: str
    received_at: datetime
    reason: str
    replayed_at: datetime | None
    replayed_seq: int | None
    body: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "topic": self.topic,
            "event_id": self.event_id,
            "received_at": self.received_at.isoformat(),
            "reason": self.reason,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "replayed_seq": self.replayed_seq,
            "body": self.body.decode(errors="replace"),
        }


def dead_letters(
    connection: Connection,
    *,
    source: str | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[DeadLetter]:
    query = select(ingest_dead_letters).order_by(ingest_dead_letters.c.id).limit(limit)
    if source is not None:
        query = query.where(ingest_dead_letters.c.source == source)
    if not include_replayed:
        query = query.where(ingest_dead_letters.c.replayed_at.is_(None))
    return [
        DeadLetter(
            id=r.id,
            source=r.source,
            topic=r.topic,
            event_id=r.event_id,
            received_at=r.received_at,
            reason=r.reason,
            replayed_at=r.replayed_at,
            replayed_seq=r.replayed_seq,
            body=r.body,
        )
        for r in connection.execute(query)
    ]


@dataclass
class ReplayResult:
    replayed: list[int] = field(default_factory=list)  # dead letter ids now in the inbox
    still_dead: dict[int, str] = field(default_factory=dict)  # id -> the reason now


def _reason(letter: DeadLetter, sources: Mapping[str, WebhookSource]) -> str | None:
    source = sources.get(letter.source)
    topic = source.topics.get(letter.topic) if source else None
    if topic is None:
        return f"topic {letter.source}/{letter.topic} is no longer declared"
    try:
        payload = orjson.loads(letter.body)
    except orjson.JSONDecodeError:
        return "the body is not valid JSON"
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    return schema_mismatch(payload, topic.schema)


def _inbox_seq(connection: Connection, letter: DeadLetter) -> int:
    query = select(ingest_inbox.c.seq).where(
        ingest_inbox.c.source == letter.source, ingest_inbox.c.event_id == letter.event_id
    )
    return int(connection.execute(query).scalar_one())


def replay(
    database: Database,
    sources: Mapping[str, WebhookSource],
    *,
    actor: str,
    source: str | None = None,
) -> ReplayResult:
    """Check every waiting dead letter (of ``source``) against the current declarations:
    those that match now move into the inbox, to be landed like any delivery; the rest keep
    their row with the reason as it is now. One transaction, audited."""
    if source is not None and source not in sources:
        raise BadRequestError(f"no webhook source {source!r} is declared", "--source")
    result = ReplayResult()
    now = datetime.now(UTC)
    with database.write(durable=True) as connection:
        for letter in dead_letters(connection, source=source, limit=1_000_000):
            reason = _reason(letter, sources)
            if reason is not None:
                result.still_dead[letter.id] = reason
                if reason != letter.reason:
                    connection.execute(
                        update(ingest_dead_letters)
                        .where(ingest_dead_letters.c.id == letter.id)
                        .values(reason=reason)
                    )
                continue
            delivery = Delivery(
                letter.source, letter.topic, letter.event_id, None, letter.received_at, letter.body
            )
            # A later delivery of the same event may have been stored meanwhile: then that one
            # is the event's, and the dead letter is settled by it.
            store_one(connection, delivery)
            connection.execute(
                update(ingest_dead_letters)
                .where(ingest_dead_letters.c.id == letter.id)
                .values(replayed_at=now, replayed_seq=_inbox_seq(connection, letter))
            )
            result.replayed.append(letter.id)
        if result.replayed or result.still_dead:
            details = {
                "source": source,
                "replayed": result.replayed,
                "still_dead": {str(k): v for k, v in result.still_dead.items()},
            }
            target = f"webhook:{source}" if source else "webhook:*"
            audit.append(
                connection, audit.AuditRecord("ingest.dead_letters.replay", target, actor, details)
            )
    return result
