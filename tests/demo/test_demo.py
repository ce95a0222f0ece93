"""``headwater demo`` (what ``make demo`` runs): the shop pipeline end to end, twice.

Specification: the first call feeds batch 0 (web store and payments as signed webhooks, the
point of sale as a pulled database), runs the pipeline from scratch, feeds batch 1 and runs it
incrementally; each later call feeds and runs one more batch. Every model
completes, the entity coverage holds, and every OpenLineage event the demo emits is valid
against the spec, core schema and every facet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import jobs
from tests.conftest import Backend
from tests.pipeline.spec import spec_errors
from tests.test_cli import headwater

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
def test_the_demo_runs_the_shop_pipeline_and_then_one_more_day(
    backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "examples").symlink_to(EXAMPLES)
    env = {"HEADWATER_DATABASE_URL": backend.url, "HEADWATER_HOME": str(tmp_path / "home")}
    first = headwater("demo", "--orders", "3000", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "batch 0: " in first.stdout and "batch 1: " in first.stdout
    assert "COMPLETED" in first.stdout and "FAILED" not in first.stdout
    # The web store and the payments came in as signed webhooks, each event once: the day's
    # duplicate deliveries were answered "duplicate" and never stored.
    status = headwater("ingest", "status", "--json", "-p", "examples/shop", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    topics = {f"{t['source']}/{t['topic']}": t for t in json.loads(status.stdout)}
    assert set(topics) == {"web/orders", "web/customers", "payments/refunds"}
    for topic in topics.values():
        assert topic["received"] == topic["landed"] > 0 and topic["waiting"] == 0
        assert topic["counters"]["duplicates"] > 0
    # The point of sale was pulled from its database, and every landing is a lineage run.
    database = Database(backend.url)
    with database.read() as connection:
        jobs_run = set(connection.execute(select(jobs.c.name)).scalars())
    database.dispose()
    assert {"ingest.web.orders", "ingest.payments.refunds", "ingest.db.pos_orders"} <= jobs_run
    second = headwater("demo", "--orders", "3000", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "batch 2: " in second.stdout

    runs = json.loads(headwater("runs", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [r["status"] for r in runs] == ["COMPLETED"] * 3
    detail = json.loads(
        headwater("runs", "show", runs[0]["run_uuid"], "--json", env=env, cwd=tmp_path).stdout
    )
    modes = {m["model"]: m["mode"] for m in detail["model_runs"]}
    assert modes["staging.stg_orders"] == "incremental"
    assert modes["analytics.order_facts"] == "incremental"
    coverage = headwater(
        "sql", "SELECT coverage FROM marts.entity_coverage", "--json", env=env, cwd=tmp_path
    )
    assert json.loads(coverage.stdout)[0]["coverage"] >= 0.9
    verify = headwater("audit", "verify", "--json", env=env, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout


@pytest.mark.slow
def test_every_event_of_the_demo_is_valid_against_the_spec(
    backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "examples").symlink_to(EXAMPLES)
    log = tmp_path / "events.jsonl"
    env = {
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(log),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    result = headwater("demo", "--orders", "1000", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    # two pipeline runs of nine models, each model and each tested model a START and an end
    assert len(events) >= 2 * (2 + 9 * 2)
    problems = {
        f"{e['job']['name']} {e['eventType']}": spec_errors(e) for e in events if spec_errors(e)
    }
    assert problems == {}
    with_lineage = {
        e["job"]["name"]
        for e in events
        if e["eventType"] == "COMPLETE"
        and any("columnLineage" in o.get("facets", {}) for o in e.get("outputs", []))
    }
    assert {"shop.staging.stg_orders", "shop.marts.daily_revenue"} <= {
        f"shop.{name}" for name in with_lineage
    }


@pytest.mark.slow
def test_a_day_larger_than_the_inbox_backlog_limit_is_landed_while_it_is_posted(
    tmp_path: Path,
) -> None:
    """The demo lands while it posts, as `headwater up` does: with a backlog limit far below
    the day's deliveries, the receiver answers 503 only until the consumer catches up."""
    (tmp_path / "examples").symlink_to(EXAMPLES)
    env = {
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_INGEST_MAX_BACKLOG": "200",
        "HEADWATER_INGEST_RETRY_AFTER_S": "1",
    }
    result = headwater("demo", "--orders", "2000", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    status = headwater("ingest", "status", "--json", "-p", "examples/shop", env=env, cwd=tmp_path)
    topics = json.loads(status.stdout)
    assert all(t["received"] == t["landed"] > 0 and t["waiting"] == 0 for t in topics)
    assert sum(t["counters"]["backpressure"] for t in topics) > 0, "the limit was reached"
