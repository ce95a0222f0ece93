"""Measuring the signals alert rules watch (`headwater.ops.alert_rules.SIGNALS`).

Each measurement is one value for one subject (a project, a topic, a table, a job) or for the
whole install. A value of None means it could not be measured this round (the rule keeps its
state); a signal with nothing to measure (no tables yet) yields no measurement at all.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, select

from headwater.db import aggregate_time
from headwater.db.schema import ingest_inbox, jobs, namespaces, pipeline_runs, runs
from headwater.lake import TARGET_FILE_BYTES, Lake, local_path
from headwater.lineage.stats import FAILED_STATES
from headwater.ops.alert_rules import AlertConfig
from headwater.ops.alerts import Evaluation, Measurement, evaluate
from headwater.ops.health import DOWN, HealthTargets, check_health
from headwater.ops.metrics import lineage_coverage
from headwater.ops.notifiers import Notifier
from headwater.ops.request_metrics import REQUEST_SECONDS

SMALL_FILE_BYTES = int(TARGET_FILE_BYTES * 0.75)
COVERAGE_TABLE_NAME = "entity_coverage"  # a model of this name with a `coverage` column, 0..1


def _pipelines(connection: Connection) -> list[Measurement]:
    latest = (
        select(pipeline_runs.c.project, func.max(pipeline_runs.c.started_at).label("at"))
        .where(pipeline_runs.c.status != "RUNNING")
        .group_by(pipeline_runs.c.project)
        .subquery()
    )
    rows = connection.execute(
        select(pipeline_runs.c.project, pipeline_runs.c.status, pipeline_runs.c.run_uuid).join(
            latest,
            (latest.c.project == pipeline_runs.c.project)
            & (latest.c.at == pipeline_runs.c.started_at),
        )
    )
    return [
        Measurement(
            "pipeline_failed",
            project,
            1.0 if status == "FAILED" else 0.0,
            f"run {run_uuid[:8]} {status}; headwater runs show {run_uuid[:8]}",
        )
        for project, status, run_uuid in rows
    ]


def _jobs(connection: Connection) -> list[Measurement]:
    rows = connection.execute(
        select(namespaces.c.name, jobs.c.name, runs.c.state, runs.c.uuid)
        .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
        .join(runs, runs.c.uuid == jobs.c.latest_run_uuid)
        .where(jobs.c.is_deleted.is_(False))
    )
    return [
        Measurement(
            "job_failed",
            f"{namespace}:{name}",
            1.0 if state in FAILED_STATES else 0.0,
            f"latest run {run_uuid} {state}",
        )
        for namespace, name, state, run_uuid in rows
    ]


def _consumer_lag(connection: Connection, now: datetime) -> list[Measurement]:
    waiting = ingest_inbox.c.batch_id.is_(None)
    query = select(
        ingest_inbox.c.source,
        ingest_inbox.c.topic,
        func.min(ingest_inbox.c.received_at).filter(waiting),
        func.count().filter(waiting),
    ).group_by(ingest_inbox.c.source, ingest_inbox.c.topic)
    found = []
    for source, topic, oldest, count in connection.execute(query):
        lag = (
            max((now - aggregate_time(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
        )
        found.append(
            Measurement("consumer_lag_s", f"{source}/{topic}", lag, f"{count} deliveries waiting")
        )
    return found


def _lineage(connection: Connection) -> list[Measurement]:
    _jobs_share, datasets_share = lineage_coverage(connection)
    if datasets_share is None:
        return []
    return [
        Measurement(
            "lineage_missing_pct",
            None,
            round((1.0 - datasets_share) * 100, 2),
            "datasets no job reads or writes",
        )
    ]


def _tables(lake: Lake) -> list[Measurement]:
    found = []
    for name in lake.table_names():
        table = lake.load(name)
        if table is None:
            continue
        snapshot = table.current_snapshot()
        tasks = lake.files(table, snapshot.snapshot_id if snapshot else None).tasks
        small = sum(1 for t in tasks if t.file.file_size_in_bytes < SMALL_FILE_BYTES)
        found.append(
            Measurement(
                "table_small_files",
                name,
                float(small),
                f"{small} of {len(tasks)} data files under {SMALL_FILE_BYTES // 2**20} MiB; "
                f"headwater table compact {name} --execute",
            )
        )
        if name.rsplit(".", 1)[-1] == COVERAGE_TABLE_NAME and snapshot is not None:
            data = table.scan(snapshot_id=snapshot.snapshot_id, limit=1).to_arrow()
            if "coverage" in data.schema.names and data.num_rows:
                coverage = data.column("coverage")[0].as_py()
                found.append(
                    Measurement(
                        "entity_coverage_pct",
                        name,
                        None if coverage is None else round(float(coverage) * 100, 2),
                        f"from {name}.coverage",
                    )
                )
    return found


def _storage(targets: HealthTargets) -> list[Measurement]:
    if not targets.warehouse.startswith("file://"):
        return [Measurement("storage_used_pct", None, None, "object storage: not measured")]
    path = Path(local_path(targets.warehouse))
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return [
        Measurement(
            "storage_used_pct",
            None,
            round(usage.used / usage.total * 100, 2),
            f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.0f}",
        )
    ]


class ErrorRate:
    """The share of this process's API requests answered 5xx since the last measurement:
    None in a process that served none (the rule keeps its state)."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _totals() -> tuple[float, float]:
        total = errors = 0.0
        for metric in REQUEST_SECONDS.collect():
            for sample in metric.samples:
                if sample.name.endswith("_count"):
                    total += sample.value
                    if sample.labels.get("status", "").startswith("5"):
                        errors += sample.value
        return total, errors

    def measure(self) -> Measurement:
        with self._lock:
            total, errors = self._totals()
            last_total, last_errors = self._last or (0.0, 0.0)
            self._last = (total, errors)
        served, failed = total - last_total, errors - last_errors
        if served <= 0:
            return Measurement("error_rate_pct", None, None, "no requests served since last round")
        return Measurement(
            "error_rate_pct",
            None,
            round(failed / served * 100, 2),
            f"{failed:.0f} of {served:.0f} requests answered 5xx",
        )


def measure(targets: HealthTargets, error_rate: ErrorRate | None = None) -> list[Measurement]:
    """Every signal, now."""
    now = datetime.now(UTC)
    health = {check.name: check for check in check_health(targets).checks}
    found = [
        Measurement(
            "catalog_up",
            None,
            0.0 if health["catalog"].status == DOWN else 1.0,
            health["catalog"].detail,
        ),
        Measurement(
            "storage_up",
            None,
            0.0 if health["warehouse"].status == DOWN else 1.0,
            health["warehouse"].detail,
        ),
    ]
    with targets.database.read() as connection:
        found += _pipelines(connection)
        found += _jobs(connection)
        found += _consumer_lag(connection, now)
        found += _lineage(connection)
    if health["catalog"].status != DOWN:
        found += _tables(targets.lake())
    found += _storage(targets)
    if error_rate is not None:
        found.append(error_rate.measure())
    return found


def evaluate_alerts(
    targets: HealthTargets,
    config: AlertConfig,
    actor: str,
    error_rate: ErrorRate | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
) -> tuple[Evaluation, list[Measurement]]:
    """Measure every signal and run one round of the rules on it."""
    measurements = measure(targets, error_rate)
    evaluation = evaluate(
        targets.database,
        config,
        measurements,
        now=datetime.now(UTC),
        actor=actor,
        notifiers=notifiers,
    )
    return evaluation, measurements
