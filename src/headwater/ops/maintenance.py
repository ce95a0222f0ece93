"""Table maintenance as operators run it: planned first, a dry run unless executed, audited.

Each operation says exactly what it would do before it does it, and writes one audit entry
(target: the table's dataset, as the lineage API names it) with the snapshot ids before and
after, so ``headwater audit history`` shows every rewrite next to the runs that wrote data.
The Iceberg commit comes first and its entry right after: a crash in between leaves a
commit without its entry, which ``headwater table history`` still shows (marked with its
``headwater.maintenance`` property).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.table import Table
from sqlalchemy import select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import model_watermarks
from headwater.errors import BadRequestError, HeadwaterError
from headwater.faults import fault_point
from headwater.ingest import STATE_PROPERTIES
from headwater.lake import (
    Lake,
    SnapshotInfo,
    TableBrowser,
    compact,
    dataset_id,
    delete_orphans,
    expire,
    find_orphans,
    plan_compaction,
    plan_expiry,
    summary_rows,
)
from headwater.ops.durations import EXAMPLES, parse_duration


class TableChangedError(HeadwaterError):
    status = 409


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What an operation did, or with ``executed`` False, would do."""

    action: str
    table: str
    executed: bool
    snapshot_before: int | None
    snapshot_after: int | None
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "table": self.table,
            "executed": self.executed,
            "snapshot_before": self.snapshot_before,
            "snapshot_after": self.snapshot_after,
            **self.facts,
            "seconds": round(self.seconds, 3),
        }


def load_table(lake: Lake, name: str) -> Table:
    table = lake.load(name.lower())
    if table is None:
        raise BadRequestError(f"no table {name}; see headwater tables list", "TABLE")
    return table


def _current(table: Table) -> int | None:
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def _audit(database: Database, table: Table, report: MaintenanceReport, actor: str) -> None:
    namespace, name = dataset_id(table.location())
    node = f"dataset:{namespace}:{name}"
    details = {
        **report.as_json(),
        "snapshot": report.snapshot_after,  # the version this left the table at
        "outputs": {node: None if report.snapshot_after is None else str(report.snapshot_after)},
    }
    details.pop("seconds")
    with database.write() as connection:
        audit.append(connection, audit.AuditRecord(report.action, node, actor, details))


def compact_table(
    database: Database,
    lake: Lake,
    name: str,
    *,
    target_bytes: int,
    execute: bool,
    actor: str,
) -> MaintenanceReport:
    """Rewrite the table's small files into files of about ``target_bytes``, in one commit."""
    started = time.perf_counter()
    table = load_table(lake, name)
    before = _current(table)
    plan = plan_compaction(table, name, lake.files(table, before).tasks, target_bytes)
    facts = {
        "files_before": plan.files_before,
        "files_rewritten": len(plan.files),
        "bytes_rewritten": plan.input_bytes,
        "delete_files_applied": plan.delete_files,
        "files_after": plan.files_after,
        "target_bytes": target_bytes,
    }
    if not execute or not plan.groups:
        return MaintenanceReport("table.compact", name, False, before, before, facts)
    try:
        after = compact(
            table,
            plan,
            {"headwater.actor": actor},
            before_commit=lambda: fault_point("compact-before-commit", name),
        )
    except (CommitFailedException, ValidationException) as exc:
        # PyIceberg retries a commit that lost a race, then refuses it when another writer
        # added files meanwhile: the rewrite was planned on files that are no longer all.
        raise TableChangedError(
            f"{name} changed while it was being compacted ({exc}); nothing was changed, run "
            "the compaction again"
        ) from exc
    files = lake.files(table, after)
    report = MaintenanceReport(
        "table.compact",
        name,
        True,
        before,
        after,
        {**facts, "files_after": len(files.tasks)},
        time.perf_counter() - started,
    )
    _audit(database, table, report, actor)
    return report


def _watermarks(database: Database, name: str) -> dict[int, list[str]]:
    """Snapshot id -> the models whose incremental watermark on ``name`` it is."""
    with database.read() as connection:
        rows = connection.execute(
            select(
                model_watermarks.c.snapshot_id, model_watermarks.c.project, model_watermarks.c.model
            ).where(model_watermarks.c.input == name)
        ).all()
    found: dict[int, list[str]] = {}
    for snapshot_id, project, model in rows:
        found.setdefault(int(snapshot_id), []).append(f"{project}:{model}")
    return found


