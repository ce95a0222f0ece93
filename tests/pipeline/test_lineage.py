"""Every model run is reported as OpenLineage through the openlineage-python client.

Specification: by default events go into the local lineage store in-process; when the user
configures the client (``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``), they go where it
says (a real headwater server over HTTP, a file), and ``OPENLINEAGE_DISABLED`` turns them off.
Every event is valid against the spec, core and facets.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from headwater.db import Database
from headwater.db.schema import lineage_events
from headwater.lake import Lake
from tests.conftest import fresh_backend, running_server
from tests.pipeline.projects import (
    delivered_project,
    run_project,
)
from tests.pipeline.spec import facet_keys, spec_errors


@pytest.fixture
def project_dir(tmp_path: Path, lake: Lake) -> Path:
    return delivered_project(tmp_path / "project", lake)


def _stored_events(database: Database) -> int:
    with database.read() as connection:
        return int(
            connection.execute(select(func.count()).select_from(lineage_events)).scalar_one()
        )


def _to_file(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    """Configure the client's file transport, as a user would, through the environment."""
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(log))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")


def _file_events(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    project_dir: Path,
    database: Database,
    lake: Lake,
) -> list[dict[str, object]]:
    log = tmp_path / "events.jsonl"
    _to_file(monkeypatch, log)
    assert run_project(project_dir, database, lake).status == "COMPLETED"
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_by_default_events_go_into_the_local_store(
    project_dir: Path, database: Database, lake: Lake
) -> None:
    assert run_project(project_dir, database, lake).status == "COMPLETED"
    # pipeline, three models and the tests of marts.totals: a START and an end each
    assert _stored_events(database) == 10


def test_every_event_is_valid_and_carries_the_facets_a_run_produces(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    project_dir: Path,
    database: Database,
    lake: Lake,
) -> None:
    events = _file_events(monkeypatch, tmp_path, project_dir, database, lake)
    assert _stored_events(database) == 0  # the file transport replaced the local store
    assert len(events) == 10
    for event in events:
        assert spec_errors(event) == [], event["job"]
    by_job = {(e["job"]["name"], e["eventType"]): e for e in events}  # type: ignore[index]
    staging = by_job[("staging.stg_orders", "COMPLETE")]
    assert {
        "parent",
        "nominalTime",
        "processing_engine",
        "jobType",
        "sql",
        "sourceCodeLocation",
        "schema",
        "storage",
        "symlinks",
        "version",
        "columnLineage",
        "inputStatistics",
        "outputStatistics",
    } <= facet_keys(staging)
    (output,) = staging["outputs"]  # type: ignore[misc]
    table = lake.load("staging.stg_orders")
    assert table is not None
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert output["facets"]["version"]["datasetVersion"] == str(snapshot.snapshot_id)
    assert output["namespace"] == "file"
    assert output["name"] == table.location().removeprefix("file://")
    assert output["facets"]["symlinks"]["identifiers"][0]["name"] == "staging.stg_orders"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 20
    amount = output["facets"]["columnLineage"]["fields"]["amount"]["inputFields"][0]
    assert (amount["field"], amount["transformations"][0]["subtype"]) == (
        "amount",
        "TRANSFORMATION",
    )
    parent = staging["run"]["facets"]["parent"]  # type: ignore[index]
    assert parent["job"]["name"] == "shoptest"
    assert parent["run"]["runId"] == by_job[("shoptest", "START")]["run"]["runId"]  # type: ignore[index]
    tests = by_job[("marts.totals.tests", "COMPLETE")]
    assertions = tests["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]  # type: ignore[index]
    assert {(a["assertion"], a["success"]) for a in assertions} == {
        ("not_null", True),
        ("row_count", True),
    }


def test_a_failed_model_emits_fail_with_its_error_message(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    project_dir: Path,
    database: Database,
    lake: Lake,
) -> None:
    (project_dir / "models/marts/totals.sql").write_text("SELECT error('broken mart') AS x\n")
    log = tmp_path / "events.jsonl"
    _to_file(monkeypatch, log)
    assert run_project(project_dir, database, lake).status == "FAILED"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    for event in events:
        assert spec_errors(event) == []
    failed = [e for e in events if e["eventType"] == "FAIL"]
    assert {e["job"]["name"] for e in failed} == {"marts.totals", "shoptest"}
    mart = next(e for e in failed if e["job"]["name"] == "marts.totals")
    assert "broken mart" in mart["run"]["facets"]["errorMessage"]["message"]


def test_openlineage_url_sends_events_to_a_marquez_compatible_server(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    project_dir: Path,
    database: Database,
    lake: Lake,
) -> None:
    with (
        fresh_backend("sqlite", tmp_path / "server", migrated=True) as server_db,
        running_server(server_db, tmp_path / "server") as server,
    ):
        monkeypatch.setenv("OPENLINEAGE_URL", server.url)
        assert run_project(project_dir, database, lake).status == "COMPLETED"
        jobs = httpx.get(f"{server.url}/api/v1/namespaces/shoptest/jobs").json()["jobs"]
    names = {job["name"] for job in jobs}
    assert {"shoptest", "shoptest.staging.stg_orders", "shoptest.marts.totals"} <= names
    assert _stored_events(database) == 0


def test_openlineage_disabled_emits_nothing_and_the_run_still_completes(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert run_project(project_dir, database, lake).status == "COMPLETED"
    assert _stored_events(database) == 0


def test_an_unreachable_lineage_server_does_not_fail_the_data(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", "http://127.0.0.1:9")  # discard: refused
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "0")
    result = run_project(project_dir, database, lake)
    assert result.status == "COMPLETED"
    assert result.undelivered_events == 10
    assert _stored_events(database) == 0
