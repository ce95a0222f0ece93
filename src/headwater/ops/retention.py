"""Retention: what is older than the policy goes, in batches, after a dry run of exact counts.

What is purged, each by its own rule:

- lineage events received before the cut-off (the raw events; what they built stays);
- runs last changed before it, except each job's latest run, with their
  inputs and outputs;
- dataset and job versions made before it, except current ones and those a kept run used;
- pipeline runs that ended before it, with their model runs and test results, except those
  whose model runs are still some model's incremental watermark;
- landed inbox deliveries and replayed dead letters received before it; alert notifications;
- datasets and jobs soft-deleted more than the grace period ago, with what remains of them.

And what is soft-deleted (purged by a later pass, once the grace period has passed): jobs with
no run and no change since the cut-off, and datasets no run has written since then that no
live job reads or writes. A new event about either brings it back, as in Marquez.

Every time is headwater's own (when it received or last changed a row), never a producer's
event time: a backfill of last year's runs is not purged the moment it arrives.

The audit log is never touched: it is the record of all of this. Each batch is one transaction
with its own audit entry, so a killed purge leaves every committed batch recorded and the next
run finishes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    and_,
    delete,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)

from headwater import audit
from headwater.db import Database
from headwater.db.schema import (
    alert_notifications,
    column_lineage,
    dataset_field_tags,
    dataset_tags,
    dataset_versions,
    datasets,
    ingest_dead_letters,
    ingest_inbox,
    job_io,
    job_tags,
    job_versions,
    jobs,
    lineage_events,
    model_runs,
    model_watermarks,
    pipeline_runs,
    run_io,
    runs,
    test_results,
)
from headwater.faults import fault_point

DEFAULT_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Policy:
    cutoff: datetime  # older than this goes
    purge_deleted_before: datetime  # soft-deleted before this goes for good
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def of(
        cls, older_than: timedelta, grace: timedelta, batch_size: int, now: datetime | None = None
    ) -> Policy:
        now = now or datetime.now(UTC)
        return cls(now - older_than, now - grace, batch_size)

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "purge_deleted_before": self.purge_deleted_before.isoformat(),
            "batch_size": self.batch_size,
        }


Statements = Callable[[list[Any]], Sequence[Executable]]


@dataclass(frozen=True, slots=True)
class Category:
    """Rows of ``key``'s table matching ``where``; ``first`` deletes what refers to a batch."""

    name: str
    description: str
    key: Any
    where: ColumnElement[bool]
    first: Statements = lambda ids: ()
    soft_delete: bool = False

    def statements(self, ids: list[Any]) -> list[Executable]:
        table = self.key.table
        if self.soft_delete:
            now = datetime.now(UTC)
            return [update(table).where(self.key.in_(ids)).values(is_deleted=True, deleted_at=now)]
        return [*self.first(ids), delete(table).where(self.key.in_(ids))]


