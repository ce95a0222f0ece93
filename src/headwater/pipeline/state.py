"""Pipeline state in the metadata DB: runs, model runs, watermarks, test results.

A model run is marked COMPLETED, its watermarks advanced, its test results and its audit
entry written, in one transaction, after its Iceberg commit and its tests. The Iceberg
snapshot carries the model run's id, so a crash between the two is recognised on the next run
(`reconcile` in `execute`): a snapshot whose run is not COMPLETED was never published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from headwater.audit import AuditRecord, append
from headwater.db import Database
from headwater.db.schema import model_runs, model_watermarks, pipeline_runs, test_results


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TestOutcome:
    __test__ = False

    name: str
    severity: str
    status: str  # pass | fail | warn (a failing warn test) | error (the query failed)
    failures: int
    sample: list[dict[str, Any]]
    query: str
    model: str


@dataclass(slots=True)
class ModelRunRecord:
    run_uuid: str
    pipeline_run_uuid: str
    project: str
    model: str
    mode: str  # full | incremental | view
    status: str = "RUNNING"
    attempts: int = 1
    rows_read: int = 0
    rows_written: int = 0
    snapshot_before: int | None = None
    snapshot_after: int | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=now)
    ended_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        return {
            "run_uuid": self.run_uuid,
            "pipeline_run_uuid": self.pipeline_run_uuid,
            "project": self.project,
            "model": self.model,
            "mode": self.mode,
            "status": self.status,
            "attempts": self.attempts,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "snapshot_before": self.snapshot_before,
            "snapshot_after": self.snapshot_after,
            "message": self.message,
            "details": self.details,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


class PipelineState:
    def __init__(self, database: Database) -> None:
        self.database = database

    def start_pipeline(
        self, run_uuid: str, project: str, full_refresh: bool, selection: str, actor: str
    ) -> None:
        with self.database.write() as connection:
            connection.execute(
                insert(pipeline_runs).values(
                    run_uuid=run_uuid,
                    project=project,
                    status="RUNNING",
                    full_refresh=full_refresh,
                    selection=selection,
                    actor=actor,
                    started_at=now(),
                )
            )

    def finish_pipeline(self, run_uuid: str, status: str) -> None:
        with self.database.write() as connection:
            connection.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.run_uuid == run_uuid)
                .values(status=status, ended_at=now())
            )

    def start_model(self, record: ModelRunRecord) -> None:
        with self.database.write() as connection:
            connection.execute(insert(model_runs).values(record.row()))

    def finish_model(
        self,
        record: ModelRunRecord,
        *,
        watermarks: Mapping[str, int] | None = None,
        tests: Sequence[TestOutcome] = (),
        audit: Sequence[AuditRecord] = (),
    ) -> None:
        """Record the end of a model run; with ``watermarks``, advance them in the same
        transaction (only a COMPLETED run does)."""
        record.ended_at = now()
        with self.database.write() as connection:
            values = record.row()
            del values["run_uuid"]
            connection.execute(
                update(model_runs).where(model_runs.c.run_uuid == record.run_uuid).values(values)
            )
            if watermarks is not None:
                _replace_watermarks(connection, record, watermarks)
            if tests:
                connection.execute(
                    insert(test_results),
                    [
                        {
                            "model_run_uuid": record.run_uuid,
                            "model": test.model,
                            "name": test.name,
                            "severity": test.severity,
                            "status": test.status,
                            "failures": test.failures,
                            "sample": test.sample,
                            "query": test.query,
                        }
                        for test in tests
                    ],
                )
            if audit:
                append(connection, *audit)

    def watermarks(self, project: str, model: str) -> dict[str, int]:
        with self.database.read() as connection:
            rows = connection.execute(
                select(model_watermarks.c.input, model_watermarks.c.snapshot_id).where(
                    model_watermarks.c.project == project, model_watermarks.c.model == model
                )
            )
            return {row.input: row.snapshot_id for row in rows}

    def model_run_status(self, run_uuid: str) -> str | None:
        with self.database.read() as connection:
            status = connection.execute(
                select(model_runs.c.status).where(model_runs.c.run_uuid == run_uuid)
            ).scalar()
            return str(status) if status is not None else None

    def mark_abandoned(self, run_uuid: str, message: str, audit: Sequence[AuditRecord]) -> None:
        """A model run whose process died: its snapshot was rolled back by ``reconcile``."""
        with self.database.write() as connection:
            append(connection, *audit)
            connection.execute(
                update(model_runs)
                .where(model_runs.c.run_uuid == run_uuid, model_runs.c.status == "RUNNING")
                .values(status="ABANDONED", message=message, ended_at=now())
            )
            connection.execute(
                update(pipeline_runs)
                .where(
                    pipeline_runs.c.status == "RUNNING",
                    pipeline_runs.c.run_uuid.in_(
                        select(model_runs.c.pipeline_run_uuid).where(
                            model_runs.c.run_uuid == run_uuid
                        )
                    ),
                )
                .values(status="ABANDONED", ended_at=now())
            )


def _replace_watermarks(
    connection: Connection, record: ModelRunRecord, watermarks: Mapping[str, int]
) -> None:
    connection.execute(
        delete(model_watermarks).where(
            model_watermarks.c.project == record.project,
            model_watermarks.c.model == record.model,
        )
    )
    if watermarks:
        connection.execute(
            insert(model_watermarks),
            [
                {
                    "project": record.project,
                    "model": record.model,
                    "input": name,
                    "snapshot_id": snapshot,
                    "model_run_uuid": record.run_uuid,
                }
                for name, snapshot in watermarks.items()
            ],
        )


def _plain(row: Any) -> dict[str, Any]:
    return {
        str(key): value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._asdict().items()
    }


def list_runs(database: Database, project: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest pipeline runs, newest first, with their model counts by status."""
    query = select(pipeline_runs).order_by(pipeline_runs.c.started_at.desc()).limit(limit)
    if project is not None:
        query = query.where(pipeline_runs.c.project == project)
    with database.read() as connection:
        runs = [_plain(row) for row in connection.execute(query)]
        for run in runs:
            statuses = connection.execute(
                select(model_runs.c.status).where(model_runs.c.pipeline_run_uuid == run["run_uuid"])
            ).scalars()
            counts: dict[str, int] = {}
            for status in statuses:
                counts[status] = counts.get(status, 0) + 1
            run["models"] = counts
    return runs


def show_run(database: Database, run_uuid: str) -> dict[str, Any] | None:
    """One pipeline run (a unique prefix of its id will do) with its model runs and tests."""
    with database.read() as connection:
        rows = connection.execute(
            select(pipeline_runs).where(pipeline_runs.c.run_uuid.startswith(run_uuid)).limit(2)
        ).all()
        if len(rows) != 1:
            return None
        run = _plain(rows[0])
        models = [
            _plain(row)
            for row in connection.execute(
                select(model_runs)
                .where(model_runs.c.pipeline_run_uuid == run["run_uuid"])
                .order_by(model_runs.c.started_at)
            )
        ]
        for model in models:
            model["tests"] = [
                _plain(row)
                for row in connection.execute(
                    select(test_results)
                    .where(test_results.c.model_run_uuid == model["run_uuid"])
                    .order_by(test_results.c.id)
                )
            ]
        run["model_runs"] = models
    return run
