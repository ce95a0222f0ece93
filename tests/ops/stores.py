"""Stores with history to maintain: lineage runs posted through the real API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.lineage.events_factory import dataset, run_event, schema_facet


def post_runs(client: TestClient, job: str, count: int, *, start: int = 0) -> None:
    for n in range(start, start + count):
        inputs = [dataset(f"{job}_in")]
        outputs = [dataset(f"{job}_out", facets={"schema": schema_facet(f"c{n}")})]
        for kind in ("START", "COMPLETE"):
            event = run_event(kind, run_id=f"00000000-0000-4000-8000-{n:012d}", job=job)
            event["inputs"], event["outputs"] = inputs, outputs
            answer = client.post("/api/v1/lineage", json=event)
            assert answer.status_code == 201, answer.text
