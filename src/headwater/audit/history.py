"""The story of one target from the audit log: who changed it, when, how, with which run.

Entries follow a few conventions in ``details`` that this reads: ``run`` (the run id),
``snapshot`` (an Iceberg snapshot id the change committed), and for lineage events
``outputs`` as ``{"dataset:<ns>:<name>": <version or null>}``. So a
dataset's history lists every run that wrote it with the version (for headwater's own tables:
the Iceberg snapshot id) it produced, and every delete or maintenance operation on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from headwater.audit.entries import AuditEntry
from headwater.audit.log import list_entries

PAGE = 10_000


@dataclass(frozen=True)
class HistoryItem:
    seq: int
    time: str
    actor: str
    action: str
    role: str  # what the entry did to the target: wrote or changed
    run: str | None
    version: str | None
    summary: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "role": self.role,
            "run": self.run,
            "version": self.version,
            "summary": self.summary,
        }


def _version_in(outputs: Any, target: str) -> tuple[bool, str | None]:
    if not isinstance(outputs, dict) or target not in outputs:
        return False, None
    version = outputs[target]
    return True, None if version is None else str(version)


def _item(entry: AuditEntry, target: str) -> HistoryItem:
    details: dict[str, Any] = orjson.loads(entry.details)
    run = details.get("run")
    run = None if run is None else str(run)
    snapshot = details.get("snapshot")
    version = None if snapshot is None else str(snapshot)
    role = "changed"
    wrote, written_version = _version_in(details.get("outputs"), target)
    if wrote:
        role, version = "wrote", written_version or version
    summary = details.get("eventType") or ", ".join(
        f"{k}={v}" for k, v in details.items() if isinstance(v, str | int | bool)
    )
    return HistoryItem(
        entry.seq, entry.time, entry.actor, entry.action, role, run, version, str(summary)
    )


def target_history(connection: Connection, target: str) -> list[HistoryItem]:
    """Every entry about ``target``, oldest first."""
    items: list[HistoryItem] = []
    offset = 0
    while True:
        page, total = list_entries(
            connection, target=target, limit=PAGE, offset=offset, newest_first=False
        )
        items.extend(_item(entry, target) for entry in page)
        offset += len(page)
        if offset >= total or not page:
            return items