def expire_table(
    database: Database,
    lake: Lake,
    name: str,
    *,
    older_than: datetime,
    retain_last: int,
    execute: bool,
    actor: str,
) -> MaintenanceReport:
    """Expire snapshots committed before ``older_than`` and delete the files only they used."""
    started = time.perf_counter()
    table = load_table(lake, name)
    before = _current(table)
    plan = plan_expiry(
        table,
        name,
        older_than,
        retain_last,
        watermarks=_watermarks(database, name),
        keep_latest_with=STATE_PROPERTIES,
    )
    facts: dict[str, Any] = {
        "older_than": older_than.isoformat(),
        "retain_last": retain_last,
        "snapshots_expired": list(plan.expire),
        "snapshots_kept": plan.kept,
        "kept_because": {str(k): v for k, v in plan.protected.items()},
        "files_deleted": len(plan.files),
    }
    if not execute or not plan.expire:
        return MaintenanceReport("table.expire", name, False, before, before, facts)
    try:
        expire(table, plan, after_commit=lambda: fault_point("expire-after-commit", name))
    except CommitFailedException as exc:
        raise TableChangedError(f"{name} changed while expiring ({exc}); run it again") from exc
    report = MaintenanceReport(
        "table.expire", name, True, before, before, facts, time.perf_counter() - started
    )
    _audit(database, table, report, actor)
    return report


def orphan_files(
    database: Database,
    lake: Lake,
    name: str,
    *,
    older_than: datetime,
    execute: bool,
    actor: str,
) -> MaintenanceReport:
    """Files under the table's location nothing refers to, last changed before
    ``older_than``; deleted with ``execute``."""
    started = time.perf_counter()
    table = load_table(lake, name)
    before = _current(table)
    orphans = find_orphans(table, older_than)
    facts = {
        "older_than": older_than.isoformat(),
        "orphans": [o.path for o in orphans],
        "orphan_bytes": sum(o.size for o in orphans),
    }
    if not execute or not orphans:
        return MaintenanceReport("table.orphans", name, False, before, before, facts)
    delete_orphans(table, orphans)
    report = MaintenanceReport(
        "table.orphans", name, True, before, before, facts, time.perf_counter() - started
    )
    _audit(database, table, report, actor)
    return report


def _ancestors(table: Table, snapshot_id: int) -> set[int]:
    found: set[int] = set()
    snapshot = table.snapshot_by_id(snapshot_id)
    while snapshot is not None:
        found.add(snapshot.snapshot_id)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return found


def rollback_table(
    database: Database,
    lake: Lake,
    name: str,
    *,
    to: int,
    execute: bool,
    actor: str,
) -> MaintenanceReport:
    """Make snapshot ``to`` current again (time travel made permanent; nothing is deleted)."""
    started = time.perf_counter()
    table = load_table(lake, name)
    target = table.snapshot_by_id(to)
    if target is None:
        raise BadRequestError(f"{name} has no snapshot {to}; see headwater table history", "--to")
    before = _current(table)
    current = table.current_snapshot()
    kept = _ancestors(table, to)
    rebuilding = sorted(
        model
        for snapshot_id, models in _watermarks(database, name).items()
        if snapshot_id not in kept
        for model in models
    )
    facts = {
        "rows_before": summary_rows(current.summary.additional_properties)
        if current and current.summary
        else 0,
        "rows_after": summary_rows(target.summary.additional_properties) if target.summary else 0,
        # Their watermark is past the snapshot rolled back to: they rebuild from the table.
        "readers_rebuilding": rebuilding,
    }
    if not execute or before == to:
        return MaintenanceReport("table.rollback", name, False, before, to, facts)
    lake.rollback(table, to)
    report = MaintenanceReport(
        "table.rollback", name, True, before, to, facts, time.perf_counter() - started
    )
    _audit(database, table, report, actor)
    return report


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    snapshot: SnapshotInfo
    current: bool
    actor: str | None  # from the audit entry that recorded the commit, when there is one
    action: str | None


def table_history(database: Database, lake: Lake, name: str) -> list[HistoryEntry]:
    """Every snapshot of the table, newest first, with the run that made it and, from the
    audit log, who made it and how."""
    table = load_table(lake, name)
    snapshots = TableBrowser(lambda: lake).snapshots(name.lower())
    namespace, dataset = dataset_id(table.location())
    with database.read() as connection:
        items = audit.target_history(connection, f"dataset:{namespace}:{dataset}")
    # A run's commit is recorded twice: by the writer (pipeline.*, ingest.*) and by the
    # lineage event it emitted. The writer's entry says more about how.
    by_version: dict[str, Any] = {}
    for item in items:
        if item.version is not None and (
            item.version not in by_version or by_version[item.version].action == "lineage.event"
        ):
            by_version[item.version] = item
    current = _current(table)
    return [
        HistoryEntry(
            snapshot=info,
            current=info.snapshot_id == current,
            actor=by_version[str(info.snapshot_id)].actor
            if str(info.snapshot_id) in by_version
            else None,
            action=by_version[str(info.snapshot_id)].action
            if str(info.snapshot_id) in by_version
            else None,
        )
        for info in snapshots
    ]


def parse_point_in_time(value: str, field_name: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m`` (that long ago) or an ISO timestamp (UTC unless it says)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(
            f"must be an age like {EXAMPLES}, or an ISO timestamp", field_name
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
