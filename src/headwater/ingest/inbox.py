"""The durable inbox: deliveries stored before they are answered, many per commit.

A request hands its delivery to `InboxWriter.store` and waits. One writer thread takes every
delivery queued so far, stores them all in one transaction, commits it durably (SQLite
``synchronous=FULL``: synced to disk; PostgreSQL: a committed transaction), and only then
wakes each request, which answers 2xx. While one commit syncs, the next deliveries queue up,
so the cost of a sync is shared by all of them (group commit) and nothing waits for a timer.
A failed transaction stores none of its group, and each request answers 503: the provider
delivers again later.

The same thread adds the receiver's counters (refused signatures, bad bodies, duplicates,
backpressure answers) to ``ingest_counters``, summed in memory and written with the next group
or about once a second, and keeps the backlog (deliveries waiting to be landed) that
backpressure compares with its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select

from headwater.db import Database, insert_for
from headwater.db.schema import ingest_counters, ingest_dead_letters, ingest_inbox

log = logging.getLogger("headwater.ingest")

GROUP_LIMIT = 512
COUNTER_FLUSH_S = 1.0
BACKLOG_REFRESH_S = 1.0


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Delivery:
    source: str
    topic: str
    event_id: str
    webhook_id: str | None
    received_at: datetime
    body: bytes
    dead_reason: str | None = None  # set: it does not match the topic's declared columns


@dataclass(slots=True)
class _Waiting:
    delivery: Delivery
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome]


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if future.done():  # the client went away; its delivery is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _wake(item: _Waiting, outcome: Outcome | BaseException) -> None:
    with contextlib.suppress(RuntimeError):  # its loop has closed: the server is stopping
        item.loop.call_soon_threadsafe(_resolve, item.future, outcome)


def _already_stored(connection: Connection, delivery: Delivery) -> bool:
    found = connection.execute(
        select(ingest_inbox.c.seq).where(
            ingest_inbox.c.source == delivery.source, ingest_inbox.c.event_id == delivery.event_id
        )
    ).first()
    return found is not None


def _row(delivery: Delivery) -> dict[str, Any]:
    return {
        "source": delivery.source,
        "topic": delivery.topic,
        "event_id": delivery.event_id,
        "webhook_id": delivery.webhook_id,
        "received_at": delivery.received_at,
        "body": delivery.body,
    }


def store_group(connection: Connection, deliveries: Sequence[Delivery]) -> list[Outcome]:
    """Store deliveries in the caller's transaction, each unless its event id is stored
    already (or earlier in the group). The inbox rows go in one statement: the writer thread
    shares the GIL with the requests, and each statement of its own would wait for it again."""
    outcomes: list[Outcome | None] = [None] * len(deliveries)
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[int, dict[str, Any]]] = []
    for index, delivery in enumerate(deliveries):
        key = (delivery.source, delivery.event_id)
        if key in seen:
            outcomes[index] = Outcome.DUPLICATE
            continue
        seen.add(key)
        if delivery.dead_reason is None:
            rows.append((index, _row(delivery)))
    if rows:
        insert: Any = insert_for(connection, ingest_inbox).on_conflict_do_nothing(
            index_elements=["source", "event_id"]
        )
        returning = insert.returning(ingest_inbox.c.source, ingest_inbox.c.event_id)
        result = connection.execute(returning, [row for _, row in rows])
        stored = {(row.source, row.event_id) for row in result}
        for index, row in rows:
            key = (row["source"], row["event_id"])
            outcomes[index] = Outcome.STORED if key in stored else Outcome.DUPLICATE
    return [
        outcome if outcome is not None else store_one(connection, deliveries[index])
        for index, outcome in enumerate(outcomes)
    ]


def store_one(connection: Connection, delivery: Delivery) -> Outcome:
    """Store one delivery in the caller's transaction, unless its event id is stored already."""
    row = _row(delivery)
    if delivery.dead_reason is None:
        insert: Any = insert_for(connection, ingest_inbox).on_conflict_do_nothing(
            index_elements=["source", "event_id"]
        )
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
        stored = connection.execute(insert.returning(ingest_inbox.c.seq), row).first()
        return Outcome.STORED if stored else Outcome.DUPLICATE
    # An event whose first delivery matched is not dead-lettered by a later one.
    if _already_stored(connection, delivery):
        return Outcome.DUPLICATE
    insert = insert_for(connection, ingest_dead_letters).on_conflict_do_nothing(
        index_elements=["source", "event_id"]
    )
    insert = insert.returning(ingest_dead_letters.c.id)
    stored = connection.execute(insert, {**row, "reason": delivery.dead_reason}).first()
    return Outcome.DEAD_LETTER if stored else Outcome.DUPLICATE


