"""An OpenLineage client for producers inside headwater (pipelines, ingest).

By default its transport stores events into the local lineage store in-process (the code path
of ``POST /api/v1/lineage/batch``); when the user configures the client the usual way
(``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``OPENLINEAGE_CONFIG`` or an
``openlineage.yml``), events go wherever that says instead, and ``OPENLINEAGE_DISABLED=true``
turns emission off.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.transport import Transport

from headwater.db import Database
from headwater.lineage.events import LineageEvent, validate_event
from headwater.lineage.writer import LineageWriter

log = logging.getLogger("headwater.lineage")
WRITE_ATTEMPTS = 4  # for events that fail transiently: as many as LineageWriter.write makes


def user_configured() -> bool:
    """Did the user configure the OpenLineage client (so events must go where they say)?"""
    if any(
        name in os.environ
        for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED")
    ):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in os.environ):
        return True
    return any(
        path.is_file()
        for path in (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage/openlineage.yml")
    )


class LocalStoreTransport(Transport):
    """Stores events into headwater's own lineage store, in this process, in batches: `emit`
    queues an event and `flush` stores everything queued in one transaction."""

    kind = "headwater"

    def __init__(self, database: Database, actor: str) -> None:
        self.writer = LineageWriter(database)
        self.actor = actor
        self._pending: list[LineageEvent] = []

    def emit(self, event: Any) -> None:
        # Validated now, so that an invalid event is refused alone, with the emit that sent it.
        self._pending.append(validate_event(event_dict(event)))

    def flush(self) -> int:
        """Store the queued events, in order; returns how many could not be stored.

        Never raises: a lineage outage must not fail the data. Events that failed for a
        transient reason (a lock or serialization conflict, a failed commit) are tried again,
        as `LineageWriter.write` does for a single event."""
        batch, self._pending = self._pending, []
        refused = 0
        for attempt in range(WRITE_ATTEMPTS):
            if not batch:
                break
            if attempt:
                time.sleep(0.02 * 2**attempt)
            try:
                outcomes = self.writer.write_batch(batch, actor=self.actor)
            except Exception as exc:
                log.warning("OpenLineage events not stored: %s: %s", type(exc).__name__, exc)
                return refused + len(batch)
            retry = []
            for event, outcome in zip(batch, outcomes, strict=True):
                if outcome.stored or outcome.duplicate:
                    continue
                if outcome.retriable:
                    retry.append(event)
                else:
                    refused += 1
                    log.warning("lineage store refused an event: %s", outcome.reason)
            batch = retry
        if batch:
            log.warning("OpenLineage events not stored after %d attempts", WRITE_ATTEMPTS)
        return refused + len(batch)


def event_dict(value: Any) -> Any:
    """What the client's ``Serde.to_dict`` makes of an event, in one pass instead of two.

    Serde copies the whole event into dicts (``attr.asdict``), then copies that again without
    the None values and with enums, dates and UUIDs as strings; for the events of one pipeline
    run that was a fifth of the lineage thread's CPU. Same rules: None values are left out of
    objects and lists, and so are empty objects in lists.
    """
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float):
        return value
    if attr.has(type(value)):
        fields = attr.fields(type(value))
        return _without_nones({f.name: event_dict(getattr(value, f.name)) for f in fields})
    if isinstance(value, dict):
        return _without_nones({key: event_dict(item) for key, item in value.items()})
    if isinstance(value, list | tuple | set | frozenset):
        items = (event_dict(item) for item in value if item is not None)
        return [item for item in items if item is not None and item != {}]
    if isinstance(value, date):  # datetime included
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if type(value).__name__ == "int64":  # numpy's, as Serde converts it
        return int(value)
    return value


def _without_nones(values: dict[Any, Any]) -> dict[Any, Any]:
    return {key: item for key, item in values.items() if item is not None}


def make_client(database: Database, actor: str) -> OpenLineageClient:
    if user_configured():
        return OpenLineageClient()
    return OpenLineageClient(transport=LocalStoreTransport(database, actor))
