"""Racing a writer against an open transaction that applies an event first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from headwater.db import Database
from headwater.lineage.events import LineageEvent
from headwater.lineage.writer import apply_event


def race_behind(database: Database, first: LineageEvent, racer: Callable[[], Any]) -> list[Any]:
    """Apply ``first`` in a transaction kept open while ``racer`` runs in another thread, then
    commit; returns what ``racer`` returned (or raised)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(racer())
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)

    with database.write() as connection:
        assert apply_event(connection, first).stored
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.5)  # the racer is now blocked behind this open transaction
        assert outcome == []
    thread.join(timeout=30)
    return outcome
