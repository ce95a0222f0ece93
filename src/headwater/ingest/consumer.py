"""The consumer: lands each topic's waiting deliveries in micro-batches, as long as it runs.

A topic is landed when it has ``max_rows`` deliveries waiting or its oldest has waited
``max_wait_s``, whichever comes first; with ``once``, everything waiting is landed now and the
consumer returns. Each topic is landed under its own lock (`landing.land_topic`), so any
number of consumers may run at once, on one machine or many: each lands the topics no other
holds at that moment, and a killed one holds nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from openlineage.client import OpenLineageClient
from sqlalchemy import func, select

from headwater.db import Database
from headwater.db.schema import ingest_inbox
from headwater.ingest.landing import DEFAULT_MAX_ROWS, FaultPoint, LandedBatch, land_topic
from headwater.ingest.lineage import batch_landing, emit_landing
from headwater.ingest.sources import Topic, WebhookSource
from headwater.lake import Lake

log = logging.getLogger("headwater.ingest")

DEFAULT_MAX_WAIT_S = 2.0
IDLE_POLL_S = 0.2
ERROR_PAUSE_S = 5.0


@dataclass
class ConsumerStats:
    batches: int = 0
    rows: int = 0
    recovered: int = 0
    landed: list[LandedBatch] = field(default_factory=list)


def _due(database: Database, topic: Topic, max_rows: int, max_wait_s: float) -> bool:
    query = select(func.count(), func.min(ingest_inbox.c.received_at)).where(
        ingest_inbox.c.source == topic.source,
        ingest_inbox.c.topic == topic.name,
        ingest_inbox.c.batch_id.is_(None),
    )
    with database.read() as connection:
        waiting, oldest = connection.execute(query).one()
    if not waiting:
        return False
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return bool(waiting >= max_rows or age >= max_wait_s)


def topics_of(sources: Mapping[str, WebhookSource]) -> list[tuple[WebhookSource, Topic]]:
    return [(source, topic) for source in sources.values() for topic in source.topics.values()]


def topic_names(sources: Mapping[str, WebhookSource]) -> list[str]:
    """``source/topic`` of every declared topic."""
    return [f"{source.name}/{topic.name}" for source, topic in topics_of(sources)]


def consume(
    database: Database,
    lake: Lake,
    topics: Iterable[tuple[WebhookSource, Topic]],
    *,
    actor: str,
    client: OpenLineageClient | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    once: bool = False,
    stop: threading.Event | None = None,
    on_batch: Callable[[LandedBatch], None] | None = None,
    fault: FaultPoint | None = None,
    beat: Callable[[], None] | None = None,
) -> ConsumerStats:
    """Land batches until ``stop`` is set (or, with ``once``, until nothing is waiting).

    ``beat`` is called on every turn of the loop: a heartbeat that stops when the loop does.
    """
    stats = ConsumerStats()
    stop = stop or threading.Event()
    pairs = list(topics)
    while not stop.is_set():
        if beat is not None:
            beat()
        worked = False
        for source, topic in pairs:
            try:
                if not once and not _due(database, topic, max_rows, max_wait_s):
                    continue
                landed = land_topic(
                    database, lake, topic, actor=actor, max_rows=max_rows, fault=fault
                )
            except Exception as exc:
                if once:
                    raise
                # A long-running consumer outlives an outage: its deliveries stay waiting.
                log.error("landing %s/%s failed: %s", topic.source, topic.name, exc)
                stop.wait(ERROR_PAUSE_S)
                continue
            for batch in landed or ():
                worked = True
                stats.batches += 1
                stats.rows += batch.rows
                stats.recovered += batch.recovered
                stats.landed.append(batch)
                if client is not None:
                    table = lake.load(batch.table)
                    if table is not None:
                        emit_landing(client, batch_landing(batch), table, source.namespace)
                if on_batch is not None:
                    on_batch(batch)
        if once and not worked:
            return stats
        if not worked:
            stop.wait(IDLE_POLL_S)
    return stats
