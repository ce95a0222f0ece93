"""The demo's sample: a small multi-job pipeline with column lineage, a failed run and a re-run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from headwater.demo import sample_events


def test_the_sample_loads_and_tells_the_pipelines_story(client: TestClient) -> None:
    events = sample_events()
    answer = client.post("/api/v1/lineage/batch", json=events).json()
    assert answer["summary"]["failed"] == 0

    jobs = client.get("/api/v1/namespaces/shop/jobs").json()["jobs"]
    children = [j for j in jobs if j["parentJobName"] == "shop_pipeline"]
    assert len(children) == 4

    runs = client.get("/api/v1/namespaces/shop/jobs/shop_pipeline.daily_revenue/runs").json()
    states = [r["state"] for r in runs["runs"]]  # newest first: the re-run, the failure, day one
    assert states == ["COMPLETED", "FAILED", "COMPLETED"]
    assert "Quality gate failed" in runs["runs"][1]["facets"]["errorMessage"]["message"]

    upstream = client.get(
        "/api/v1/column-lineage",
        params={"nodeId": "datasetField:shop:marts.daily_revenue:revenue", "depth": 10},
    ).json()["graph"]
    assert "datasetField:shop:raw.orders:amount" in {node["id"] for node in upstream}

    graph = client.get(
        "/api/v1/lineage",
        params={"nodeId": "dataset:shop:marts.daily_revenue", "direction": "upstream"},
    ).json()["graph"]
    assert {"dataset:shop:raw.orders", "dataset:shop:raw.customers"} <= {n["id"] for n in graph}

    versions = client.get("/api/v1/namespaces/shop/datasets/marts.daily_revenue/versions").json()
    assert versions["totalCount"] == 2  # one per successful day: the snapshot id changed
    assert all(v["datasetVersion"] for v in versions["versions"])


def test_the_sample_is_the_same_every_time() -> None:
    assert sample_events() == sample_events()