def _categories(policy: Policy) -> list[Category]:
    cutoff = policy.cutoff
    purged_jobs = select(jobs.c.id).where(
        jobs.c.is_deleted.is_(True), jobs.c.deleted_at < policy.purge_deleted_before
    )
    purged_datasets = select(datasets.c.id).where(
        datasets.c.is_deleted.is_(True), datasets.c.deleted_at < policy.purge_deleted_before
    )
    latest_runs = select(jobs.c.latest_run_uuid).where(jobs.c.latest_run_uuid.is_not(None))
    old_run = and_(runs.c.updated_at < cutoff, runs.c.uuid.not_in(latest_runs))
    purged_run = or_(old_run, runs.c.job_id.in_(purged_jobs))
    kept_runs = select(runs.c.id).where(not_(purged_run))
    used_dataset_versions = select(run_io.c.dataset_version_uuid).where(
        run_io.c.run_id.in_(kept_runs), run_io.c.dataset_version_uuid.is_not(None)
    )
    current_dataset_versions = select(datasets.c.current_version_uuid).where(
        datasets.c.current_version_uuid.is_not(None)
    )
    used_job_versions = select(runs.c.job_version_uuid).where(
        runs.c.id.in_(kept_runs), runs.c.job_version_uuid.is_not(None)
    )
    current_job_versions = select(jobs.c.current_version_uuid).where(
        jobs.c.current_version_uuid.is_not(None)
    )
    watermarked = select(model_runs.c.pipeline_run_uuid).where(
        model_runs.c.run_uuid.in_(select(model_watermarks.c.model_run_uuid))
    )
    # Soft deletion: what nothing has touched since the cut-off.
    idle_job = and_(
        jobs.c.is_deleted.is_(False),
        jobs.c.updated_at < cutoff,
        not_(exists().where(runs.c.job_id == jobs.c.id, runs.c.updated_at >= cutoff)),
    )
    live_jobs = select(jobs.c.id).where(jobs.c.is_deleted.is_(False), not_(idle_job))
    idle_dataset = and_(
        datasets.c.is_deleted.is_(False),
        func.coalesce(datasets.c.last_modified_at, datasets.c.updated_at) < cutoff,
        not_(exists().where(job_io.c.dataset_id == datasets.c.id, job_io.c.job_id.in_(live_jobs))),
    )
    return [
        Category(
            "lineage_events",
            "OpenLineage events received before the cut-off",
            lineage_events.c.id,
            lineage_events.c.received_at < cutoff,
        ),
        Category(
            "runs",
            "runs last changed before the cut-off (not a job's latest), or of purged jobs",
            runs.c.id,
            purged_run,
            lambda ids: [delete(run_io).where(run_io.c.run_id.in_(ids))],
        ),
        Category(
            "dataset_versions",
            "dataset versions made before the cut-off that no kept run used and are not "
            "current, or of purged datasets",
            dataset_versions.c.id,
            or_(
                and_(
                    dataset_versions.c.created_at < cutoff,
                    dataset_versions.c.uuid.not_in(current_dataset_versions),
                    dataset_versions.c.uuid.not_in(used_dataset_versions),
                ),
                dataset_versions.c.dataset_id.in_(purged_datasets),
            ),
        ),
        Category(
            "job_versions",
            "job versions made before the cut-off that no kept run used and are not current, "
            "or of purged jobs",
            job_versions.c.id,
            or_(
                and_(
                    job_versions.c.created_at < cutoff,
                    job_versions.c.uuid.not_in(current_job_versions),
                    job_versions.c.uuid.not_in(used_job_versions),
                ),
                job_versions.c.job_id.in_(purged_jobs),
            ),
        ),
        Category(
            "pipeline_runs",
            "pipeline runs ended before the cut-off, with their model runs and test results "
            "(not those holding a watermark)",
            pipeline_runs.c.run_uuid,
            and_(
                pipeline_runs.c.ended_at < cutoff,
                pipeline_runs.c.run_uuid.not_in(watermarked),
            ),
            lambda ids: [
                delete(test_results).where(
                    test_results.c.model_run_uuid.in_(
                        select(model_runs.c.run_uuid).where(model_runs.c.pipeline_run_uuid.in_(ids))
                    )
                ),
                delete(model_runs).where(model_runs.c.pipeline_run_uuid.in_(ids)),
            ],
        ),
        Category(
            "inbox_deliveries",
            "webhook deliveries landed and received before the cut-off",
            ingest_inbox.c.seq,
            and_(ingest_inbox.c.batch_id.is_not(None), ingest_inbox.c.received_at < cutoff),
        ),
        Category(
            "dead_letters",
            "dead letters replayed before the cut-off",
            ingest_dead_letters.c.id,
            ingest_dead_letters.c.replayed_at < cutoff,
        ),
        Category(
            "alert_notifications",
            "alert notifications sent before the cut-off",
            alert_notifications.c.id,
            alert_notifications.c.sent_at < cutoff,
        ),
        Category(
            "jobs_purged",
            "jobs soft-deleted before the grace period, with their edges and tags",
            jobs.c.id,
            jobs.c.id.in_(purged_jobs),
            lambda ids: [
                delete(job_io).where(job_io.c.job_id.in_(ids)),
                delete(job_tags).where(job_tags.c.job_id.in_(ids)),
                update(jobs).where(jobs.c.parent_job_id.in_(ids)).values(parent_job_id=None),
            ],
        ),
        Category(
            "datasets_purged",
            "datasets soft-deleted before the grace period, with their edges, tags and "
            "column lineage",
            datasets.c.id,
            datasets.c.id.in_(purged_datasets),
            lambda ids: [
                delete(job_io).where(job_io.c.dataset_id.in_(ids)),
                delete(run_io).where(run_io.c.dataset_id.in_(ids)),
                delete(dataset_tags).where(dataset_tags.c.dataset_id.in_(ids)),
                delete(dataset_field_tags).where(dataset_field_tags.c.dataset_id.in_(ids)),
                delete(column_lineage).where(
                    or_(
                        column_lineage.c.output_dataset_id.in_(ids),
                        column_lineage.c.input_dataset_id.in_(ids),
                    )
                ),
            ],
        ),
        # Last, so that nothing soft-deleted in this pass is purged in it.
        Category(
            "jobs_soft_deleted",
            "jobs with no run and no change since the cut-off",
            jobs.c.id,
            idle_job,
            soft_delete=True,
        ),
        Category(
            "datasets_soft_deleted",
            "datasets not written since the cut-off that no live job reads or writes",
            datasets.c.id,
            idle_dataset,
            soft_delete=True,
        ),
    ]


