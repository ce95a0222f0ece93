"""``POST /api/v1/lineage/batch``: an array of events, answered as the OpenLineage spec says."""

from __future__ import annotations

import gzip
from functools import cache
from typing import Any

import jsonschema
import orjson
import yaml
from fastapi.testclient import TestClient

from headwater.db import Database
from tests.conftest import REFERENCE
from tests.lineage.events_factory import (
    dataset,
    dataset_event,
    job_event,
    new_run_id,
    row_counts,
    run_event,
)


@cache
def batch_answer_schema() -> dict[str, Any]:
    """The 200 answer's schema from the OpenLineage spec's OpenAPI document."""
    spec = yaml.safe_load((REFERENCE / "openlineage-spec" / "OpenLineage.yml").read_text())
    responses = spec["paths"]["/lineage/batch"]["post"]["responses"]
    schema: dict[str, Any] = responses["200"]["content"]["application/json"]["schema"]
    return schema


def post_batch(client: TestClient, events: list[Any]) -> dict[str, Any]:
    response = client.post("/api/v1/lineage/batch", json=events)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    jsonschema.validate(body, batch_answer_schema())
    return body


def test_a_batch_of_good_events_answers_success_with_a_summary(
    client: TestClient, database: Database
) -> None:
    events = [run_event("COMPLETE", job=f"job{i}") for i in range(3)]
    body = post_batch(client, events)
    assert body == {
        "status": "success",
        "summary": {
            "received": 3,
            "successful": 3,
            "failed": 0,
            "retriable": 0,
            "non_retriable": 0,
        },
        "failed_events": [],
    }
    assert row_counts(database)["runs"] == 3
    assert client.get("/api/v1/namespaces/ns/jobs").json()["totalCount"] == 3


def test_invalid_events_are_reported_by_index_and_reason_and_the_others_are_stored(
    client: TestClient, database: Database
) -> None:
    no_run_id = run_event("START")
    del no_run_id["run"]["runId"]
    bad_time = run_event("START", job="bad_time")
    bad_time["eventTime"] = "yesterday"
    good = [run_event("COMPLETE", job="a"), run_event("COMPLETE", job="b")]

    body = post_batch(client, [good[0], no_run_id, 42, good[1], bad_time])

    assert body["status"] == "partial_success"
    assert body["summary"] == {
        "received": 5,
        "successful": 2,
        "failed": 3,
        "retriable": 0,
        "non_retriable": 3,
    }
    failed = body["failed_events"]
    assert [f["index"] for f in failed] == [1, 2, 4]
    assert all(f["retriable"] is False for f in failed)
    assert "run.runId" in failed[0]["reason"]
    assert "object" in failed[1]["reason"]
    assert "eventTime" in failed[2]["reason"]
    jobs = client.get("/api/v1/namespaces/ns/jobs").json()["jobs"]
    assert sorted(j["name"] for j in jobs) == ["a", "b"]
    assert row_counts(database)["lineage_events"] == 2


def test_an_empty_batch_succeeds_with_nothing_received(
    client: TestClient, database: Database
) -> None:
    before = row_counts(database)
    body = post_batch(client, [])
    assert body["status"] == "success"
    assert body["summary"]["received"] == 0
    assert row_counts(database) == before


def test_when_every_event_fails_nothing_is_stored_and_all_are_reported(
    client: TestClient, database: Database
) -> None:
    before = row_counts(database)
    body = post_batch(client, [{}, [], "event"])
    assert body["status"] != "success"
    assert body["summary"]["failed"] == body["summary"]["received"] == 3
    assert [f["index"] for f in body["failed_events"]] == [0, 1, 2]
    assert row_counts(database) == before


def test_events_of_a_batch_apply_in_array_order(client: TestClient) -> None:
    """START, RUNNING then COMPLETE of one run in one batch leave it COMPLETED."""
    run_id = new_run_id()
    events = [
        run_event("START", run_id=run_id, minute=0, inputs=[dataset("raw")]),
        run_event("RUNNING", run_id=run_id, minute=1),
        run_event("COMPLETE", run_id=run_id, minute=2, outputs=[dataset("clean")]),
    ]
    post_batch(client, events)
    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["state"] == "COMPLETED"
    job = client.get("/api/v1/namespaces/ns/jobs/job").json()
    assert job["inputs"] == [{"namespace": "warehouse", "name": "raw"}]
    assert job["outputs"] == [{"namespace": "warehouse", "name": "clean"}]


def test_a_duplicate_within_a_batch_succeeds_and_is_stored_once(
    client: TestClient, database: Database
) -> None:
    event = run_event("START")
    body = post_batch(client, [event, event])
    assert body["summary"]["successful"] == 2
    assert body["failed_events"] == []
    assert row_counts(database)["lineage_events"] == 1


def test_a_batch_mixes_run_dataset_and_job_events(client: TestClient, database: Database) -> None:
    events = [
        run_event("COMPLETE", job="runner"),
        dataset_event(dataset("described")),
        job_event("static", outputs=[dataset("made")]),
    ]
    body = post_batch(client, events)
    assert body["status"] == "success"
    names = [
        d["name"] for d in client.get("/api/v1/namespaces/warehouse/datasets").json()["datasets"]
    ]
    assert names == ["described", "made"]
    jobs = client.get("/api/v1/namespaces/ns/jobs").json()["jobs"]
    assert sorted(j["name"] for j in jobs) == ["runner", "static"]
    assert row_counts(database)["runs"] == 1


def test_a_gzip_encoded_batch_is_accepted(client: TestClient) -> None:
    events = [run_event("COMPLETE", job=f"zipped{i}") for i in range(2)]
    response = client.post(
        "/api/v1/lineage/batch",
        content=gzip.compress(orjson.dumps(events)),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["summary"]["successful"] == 2
    assert client.get("/api/v1/namespaces/ns/jobs").json()["totalCount"] == 2


def test_a_gzip_encoded_single_event_is_accepted(client: TestClient) -> None:
    run_id = new_run_id()
    response = client.post(
        "/api/v1/lineage",
        content=gzip.compress(orjson.dumps(run_event("COMPLETE", run_id=run_id))),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert client.get(f"/api/v1/jobs/runs/{run_id}").json()["state"] == "COMPLETED"
