"""The signals alert rules watch, measured from a real store, and alerts end to end: a failing
pipeline fires PipelineFailure to a real webhook receiver, and its fix resolves it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.db import Database
from headwater.lake import Lake
from headwater.ops import HealthTargets, Measurement, measure
from headwater.pipeline import load_project
from headwater.pipeline.runner import ensure_sources
from tests.conftest import Backend
from tests.ingest.deliveries import store
from tests.ops.notifying import receiving
from tests.ops.test_cli import table_env
from tests.pipeline.projects import (
    MODELS,
    append_orders,
    delivered_project,
    orders,
    run_project,
    write_project,
)
from tests.test_cli import headwater


@pytest.fixture
def targets(database: Database, lake: Lake, tmp_path: Path) -> HealthTargets:
    return HealthTargets(database, lambda: lake, lake.warehouse, tmp_path, 0)


def ran_project(
    lake: Lake, database: Database, root: Path, files: dict[str, str]
) -> tuple[Path, str]:
    """A project of ``files`` with 3 orders delivered, run once: its folder and run status."""
    write_project(root, files)
    ensure_sources(load_project(root), lake)
    append_orders(lake, orders(0, 3))
    return root, run_project(root, database, lake).status


BROKEN = {**MODELS, "marts/totals.sql": "SELECT no_such_column FROM analytics.order_log\n"}


def by_signal(found: list[Measurement], signal: str) -> dict[str | None, Measurement]:
    return {m.subject: m for m in found if m.signal == signal}


def test_a_healthy_store_measures_every_signal_it_has_subjects_for(
    targets: HealthTargets, database: Database, lake: Lake, tmp_path: Path
) -> None:
    project = delivered_project(tmp_path / "project", lake, count=10)
    append_orders(lake, orders(10, 10))
    assert run_project(project, database, lake).status == "COMPLETED"
    found = measure(targets)
    assert by_signal(found, "catalog_up")[None].value == 1.0
    assert by_signal(found, "storage_up")[None].value == 1.0
    assert by_signal(found, "pipeline_failed")["shoptest"].value == 0.0
    assert by_signal(found, "job_failed")["shoptest:shoptest.staging.stg_orders"].value == 0.0
    assert by_signal(found, "table_small_files")["raw.orders"].value == 2.0
    assert (
        "headwater table compact raw.orders"
        in by_signal(found, "table_small_files")["raw.orders"].detail
    )
    assert by_signal(found, "lineage_missing_pct")[None].value == 0.0
    assert 0 < (by_signal(found, "storage_used_pct")[None].value or 0) < 100
    assert "error_rate_pct" not in {m.signal for m in found}  # this process served nothing


def test_a_failed_pipeline_and_a_failed_job_measure_1(
    targets: HealthTargets, database: Database, lake: Lake, tmp_path: Path
) -> None:
    assert ran_project(lake, database, tmp_path / "project", BROKEN)[1] == "FAILED"
    found = measure(targets)
    assert by_signal(found, "pipeline_failed")["shoptest"].value == 1.0
    assert by_signal(found, "job_failed")["shoptest:shoptest.marts.totals"].value == 1.0


def test_waiting_deliveries_measure_their_lag(targets: HealthTargets, database: Database) -> None:
    store(database, range(3))
    lag = by_signal(measure(targets), "consumer_lag_s")["web/orders"]
    assert lag.value is not None and lag.value >= 0
    assert lag.detail == "3 deliveries waiting"


def test_entity_coverage_is_read_from_a_model_named_entity_coverage(
    targets: HealthTargets, database: Database, lake: Lake, tmp_path: Path
) -> None:
    files = {
        **MODELS,
        "marts/entity_coverage.sql": "SELECT 0.8 AS coverage FROM analytics.order_log LIMIT 1\n",
    }
    assert ran_project(lake, database, tmp_path / "project", files)[1] == "COMPLETED"
    assert by_signal(measure(targets), "entity_coverage_pct")["marts.entity_coverage"].value == 80.0


def test_a_catalog_that_is_down_measures_0_and_its_tables_not_at_all(
    database: Database, tmp_path: Path
) -> None:
    def broken() -> Lake:
        raise ConnectionError("catalog unreachable")

    targets = HealthTargets(database, broken, (tmp_path / "w").as_uri(), tmp_path, 0)
    found = measure(targets)
    assert by_signal(found, "catalog_up")[None].value == 0.0
    assert "table_small_files" not in {m.signal for m in found}


ALERTS = """
alerts:
  notifiers:
    hook: {{type: webhook, url: "{url}", secret_env: HOOK_SECRET}}
  defaults: {{notify: [hook]}}
  rules:
    - {{name: PipelineFailure, cooldown: 1h}}
    - {{name: JobFailure, enabled: false}}
"""


@pytest.mark.slow
def test_a_failing_pipeline_fires_to_a_real_receiver_and_its_fix_resolves(
    backend: Backend, database: Database, lake: Lake, tmp_path: Path
) -> None:
    root, status = ran_project(lake, database, tmp_path / "project", BROKEN)
    assert status == "FAILED"
    env = {**table_env(backend, tmp_path), "HOOK_SECRET": "s3cret"}
    with receiving() as receiver:
        (root / "headwater.yml").write_text(
            (root / "headwater.yml").read_text() + ALERTS.format(url=receiver.url)
        )
        fired = headwater("alerts", "evaluate", "-p", str(root), "--json", env=env, cwd=tmp_path)
        assert fired.returncode == 0, fired.stderr
        listed = headwater("alerts", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 1, "a firing alert makes `alerts list` exit 1"
        again = headwater("alerts", "evaluate", "-p", str(root), env=env, cwd=tmp_path)
        assert again.returncode == 0
        assert len(receiver.requests) == 1, "no repeat inside the cooldown"
        body = json.loads(receiver.requests[0].body)
        assert (body["rule"], body["subject"], body["state"]) == (
            "PipelineFailure",
            "shoptest",
            "firing",
        )

        (root / "models" / "marts" / "totals.sql").write_text(MODELS["marts/totals.sql"])
        assert run_project(root, database, lake).status == "COMPLETED"
        resolved = headwater("alerts", "evaluate", "-p", str(root), env=env, cwd=tmp_path)
        assert resolved.returncode == 0
        assert [json.loads(r.body)["state"] for r in receiver.requests] == ["firing", "resolved"]
    assert headwater("alerts", "list", env=env, cwd=tmp_path).returncode == 0