def add_counts(connection: Connection, counts: Counter[tuple[str, str, str]]) -> None:
    for (source, topic, counter), value in sorted(counts.items()):
        insert: Any = insert_for(connection, ingest_counters)
        connection.execute(
            insert.on_conflict_do_update(
                index_elements=["source", "topic", "counter"],
                set_={"value": ingest_counters.c.value + insert.excluded.value},
            ),
            {"source": source, "topic": topic, "counter": counter, "value": value},
        )


def waiting_count(connection: Connection) -> int:
    """Deliveries stored and not yet claimed by a landing batch."""
    query = select(func.count()).select_from(ingest_inbox).where(ingest_inbox.c.batch_id.is_(None))
    return int(connection.execute(query).scalar_one())


class InboxWriter:
    """Stores deliveries durably in groups; `store` returns once its delivery is committed."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._backlog = 0
        self._backlog_at = 0.0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.groups = 0  # transactions committed, for tests and metrics

    def start(self) -> None:
        """Count the backlog and start the writer thread (`store` does, on first use)."""
        with self._start_lock:
            if self._thread is None:
                self._refresh_backlog()
                thread = threading.Thread(target=self._run, name="headwater-inbox", daemon=True)
                thread.start()
                self._thread = thread

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None

    @property
    def backlog(self) -> int:
        return self._backlog

    def count(self, source: str, topic: str, counter: str) -> None:
        if self._thread is None:
            self.start()
        with self._counts_lock:
            self._counts[(source, topic, counter)] += 1

    async def store(self, delivery: Delivery) -> Outcome:
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put(_Waiting(delivery, loop, future))
        return await future

    def _take_counts(self) -> Counter[tuple[str, str, str]]:
        with self._counts_lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def _refresh_backlog(self) -> None:
        with self.database.read() as connection:
            self._backlog = waiting_count(connection)
        self._backlog_at = time.monotonic()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                first: _Waiting | bool | None = self._queue.get(timeout=COUNTER_FLUSH_S)
            except queue.Empty:
                first = False  # idle: only the counters may be due
            stopping = first is None
            group = [first] if isinstance(first, _Waiting) else []
            while not stopping and len(group) < GROUP_LIMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    group.append(item)
            if group or stopping or time.monotonic() - last_flush >= COUNTER_FLUSH_S:
                self._commit(group)
                last_flush = time.monotonic()
            if stopping:
                return

    def _commit(self, group: list[_Waiting]) -> None:
        counts = self._take_counts()
        outcomes: list[Outcome] = []
        try:
            with self.database.write(durable=True) as connection:
                outcomes = store_group(connection, [item.delivery for item in group])
                for item, outcome in zip(group, outcomes, strict=True):
                    if outcome is Outcome.DUPLICATE:
                        counts[(item.delivery.source, item.delivery.topic, "duplicates")] += 1
                add_counts(connection, counts)
        except Exception as exc:  # nothing of the group is stored: each request answers 503
            log.error("inbox commit of %d deliveries failed: %s", len(group), exc)
            with self._counts_lock:
                self._counts.update(counts)  # counted again with the next commit
            for item in group:
                _wake(item, exc)
            return
        self.groups += 1
        self._backlog += sum(outcome is Outcome.STORED for outcome in outcomes)
        for item, outcome in zip(group, outcomes, strict=True):
            _wake(item, outcome)
        if time.monotonic() - self._backlog_at >= BACKLOG_REFRESH_S:
            try:
                self._refresh_backlog()
            except Exception as exc:  # keep the estimate; the next refresh tries again
                log.warning("could not count the inbox backlog: %s", exc)