@dataclass(frozen=True, slots=True)
class Counted:
    name: str
    description: str
    rows: int
    batches: int = 0


@dataclass(frozen=True, slots=True)
class RetentionReport:
    policy: Policy
    executed: bool
    categories: list[Counted]

    def as_json(self) -> dict[str, Any]:
        return {
            **self.policy.as_json(),
            "executed": self.executed,
            "categories": {
                c.name: {"rows": c.rows, "batches": c.batches, "description": c.description}
                for c in self.categories
            },
        }


def _count(connection: Connection, category: Category) -> int:
    query = select(func.count()).select_from(category.key.table).where(category.where)
    return int(connection.execute(query).scalar_one())


def plan_retention(database: Database, policy: Policy) -> RetentionReport:
    """The exact rows each category would purge (or soft-delete), changing nothing."""
    with database.read() as connection:
        counted = [
            Counted(c.name, c.description, _count(connection, c)) for c in _categories(policy)
        ]
    return RetentionReport(policy, False, counted)


Progress = Callable[[str, int], None]  # category, rows done so far


def apply_retention(
    database: Database, policy: Policy, actor: str, progress: Progress | None = None
) -> RetentionReport:
    """Purge (and soft-delete) in batches of ``policy.batch_size``, each its own transaction
    with its own audit entry."""
    done: list[Counted] = []
    for category in _categories(policy):
        rows = batches = 0
        while True:
            with database.write() as connection:
                ids = list(
                    connection.execute(
                        select(category.key).where(category.where).limit(policy.batch_size)
                    ).scalars()
                )
                if not ids:
                    break
                for statement in category.statements(ids):
                    connection.execute(statement)
                batches += 1
                rows += len(ids)
                details = {
                    **policy.as_json(),
                    "category": category.name,
                    "rows": len(ids),
                    "batch": batches,
                }
                audit.append(
                    connection,
                    audit.AuditRecord(
                        "retention.purge", f"retention:{category.name}", actor, details
                    ),
                )
            fault_point("retention-batch", category.name)
            if progress is not None:
                progress(category.name, rows)
        done.append(Counted(category.name, category.description, rows, batches))
    return RetentionReport(policy, True, done)
