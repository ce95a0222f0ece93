"""``headwater doctor``: the runbooks' checks in one pass, each finding with the command that
fixes it.

It looks at what an operator would otherwise look at one command at a time: the rows of each
layer side by side, models whose inputs have data they have not read yet, tables that need
compacting or expiring, ingest lag and dead letters, failing data-quality tests, jobs without
lineage, firing alerts, unsigned audit entries, and every readiness check that is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from headwater import audit
from headwater.db.schema import (
    audit_checkpoints,
    job_io,
    jobs,
    model_runs,
    model_watermarks,
    namespaces,
    test_results,
)
from headwater.ingest import WebhookSource, ingest_status
from headwater.lake import Lake, changes_since, summary_rows
from headwater.ops.alerts import current_alerts
from headwater.ops.health import DOWN, HealthTargets, check_health
from headwater.ops.signals import SMALL_FILE_BYTES

Level = Literal["error", "warning", "info"]
LAYER_ORDER = ("raw", "staging", "semantic", "analytics", "marts")
SMALL_FILES_LIMIT = 100  # as the TableNeedsCompaction rule
SNAPSHOTS_LIMIT = 500
LAG_LIMIT_S = 300  # as the ConsumerLagHigh rule
UNSIGNED_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    check: str
    subject: str
    problem: str
    fix: str


@dataclass(frozen=True, slots=True)
class LayerRows:
    layer: str
    tables: int
    rows: int
    updated_at: str | None  # the newest commit of any of its tables


@dataclass
class Diagnosis:
    layers: list[LayerRows] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def worst(self) -> Level | None:
        for level in ("error", "warning", "info"):
            if any(f.level == level for f in self.findings):
                return level
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "layers": [asdict(layer) for layer in self.layers],
            "tables": self.tables,
            "findings": [asdict(f) for f in self.findings],
        }


def _layers(lake: Lake, found: Diagnosis) -> None:
    by_layer: dict[str, list[tuple[int, int]]] = {}
    for name in lake.table_names():
        table = lake.load(name)
        if table is None:
            continue
        snapshot = table.current_snapshot()
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        rows = summary_rows(summary)
        found.tables[name] = rows
        by_layer.setdefault(name.split(".", 1)[0], []).append(
            (rows, snapshot.timestamp_ms if snapshot else 0)
        )
        if snapshot is None:
            continue
        tasks = lake.files(table, snapshot.snapshot_id).tasks
        small = sum(1 for t in tasks if t.file.file_size_in_bytes < SMALL_FILE_BYTES)
        if small > SMALL_FILES_LIMIT:
            found.findings.append(
                Finding(
                    "warning",
                    "compaction",
                    name,
                    f"{small} of {len(tasks)} data files are small",
                    f"headwater table compact {name} --execute",
                )
            )
        snapshots = len(table.snapshots())
        if snapshots > SNAPSHOTS_LIMIT:
            found.findings.append(
                Finding(
                    "info",
                    "snapshots",
                    name,
                    f"{snapshots} snapshots kept in its metadata",
                    f"headwater table expire {name} --older-than 7d --execute",
                )
            )
    ordered = sorted(
        by_layer, key=lambda name: (LAYER_ORDER.index(name) if name in LAYER_ORDER else 99, name)
    )
    for layer in ordered:
        entries = by_layer[layer]
        newest = max(ms for _rows, ms in entries)
        found.layers.append(
            LayerRows(
                layer,
                len(entries),
                sum(rows for rows, _ms in entries),
                datetime.fromtimestamp(newest / 1000, UTC).isoformat() if newest else None,
            )
        )


def _behind(connection: Connection, lake: Lake, found: Diagnosis) -> None:
    """Models whose inputs have commits they have not read: the layer after is stale."""
    marks = connection.execute(
        select(
            model_watermarks.c.project,
            model_watermarks.c.model,
            model_watermarks.c.input,
            model_watermarks.c.snapshot_id,
        )
    ).all()
    stale: dict[tuple[str, str], list[str]] = {}
    for project, model, table_name, snapshot_id in marks:
        table = lake.load(table_name)
        if table is None:
            continue
        changes = changes_since(table, int(snapshot_id))
        if changes.append_ranges or changes.merged or changes.rewritten or changes.lost_watermark:
            stale.setdefault((project, model), []).append(table_name)
    for (project, model), inputs in sorted(stale.items()):
        found.findings.append(
            Finding(
                "warning",
                "stale",
                model,
                f"has not read what is new in {', '.join(sorted(inputs))}",
                f"headwater run -p <{project} project> --select {model}",
            )
        )


def _tests(connection: Connection, found: Diagnosis) -> None:
    latest = (
        select(model_runs.c.model, func.max(model_runs.c.started_at).label("at"))
        .group_by(model_runs.c.model)
        .subquery()
    )
    rows = connection.execute(
        select(
            model_runs.c.model,
            model_runs.c.pipeline_run_uuid,
            test_results.c.name,
            test_results.c.severity,
            test_results.c.status,
            test_results.c.failures,
        )
        .join(
            latest,
            (latest.c.model == model_runs.c.model) & (latest.c.at == model_runs.c.started_at),
        )
        .join(test_results, test_results.c.model_run_uuid == model_runs.c.run_uuid)
        .where(test_results.c.status != "pass")
    )
    for model, pipeline_run, name, severity, status, failures in rows:
        found.findings.append(
            Finding(
                "error" if severity == "error" else "warning",
                "quality",
                f"{model} {name}",
                f"{status}: {failures:,} rows break it in the latest run",
                f"headwater runs show {pipeline_run[:8]}",
            )
        )


def _lineage(connection: Connection, views: set[str], found: Diagnosis) -> None:
    rows = connection.execute(
        select(namespaces.c.name, jobs.c.name)
        .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
        .where(
            jobs.c.is_deleted.is_(False),
            jobs.c.id.not_in(select(job_io.c.job_id)),
            # A parent job (a pipeline, a DAG) has its children's lineage, not its own.
            jobs.c.id.not_in(select(jobs.c.parent_job_id).where(jobs.c.parent_job_id.is_not(None))),
        )
        .order_by(namespaces.c.name, jobs.c.name)
    )
    for namespace, name in rows:
        if f"{namespace}:{name}" in views:
            continue  # a view model writes nothing: the models reading it carry its lineage
        found.findings.append(
            Finding(
                "info",
                "lineage",
                f"{namespace}:{name}",
                "its runs name no input or output datasets",
                "send inputs and outputs in its OpenLineage events (see its producer's "
                "integration), then check /lineage?node=job:" + f"{namespace}:{name}",
            )
        )


def _ingest(connection: Connection, sources: Mapping[str, WebhookSource], found: Diagnosis) -> None:
    for topic in ingest_status(connection, sources):
        where = f"{topic.source}/{topic.topic}"
        if topic.lag_s is not None and topic.lag_s > LAG_LIMIT_S:
            found.findings.append(
                Finding(
                    "warning",
                    "ingest",
                    where,
                    f"{topic.waiting:,} deliveries waiting, the oldest for {topic.lag_s:,.0f}s",
                    "headwater ingest consume -p <project> (or headwater up)",
                )
            )
        if topic.dead_letters:
            found.findings.append(
                Finding(
                    "warning",
                    "ingest",
                    where,
                    f"{topic.dead_letters:,} dead letters (deliveries that do not match the "
                    "declared columns)",
                    f"headwater ingest dead-letters -p <project> --source {topic.source}",
                )
            )


def _audit(connection: Connection, found: Diagnosis) -> None:
    size = audit.log_size(connection)
    signed = connection.execute(
        select(func.coalesce(func.max(audit_checkpoints.c.tree_size), 0))
    ).scalar_one()
    if size - int(signed) > UNSIGNED_LIMIT:
        found.findings.append(
            Finding(
                "info",
                "audit",
                "audit log",
                f"{size - int(signed):,} entries after the latest signed checkpoint",
                "headwater audit checkpoint",
            )
        )


def diagnose(
    targets: HealthTargets,
    sources: Mapping[str, WebhookSource],
    views: set[str] = frozenset(),  # type: ignore[assignment]
) -> Diagnosis:
    """Everything, now; ``views`` are the jobs (``namespace:name``) of view models."""
    found = Diagnosis()
    for check in check_health(targets).checks:
        if check.status == DOWN:
            # Readiness details say what is wrong, then (after "; ") what to do.
            problem, _, fix = check.detail.partition("; ")
            found.findings.append(
                Finding("error", "health", check.name, problem, fix or "headwater health")
            )
    catalog_up = not any(f.subject == "catalog" for f in found.findings)
    with targets.database.read() as connection:
        if catalog_up:
            lake = targets.lake()
            _layers(lake, found)
            _behind(connection, lake, found)
        _tests(connection, found)
        _lineage(connection, set(views), found)
        _ingest(connection, sources, found)
        _audit(connection, found)
        for alert in current_alerts(connection):
            if alert.state == "firing":
                found.findings.append(
                    Finding(
                        "error" if alert.severity == "critical" else "warning",
                        "alert",
                        alert.key,
                        alert.summary,
                        f"see {alert.runbook}",
                    )
                )
    order = {"error": 0, "warning": 1, "info": 2}
    found.findings.sort(key=lambda f: (order[f.level], f.check, f.subject))
    return found
