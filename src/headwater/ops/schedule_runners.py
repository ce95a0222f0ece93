"""What each kind of schedule does: the same operations the commands run, as the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from headwater.lake import Lake
from headwater.ops.maintenance import MaintenanceReport, compact_table, expire_table, orphan_files
from headwater.ops.retention import DEFAULT_BATCH, Policy, apply_retention
from headwater.ops.scheduler import Context, Runner
from headwater.ops.schedules import Schedule
from headwater.ops.signals import evaluate_alerts

ORPHANS_SAFETY = timedelta(days=3)


def _project(context: Context) -> Any:
    from headwater.pipeline import load_project

    if context.settings.project is None:
        raise ValueError("a pipeline schedule needs the project: run headwater up -p PROJECT")
    return load_project(context.settings.project)


def _with_lake(context: Context, work: Callable[[Lake], dict[str, Any]]) -> dict[str, Any]:
    lake = context.open_lake()
    try:
        return work(lake)
    finally:
        lake.close()


def run_pipeline_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    from headwater.pipeline import run_pipeline

    project = _project(context)

    def work(lake: Lake) -> dict[str, Any]:
        result = run_pipeline(
            project,
            context.database,
            lake,
            select=list(schedule.select) or None,
            full_refresh=schedule.full_refresh,
            actor=actor,
        )
        return {
            "status": "completed" if result.status == "COMPLETED" else "failed",
            "run_id": result.run_uuid,
            "pipeline_status": result.status,
            "failed": result.failed,
        }

    return _with_lake(context, work)


def run_pull_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    from headwater.ingest import record_sources
    from headwater.ingest.pulls import pull_sources
    from headwater.lineage.client import make_client

    project = _project(context)

    def work(lake: Lake) -> dict[str, Any]:
        record_sources(context.database, project, actor)
        client = make_client(context.database, actor)
        results = list(pull_sources(project, context.database, lake, actor=actor, client=client))
        return {"landed": len(results), "rows": sum(int(r.get("rows", 0)) for r in results)}

    return _with_lake(context, work)


def _each_table(
    schedule: Schedule,
    context: Context,
    operation: Callable[[Lake, str], MaintenanceReport],
) -> dict[str, Any]:
    def work(lake: Lake) -> dict[str, Any]:
        done: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in lake.table_names():
            if not schedule.covers(name):
                continue
            try:
                report = operation(lake, name)
                done[name] = {k: v for k, v in report.as_json().items() if k != "orphans"}
            except Exception as exc:  # one table's failure must not stop the others
                errors[name] = f"{type(exc).__name__}: {exc}"
        return {"status": "failed" if errors else "completed", "tables": done, "errors": errors}

    return _with_lake(context, work)


def run_compact_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    return _each_table(
        schedule,
        context,
        lambda lake, name: compact_table(
            context.database,
            lake,
            name,
            target_bytes=schedule.target_size_mb * 2**20,
            execute=True,
            actor=actor,
        ),
    )


def run_expire_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - (schedule.older_than or timedelta(days=7))
    return _each_table(
        schedule,
        context,
        lambda lake, name: expire_table(
            context.database,
            lake,
            name,
            older_than=cutoff,
            retain_last=schedule.retain_last,
            execute=True,
            actor=actor,
        ),
    )


def run_orphans_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    # Never closer than the safety interval: a newer file may be a write still in progress.
    cutoff = datetime.now(UTC) - max(schedule.older_than or ORPHANS_SAFETY, ORPHANS_SAFETY)
    return _each_table(
        schedule,
        context,
        lambda lake, name: orphan_files(
            context.database, lake, name, older_than=cutoff, execute=True, actor=actor
        ),
    )


def run_retention_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    settings = context.settings
    policy = Policy.of(
        schedule.older_than or timedelta(days=settings.retention_days),
        schedule.grace or timedelta(days=settings.retention_grace_days),
        DEFAULT_BATCH,
    )
    report = apply_retention(context.database, policy, actor)
    return {"purged": {c.name: c.rows for c in report.categories}}


def run_alerts_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    evaluation, measurements = evaluate_alerts(
        context.targets, context.alerts, actor, context.error_rate
    )
    failed = [d for d in evaluation.deliveries if not d.delivered]
    return {
        "status": "failed" if failed else "completed",
        "measurements": len(measurements),
        "transitions": [f"{t.key}: {t.before} -> {t.after}" for t in evaluation.transitions],
        "undelivered": [f"{d.notifier}: {d.error}" for d in failed],
    }


def run_backup_schedule(schedule: Schedule, context: Context, actor: str) -> dict[str, Any]:
    from headwater.ops.backup import create_backup

    folder = Path(schedule.folder) if schedule.folder else context.settings.home / "backups"
    # Microseconds: a manual trigger in the same second as the schedule is another archive.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    archive = folder / f"{schedule.name}-{stamp}.tar.gz"
    result = create_backup(context.settings, archive, include_data=schedule.data, actor=actor)
    # Keep the newest `keep` archives of this schedule: the older ones no RPO needs.
    archives = sorted(folder.glob(f"{schedule.name}-*.tar.gz"), reverse=True)
    for old in archives[schedule.keep :]:
        old.unlink()
    return {
        "archive": str(archive),
        "bytes": result.bytes,
        "removed": [str(old) for old in archives[schedule.keep :]],
    }


RUNNERS: dict[str, Runner] = {
    "pipeline": run_pipeline_schedule,
    "pull": run_pull_schedule,
    "compact": run_compact_schedule,
    "expire": run_expire_schedule,
    "orphans": run_orphans_schedule,
    "retention": run_retention_schedule,
    "alerts": run_alerts_schedule,
    "backup": run_backup_schedule,
}
