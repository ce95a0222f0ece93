"""The ingest configuration of a project, audited whenever it changes.

Every command that receives or lands (the server, ``headwater up``, ``ingest consume``,
``ingest pull``, the demo) records the project's ingest declarations first: one
``ingest.sources.change`` audit entry on ``config:ingest:<project>`` when they differ from the
last one recorded, with what changed. So the log shows when a webhook source got a new scheme,
a rotated secret (the variable names, never a secret), a topic or a column, or a pulled
source a new table, cursor or URL.

What is recorded is what the declarations say, never what the environment holds: the names of
the variables secrets and URLs are read from, and of an API's headers and parameters, whose
values may hold tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from headwater import audit
from headwater.db import Database
from headwater.ingest.raw import ProjectLike

ACTION = "ingest.sources.change"
_NAMES_ONLY = ("headers", "params")  # an API's: their values may be tokens


def _columns(project: ProjectLike, table: str) -> dict[str, str]:
    return {field.name: str(field.type) for field in project.sources[table].schema}


def _pull(kind: str, block: Mapping[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in block.items() if key not in _NAMES_ONLY}
    if kind == "api":
        for key in _NAMES_ONLY:
            if isinstance(block.get(key), Mapping):
                shown[key] = sorted(str(name) for name in block[key])
    return {"kind": kind, **shown}


def declared_sources(project: ProjectLike) -> dict[str, Any]:
    """The project's webhook and pulled sources as declared, for the audit log (JSON)."""
    webhooks = {
        name: {
            **dict(declaration.settings),
            "topics": {table: _columns(project, table) for table in declaration.tables},
        }
        for name, declaration in sorted(project.webhooks.items())
    }
    pulls = {}
    for name, table in sorted(project.sources.items()):
        for kind, block in (
            ("files", table.files),
            ("database", table.database),
            ("api", table.api),
        ):
            if block is not None:
                pulls[name] = {**_pull(kind, block), "columns": _columns(project, name)}
    # A round trip through JSON: what is compared is what the log holds.
    return dict(orjson.loads(orjson.dumps({"webhooks": webhooks, "pulls": pulls})))


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per source: [before, after] of each source added, removed or changed."""
    changed: dict[str, Any] = {}
    for group in ("webhooks", "pulls"):
        old, new = before.get(group, {}), after.get(group, {})
        for name in sorted({*old, *new}):
            if old.get(name) != new.get(name):
                changed[f"{group}.{name}"] = [old.get(name), new.get(name)]
    return changed


def record_sources(database: Database, project: ProjectLike, actor: str) -> bool:
    """Audit the project's ingest declarations if they changed since last recorded."""
    current = declared_sources(project)
    if not current["webhooks"] and not current["pulls"]:
        return False
    target = f"config:ingest:{project.name}"
    with database.write() as connection:
        last, _ = audit.list_entries(connection, action=ACTION, target=target, limit=1)
        before = orjson.loads(last[0].details).get("sources", {}) if last else {}
        if before == current:
            return False
        details = {"sources": current, "changed": _changes(before, current)}
        audit.append(connection, audit.AuditRecord(ACTION, target, actor, details))
    return True
