"""Retention: exact counts first, then the same rows purged in batches, each audited; what the
store still needs (latest runs, current versions, watermarks, waiting deliveries, the audit
log) is kept; datasets and jobs are soft-deleted one pass and purged a grace period later."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from headwater import audit, ingest
from headwater.db import Database
from headwater.db.schema import (
    audit_log,
    datasets,
    ingest_inbox,
    jobs,
    lineage_events,
    model_runs,
    model_watermarks,
    runs,
)
from headwater.lake import Lake
from headwater.ops.retention import Policy, apply_retention, plan_retention
from tests.ingest.deliveries import store, web_sources
from tests.ops.stores import post_runs
from tests.pipeline.projects import append_orders, delivered_project, orders, run_project

HOUR = timedelta(hours=1)


def later(days: float) -> datetime:
    """A clock ``days`` ahead: what is written now is old by then."""
    return datetime.now(UTC) + timedelta(days=days)


def count(database: Database, table: object, *where: object) -> int:
    with database.read() as connection:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(connection.execute(query).scalar_one())


def planned(database: Database, policy: Policy) -> dict[str, int]:
    return {c.name: c.rows for c in plan_retention(database, policy).categories}


def applied(database: Database, policy: Policy) -> dict[str, int]:
    return {c.name: c.rows for c in apply_retention(database, policy, "test").categories}


def test_the_dry_run_counts_exactly_what_is_then_purged(
    client: TestClient, database: Database
) -> None:
    post_runs(client, "etl", 3)
    policy = Policy.of(HOUR, timedelta(days=7), 1000, now=later(1))
    before = count(database, lineage_events)
    counts = planned(database, policy)
    assert count(database, lineage_events) == before, "a dry run changes nothing"
    assert counts["lineage_events"] == 6
    assert counts["runs"] == 2  # the job's latest run is kept
    assert counts["jobs_soft_deleted"] == 1 and counts["datasets_soft_deleted"] == 2
    assert applied(database, policy) == counts
    assert count(database, lineage_events) == 0
    assert count(database, runs) == 1
    assert planned(database, policy)["runs"] == 0


def test_batches_are_separate_transactions_each_with_an_audit_entry(
    client: TestClient, database: Database
) -> None:
    post_runs(client, "etl", 5)
    entries_before = count(database, audit_log)
    policy = Policy.of(HOUR, timedelta(days=7), 3, now=later(1))
    report = apply_retention(database, policy, "ops")
    by_name = {c.name: c for c in report.categories}
    assert by_name["lineage_events"].rows == 10
    assert by_name["lineage_events"].batches == math.ceil(10 / 3)
    entries = count(database, audit_log, audit_log.c.action == "retention.purge")
    assert entries == sum(c.batches for c in report.categories)
    # The audit log only grows, and still verifies.
    assert count(database, audit_log) == entries_before + entries
    with database.read() as connection:
        assert audit.verify_log(connection).ok


def test_nothing_younger_than_the_cut_off_is_touched(
    client: TestClient, database: Database
) -> None:
    post_runs(client, "etl", 3)
    policy = Policy.of(timedelta(days=90), timedelta(days=7), 1000)
    assert all(rows == 0 for rows in applied(database, policy).values())
    assert count(database, lineage_events) == 6


def test_soft_deleted_jobs_are_purged_only_after_the_grace_period_and_a_new_event_saves_them(
    client: TestClient, database: Database
) -> None:
    post_runs(client, "etl", 2)
    post_runs(client, "old", 1, start=10)
    first = Policy.of(HOUR, timedelta(days=7), 1000, now=later(1))
    assert applied(database, first)["jobs_soft_deleted"] == 2
    assert count(database, jobs, jobs.c.is_deleted.is_(True)) == 2
    assert client.get("/api/v1/namespaces/ns/jobs").json()["totalCount"] == 0

    post_runs(client, "etl", 1, start=20)  # etl runs again: it is back
    assert count(database, jobs, jobs.c.is_deleted.is_(False)) == 1

    within_grace = Policy.of(HOUR, timedelta(days=7), 1000, now=later(2))
    assert planned(database, within_grace)["jobs_purged"] == 0
    past_grace = Policy.of(HOUR, timedelta(days=7), 1000, now=later(9))
    counts = applied(database, past_grace)
    assert counts["jobs_purged"] == 1
    assert counts["datasets_purged"] == 2  # old_in and old_out, soft-deleted with it
    with database.read() as connection:
        names = set(connection.execute(select(jobs.c.name)).scalars())
        assert names == {"etl"}
        kept = set(connection.execute(select(datasets.c.name)).scalars())
    assert kept == {"etl_in", "etl_out"}
    # etl was idle again by then, so this pass soft-deleted it: never purged in the same pass.
    assert counts["jobs_soft_deleted"] == 1


def test_a_purged_store_still_answers_the_api(client: TestClient, database: Database) -> None:
    post_runs(client, "etl", 3)
    apply_retention(database, Policy.of(HOUR, timedelta(0), 1000, now=later(1)), "t")
    apply_retention(database, Policy.of(HOUR, timedelta(0), 1000, now=later(2)), "t")
    assert count(database, jobs) == 0 and count(database, runs) == 0
    for path in ("/api/v1/namespaces", "/api/v1/namespaces/ns/jobs", "/api/v1/search?q=etl"):
        assert client.get(path).status_code == 200
    post_runs(client, "etl", 1, start=30)
    assert client.get("/api/v1/namespaces/ns/jobs/etl").status_code == 200


def test_pipeline_history_goes_but_every_watermark_stays(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    project = delivered_project(tmp_path / "project", lake, count=10)
    assert run_project(project, database, lake).status == "COMPLETED"
    append_orders(lake, orders(10, 5))
    assert run_project(project, database, lake).status == "COMPLETED"
    counts = applied(database, Policy.of(HOUR, timedelta(days=7), 1000, now=later(1)))
    assert counts["pipeline_runs"] >= 1
    with database.read() as connection:
        marks = set(connection.execute(select(model_watermarks.c.model_run_uuid)).scalars())
        kept = set(connection.execute(select(model_runs.c.run_uuid)).scalars())
    assert marks and marks <= kept
    append_orders(lake, orders(15, 2))
    result = run_project(project, database, lake)
    assert result.status == "COMPLETED"
    assert result.outcomes["staging.stg_orders"].record.rows_read == 2


def test_landed_deliveries_go_and_waiting_ones_stay(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = web_sources(tmp_path / "project", monkeypatch)
    store(database, range(5))
    ingest.consume(database, lake, ingest.topics_of(sources), actor="t", once=True)
    store(database, range(5, 8))  # not landed yet
    counts = applied(database, Policy.of(HOUR, timedelta(days=7), 1000, now=later(1)))
    assert counts["inbox_deliveries"] == 5
    assert count(database, ingest_inbox) == 3
    # A re-delivery of a purged event id is stored again: retention is also the dedup window.
    store(database, range(2))
    assert count(database, ingest_inbox) == 5
