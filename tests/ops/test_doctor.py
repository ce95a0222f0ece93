"""``headwater doctor``: every finding of the runbooks' checks, each with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headwater.db import Database
from headwater.lake import Lake
from headwater.ops import HealthTargets
from headwater.ops import doctor as doctor_module
from headwater.ops.doctor import Finding, diagnose
from headwater.pipeline import load_project
from headwater.pipeline.runner import ensure_sources
from tests.conftest import Backend
from tests.ingest.deliveries import store, web_sources
from tests.lineage.events_factory import run_event
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


def findings(targets: HealthTargets, **kwargs: object) -> dict[tuple[str, str], Finding]:
    return {(f.check, f.subject): f for f in diagnose(targets, {}, **kwargs).findings}  # type: ignore[arg-type]


def test_layers_are_counted_side_by_side_and_a_model_behind_its_input_is_named(
    targets: HealthTargets, database: Database, lake: Lake, tmp_path: Path
) -> None:
    project = delivered_project(tmp_path / "project", lake, count=10)
    assert run_project(project, database, lake).status == "COMPLETED"
    append_orders(lake, orders(10, 5))
    found = diagnose(targets, {})
    assert [(layer.layer, layer.rows) for layer in found.layers] == [
        ("raw", 15),
        ("staging", 10),
        ("analytics", 10),
        ("marts", 1),
    ]
    stale = {(f.check, f.subject): f for f in found.findings}[("stale", "staging.stg_orders")]
    assert "raw.orders" in stale.problem
    assert stale.fix.startswith("headwater run") and "--select staging.stg_orders" in stale.fix
    run_project(project, database, lake)
    assert ("stale", "staging.stg_orders") not in findings(targets)


def test_failing_tests_small_files_and_lag_are_findings_with_their_fixes(
    targets: HealthTargets,
    database: Database,
    lake: Lake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {
        **MODELS,
        "marts/marts.yml": "models:\n  totals:\n    tests:\n"
        "      - row_count: {min: 5, severity: warn}\n",
    }
    root = write_project(tmp_path / "project", files)
    ensure_sources(load_project(root), lake)
    for batch in range(3):
        append_orders(lake, orders(batch, 1))
    run = run_project(root, database, lake)
    web_sources(tmp_path / "ingest", monkeypatch)
    store(database, range(2))
    monkeypatch.setattr(doctor_module, "SMALL_FILES_LIMIT", 2)
    monkeypatch.setattr(doctor_module, "LAG_LIMIT_S", -1)
    found = findings(targets)
    quality = found[("quality", "marts.totals row_count")]
    assert quality.level == "warning" and quality.fix == f"headwater runs show {run.run_uuid[:8]}"
    assert found[("compaction", "raw.orders")].fix == "headwater table compact raw.orders --execute"
    assert "2 deliveries waiting" in found[("ingest", "web/orders")].problem


def test_a_job_without_lineage_is_named_unless_it_is_a_view_or_a_parent(
    targets: HealthTargets, client: TestClient
) -> None:
    for job in ("lonely", "a_view"):
        assert (
            client.post("/api/v1/lineage", json=run_event("COMPLETE", job=job)).status_code == 201
        )
    found = findings(targets, views={"ns:a_view"})
    assert found[("lineage", "ns:lonely")].level == "info"
    assert ("lineage", "ns:a_view") not in found


def test_a_component_down_is_an_error_whose_fix_is_what_readiness_says(
    targets: HealthTargets,
) -> None:
    from dataclasses import replace

    found = findings(replace(targets, expect_consumer=True))
    consumer = found[("health", "consumer")]
    assert consumer.level == "error" and consumer.problem == "not running"
    assert "headwater ingest consume" in consumer.fix


def test_doctor_exits_0_when_clean_and_1_with_a_warning(
    backend: Backend, tmp_path: Path, database: Database, lake: Lake
) -> None:
    env = table_env(backend, tmp_path)
    clean = headwater("doctor", "--json", env=env, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    project = delivered_project(tmp_path / "project", lake, count=10)
    run_project(project, database, lake)
    append_orders(lake, orders(10, 5))
    behind = headwater("doctor", "--json", env=env, cwd=tmp_path)
    assert behind.returncode == 1
    checks = {f["check"] for f in json.loads(behind.stdout)["findings"]}
    assert "stale" in checks
