"""Posting events: single and batch endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip

import orjson
from fastapi.testclient import TestClient

from tests.conftest import reference_events


def test_single_event_answers_201_and_creates_the_job(client: TestClient) -> None:
    [(_, event)] = reference_events("openlineage-compat/simple_run_event")
    response = client.post("/api/v1/lineage", json=event)
    assert response.status_code == 201
    job = client.get("/api/v1/namespaces/job_namespace/jobs/job_name").json()
    assert job["inputs"] == [{"namespace": "bigquery", "name": "test.table.input"}]
    assert job["outputs"] == [{"namespace": "bigquery", "name": "test.table.output"}]
    assert job["latestRun"]["state"] == "COMPLETED"


def test_gzip_body_is_accepted(client: TestClient) -> None:
    [(_, event)] = reference_events("openlineage-compat/simple_run_event")
    response = client.post(
        "/api/v1/lineage",
        content=gzip.compress(orjson.dumps(event)),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert client.get("/api/v1/namespaces/bigquery/datasets").json()["totalCount"] == 2
