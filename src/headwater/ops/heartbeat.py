"""Heartbeats of the long-running components, so readiness can tell a live one from a dead one.

An ingest consumer and the scheduler each beat from inside their own loop (not from a side
thread, which would keep beating while the loop hangs). A component that stops cleanly removes
its row; a row that has not been refreshed for `STALE_AFTER_S` is a component that died.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, delete, select

from headwater.db import Database, insert_for
from headwater.db.schema import ops_heartbeats

log = logging.getLogger("headwater.ops")

BEAT_EVERY_S = 5.0
# Six missed beats: a consumer landing a large batch may not come round its loop for a while.
STALE_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Beat:
    component: str
    instance: str
    started_at: datetime
    beat_at: datetime
    details: dict[str, Any]

    def age_s(self, now: datetime) -> float:
        return (now - self.beat_at).total_seconds()


class Heartbeat:
    """Call it on every turn of a loop; it writes at most every ``every_s`` seconds.

        Use as a context manager: entering writes the first beat (and removes the rows of instances
    that died), leaving removes the row.
    """

    def __init__(
        self,
        database: Database,
        component: str,
        details: dict[str, Any] | None = None,
        *,
        every_s: float = BEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.component = component
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.details = details or {}
        self.every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._started = datetime.now(UTC)

    def __call__(self) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        row = {
            "component": self.component,
            "instance": self.instance,
            "started_at": self._started,
            "beat_at": datetime.now(UTC),
            "details": self.details,
        }
        try:
            with self.database.write() as connection:
                statement = insert_for(connection, ops_heartbeats).values(row)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["component", "instance"],
                        set_={"beat_at": statement.excluded.beat_at},
                    )
                )
        except Exception as exc:  # a missed beat must not stop the work it reports on
            log.warning("%s heartbeat not written: %s", self.component, exc)

    def __enter__(self) -> Heartbeat:
        # A new instance replaces the ones that died without saying so: their silence has
        # been reported for as long as none ran.
        stale = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S)
        try:
            with self.database.write() as connection:
                connection.execute(
                    delete(ops_heartbeats).where(
                        ops_heartbeats.c.component == self.component,
                        ops_heartbeats.c.beat_at < stale,
                    )
                )
        except Exception as exc:  # as for any beat: the work matters more than its report
            log.warning("%s: stale heartbeats not removed: %s", self.component, exc)
        self()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            with self.database.write() as connection:
                connection.execute(
                    delete(ops_heartbeats).where(
                        ops_heartbeats.c.component == self.component,
                        ops_heartbeats.c.instance == self.instance,
                    )
                )
        except Exception as exc:  # the row goes stale instead, which readiness also reads
            log.warning("%s heartbeat not removed: %s", self.component, exc)


def beats(connection: Connection, component: str) -> list[Beat]:
    """Every registered instance of ``component``, the most recent beat first."""
    rows = connection.execute(
        select(ops_heartbeats)
        .where(ops_heartbeats.c.component == component)
        .order_by(ops_heartbeats.c.beat_at.desc())
    )
    return [
        Beat(row.component, row.instance, row.started_at, row.beat_at, row.details) for row in rows
    ]
