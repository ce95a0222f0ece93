"""Storing events: a batch in one transaction, and a failing event fails alone.

A batch is applied in one savepoint by `apply_events` (a few statements for the whole batch).
When another request created one of its runs meanwhile, the batch is applied again (the run
now exists). When it fails with a storage error, the savepoint is rolled back and the events
are applied again one per savepoint, so that the good events of a batch are stored even when
others fail. Either way the batch is
committed once: one fsync on SQLite instead of one per event. Each stored event gets its
audit entry in the same transaction: in the batch's savepoint, or, when events are applied one
by one, appended after them for those that were stored (`stored_event_records`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from headwater import audit
from headwater.db import Database
from headwater.lineage.apply import EventOutcome, RunRace, apply_events
from headwater.lineage.audit_records import stored_event_records
from headwater.lineage.events import LineageEvent
from headwater.lineage.facet_cache import FacetCache

RACE_ATTEMPTS = 3


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | RunRace):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in {"40001", "40P01"}


def _db_reason(exc: DBAPIError) -> str:
    return f"storage error: {str(exc.orig).splitlines()[0] if exc.orig else exc}"


class LineageWriter:
    """Applies validated OpenLineage events to the lineage model."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.cache = FacetCache()

    @retry(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.02, max=0.5),
        reraise=True,
    )
    def write(self, event: LineageEvent, actor: str = "anonymous") -> EventOutcome:
        """Store one event in its own transaction; ``actor`` is who sent it (for the audit)."""
        with self.database.write() as connection:
            return self._apply(connection, [event], actor)[0]

    def write_batch(
        self, events: Sequence[LineageEvent], actor: str = "anonymous"
    ) -> list[EventOutcome]:
        """Store events in one transaction; failures stay isolated to their event."""
        try:
            with self.database.write() as connection:
                for _ in range(RACE_ATTEMPTS):
                    try:
                        with connection.begin_nested():
                            return self._apply(connection, events, actor)
                    except RunRace:
                        continue  # that run exists now: apply the batch again
                    except DBAPIError:
                        break  # find the failing events: one savepoint each
                outcomes = [self._isolated(connection, event) for event in events]
                # The entries of the events that were stored, once, at the end: on PostgreSQL
                # appending takes the audit lock, which must not be held while later events
                # wait for row locks that another batch, itself waiting for the audit lock,
                # holds.
                audit.append(connection, *stored_event_records(events, outcomes, actor))
                return outcomes
        except DBAPIError as exc:
            # The commit itself failed: nothing of this batch is stored.
            reason = _db_reason(exc)
            return [EventOutcome(False, reason=reason, retriable=True) for _ in events]

    def _apply(
        self, connection: Connection, events: Sequence[LineageEvent], actor: str
    ) -> list[EventOutcome]:
        outcomes = apply_events(connection, events, self.cache)
        audit.append(connection, *stored_event_records(events, outcomes, actor))
        return outcomes

    def _isolated(self, connection: Connection, event: LineageEvent) -> EventOutcome:
        """One event in its own savepoint (its audit entry is the caller's); a run created
        concurrently is applied again."""
        for _ in range(RACE_ATTEMPTS):
            try:
                with connection.begin_nested():
                    return apply_events(connection, [event], self.cache)[0]
            except RunRace:
                continue
            except DBAPIError as exc:
                return EventOutcome(False, reason=_db_reason(exc), retriable=_is_transient(exc))
        return EventOutcome(False, reason="the run kept being created concurrently", retriable=True)


def apply_event(connection: Connection, event: LineageEvent) -> EventOutcome:
    """Apply one event on ``connection`` (inside the caller's transaction), without a cache."""
    return apply_events(connection, [event], FacetCache(size=1_000))[0]
