"""RunEvent, DatasetEvent and JobEvent are told apart by the ``schemaURL`` suffix, as in Marquez."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import lineage_events
from headwater.lineage.events import RUN_ID_NAMESPACE
from tests.lineage.events_factory import (
    SPEC,
    dataset,
    dataset_event,
    facet,
    job_event,
    new_run_id,
    row_counts,
    run_event,
    schema_facet,
)


def stored_kinds(database: Database) -> list[str]:
    with database.read() as connection:
        return list(
            connection.execute(
                select(lineage_events.c.kind).order_by(lineage_events.c.id)
            ).scalars()
        )


def test_an_event_without_schema_url_is_a_run_event(client: TestClient, database: Database) -> None:
    """No schemaURL at all: the event is a RunEvent and creates its run."""
    run_id = new_run_id()
    event = run_event("START", run_id=run_id, schema_url=None)
    assert client.post("/api/v1/lineage", json=event).status_code == 201
    assert client.get(f"/api/v1/jobs/runs/{run_id}").json()["state"] == "RUNNING"
    assert stored_kinds(database) == ["RUN"]


@pytest.mark.parametrize("suffix", ["#/$defs/RunEvent", "#/$defs/SomethingElse"])
def test_a_schema_url_not_naming_dataset_or_job_event_is_a_run_event(
    client: TestClient, database: Database, suffix: str
) -> None:
    run_id = new_run_id()
    event = run_event("COMPLETE", run_id=run_id, schema_url=SPEC + suffix)
    assert client.post("/api/v1/lineage", json=event).status_code == 201
    assert client.get(f"/api/v1/jobs/runs/{run_id}").json()["state"] == "COMPLETED"
    assert stored_kinds(database) == ["RUN"]


@pytest.mark.parametrize("suffix", ["#/$defs/DatasetEvent", "#/definitions/DatasetEvent"])
def test_a_dataset_event_updates_the_dataset_without_any_job_or_run(
    client: TestClient, database: Database, suffix: str
) -> None:
    """A DatasetEvent has no run or job: it records the dataset and its facets only."""
    custom = facet("CustomFacet", owner="team-a")
    ds = dataset("orders", facets={"schema": schema_facet("id", "amount"), "custom": custom})
    response = client.post("/api/v1/lineage", json=dataset_event(ds, schema_url=SPEC + suffix))
    assert response.status_code == 201

    body = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()
    assert [f["name"] for f in body["fields"]] == ["id", "amount"]
    assert body["facets"]["custom"] == custom
    counts = row_counts(database)
    assert (counts["jobs"], counts["runs"], counts["job_versions"]) == (0, 0, 0)
    assert stored_kinds(database) == ["DATASET"]


def test_a_dataset_event_does_not_need_run_or_job_fields(client: TestClient) -> None:
    """What a RunEvent requires (run.runId, job) is not asked of a DatasetEvent."""
    event = dataset_event(dataset("orders"))
    assert "run" not in event and "job" not in event
    assert client.post("/api/v1/lineage", json=event).status_code == 201


@pytest.mark.parametrize("suffix", ["#/$defs/JobEvent", "#/definitions/JobEvent"])
def test_a_job_event_records_the_job_and_its_datasets_without_a_run(
    client: TestClient, database: Database, suffix: str
) -> None:
    event = job_event(
        "load",
        inputs=[dataset("raw")],
        outputs=[dataset("clean")],
        job_facets={"documentation": facet("DocumentationJobFacet", description="Loads")},
        schema_url=SPEC + suffix,
    )
    assert "run" not in event
    assert client.post("/api/v1/lineage", json=event).status_code == 201

    job = client.get("/api/v1/namespaces/ns/jobs/load").json()
    assert job["inputs"] == [{"namespace": "warehouse", "name": "raw"}]
    assert job["outputs"] == [{"namespace": "warehouse", "name": "clean"}]
    assert job["description"] == "Loads"
    assert job["latestRun"] is None
    assert row_counts(database)["runs"] == 0
    assert stored_kinds(database) == ["JOB"]


def test_a_non_uuid_run_id_is_accepted_and_mapped_to_a_deterministic_uuid(
    client: TestClient,
) -> None:
    """Airflow-style ids such as ``dag.task.2024-05-01`` become a stable UUIDv5."""
    run_id = "etl.load.scheduled__2024-05-01T00:00:00"
    expected = str(uuid.uuid5(RUN_ID_NAMESPACE, run_id))
    assert client.post("/api/v1/lineage", json=run_event("START", run_id=run_id)).status_code == 201
    assert (
        client.post(
            "/api/v1/lineage", json=run_event("COMPLETE", run_id=run_id, minute=5)
        ).status_code
        == 201
    )

    by_original = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    by_uuid = client.get(f"/api/v1/jobs/runs/{expected}").json()
    assert by_original == by_uuid
    assert by_original["id"] == expected
    assert by_original["externalId"] == run_id
    assert by_original["state"] == "COMPLETED"
    runs = client.get("/api/v1/namespaces/ns/jobs/job/runs").json()
    assert runs["totalCount"] == 1


def test_two_different_non_uuid_run_ids_are_two_runs(client: TestClient) -> None:
    for run_id in ("run-1", "run-2"):
        client.post("/api/v1/lineage", json=run_event("START", run_id=run_id))
    runs = client.get("/api/v1/namespaces/ns/jobs/job/runs").json()["runs"]
    assert sorted(r["externalId"] for r in runs) == ["run-1", "run-2"]
    assert len({r["id"] for r in runs}) == 2


def test_a_uuid_run_id_is_kept_whatever_its_letter_case(client: TestClient) -> None:
    """``ABC...`` and ``abc...`` are the same UUID, so the same run."""
    run_id = new_run_id()
    client.post("/api/v1/lineage", json=run_event("START", run_id=run_id.upper()))
    client.post("/api/v1/lineage", json=run_event("COMPLETE", run_id=run_id, minute=1))

    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["id"] == run_id
    assert run["state"] == "COMPLETED"
    assert "externalId" not in run
    assert client.get("/api/v1/namespaces/ns/jobs/job/runs").json()["totalCount"] == 1
