"""The Marquez v1 read API: namespaces, sources, datasets, jobs, runs, tags, events, health.

Everything here is posted as OpenLineage events through ``POST /api/v1/lineage`` and read
back through the API, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.lineage.graph_factory import (
    NS,
    PRODUCER,
    assert_400_naming,
    at,
    chain,
    dataset,
    dataset_event,
    get_ok,
    post,
    q,
    run_event,
)

API = "/api/v1"
RUN_1 = "11111111-1111-4111-8111-111111111111"
RUN_2 = "22222222-2222-4222-8222-222222222222"


def load_event(
    *,
    run_id: str = RUN_1,
    event_type: str = "COMPLETE",
    minutes: float = 0,
    fields: tuple[str, ...] = ("id", "amount"),
) -> dict[str, Any]:
    """``load`` reads ``raw`` and writes ``orders`` (with a schema) in namespace `NS`."""
    return run_event(
        "load",
        inputs=["raw"],
        outputs=[dataset("orders", fields=fields, description="all orders")],
        run_id=run_id,
        event_type=event_type,
        minutes=minutes,
        job_facets={
            "sourceCodeLocation": {
                "_producer": PRODUCER,
                "type": "git",
                "url": "https://example.com/etl/load.py",
            }
        },
        run_facets={
            "nominalTime": {
                "_producer": PRODUCER,
                "nominalStartTime": at(-5),
                "nominalEndTime": at(0),
            }
        },
    )


def load_run(client: TestClient) -> None:
    """One run of ``load``: START at minute 0, COMPLETE at minute 2."""
    post(
        client,
        load_event(event_type="START", minutes=0),
        load_event(event_type="COMPLETE", minutes=2),
    )


# -- namespaces ------------------------------------------------------------------------------


def test_namespaces_named_by_events_are_listed_by_name(client: TestClient) -> None:
    post(client, run_event("j", namespace="zeta", inputs=[dataset("t", namespace="alpha")]))
    body = get_ok(client, f"{API}/namespaces")
    assert [n["name"] for n in body["namespaces"]] == ["alpha", "zeta"]
    assert body["totalCount"] == 2


def test_a_namespace_has_marquez_fields(client: TestClient) -> None:
    post(client, run_event("j"))
    body = get_ok(client, f"{API}/namespaces/{NS}")
    assert {"name", "createdAt", "updatedAt", "ownerName", "description"} <= set(body)
    assert body["name"] == NS


def test_namespaces_page_with_limit_and_offset(client: TestClient) -> None:
    post(client, *(run_event("j", namespace=f"ns{i}") for i in range(5)))
    body = get_ok(client, f"{API}/namespaces", limit=2, offset=1)
    assert [n["name"] for n in body["namespaces"]] == ["ns1", "ns2"]
    assert body["totalCount"] == 5


def test_put_namespace_creates_and_updates_it(client: TestClient) -> None:
    response = client.put(f"{API}/namespaces/team", json={"ownerName": "me", "description": "ours"})
    assert response.status_code == 200
    assert response.json()["ownerName"] == "me"
    client.put(f"{API}/namespaces/team", json={"ownerName": "you"})
    assert get_ok(client, f"{API}/namespaces/team")["ownerName"] == "you"


def test_put_namespace_requires_an_owner(client: TestClient) -> None:
    response = client.put(f"{API}/namespaces/team", json={"description": "no owner"})
    assert response.status_code == 400
    assert "ownerName" in response.json()["message"]


def test_a_namespace_with_slashes_and_colons_works_percent_encoded(client: TestClient) -> None:
    pg = "postgres://db:5432"
    post(client, run_event("j", inputs=[dataset("/tmp/x/tbl", namespace=pg)]))
    assert get_ok(client, f"{API}/namespaces/{q(pg)}")["name"] == pg
    body = get_ok(client, f"{API}/namespaces/{q(pg)}/datasets/{q('/tmp/x/tbl')}")
    assert body["id"] == {"namespace": pg, "name": "/tmp/x/tbl"}
    listed = get_ok(client, f"{API}/namespaces/{q(pg)}/datasets")
    assert [d["name"] for d in listed["datasets"]] == ["/tmp/x/tbl"]


def test_unusual_characters_in_names_round_trip_through_paths(client: TestClient) -> None:
    for name in ["a b", "100%", "x?y#z", "a+b", "résumé", "dots.and-dashes"]:
        post(client, run_event(name, namespace=name, inputs=[dataset(name, namespace=name)]))
        assert get_ok(client, f"{API}/namespaces/{q(name)}")["name"] == name
        assert get_ok(client, f"{API}/namespaces/{q(name)}/datasets/{q(name)}")["name"] == name
        assert get_ok(client, f"{API}/namespaces/{q(name)}/jobs/{q(name)}")["name"] == name


def test_a_job_with_slashes_and_colons_works_everywhere_percent_encoded(
    client: TestClient,
) -> None:
    ns, job = "airflow://host:8080", "dags/etl:load"
    post(client, run_event(job, namespace=ns, run_id=RUN_1))
    base = f"{API}/namespaces/{q(ns)}/jobs/{q(job)}"
    assert get_ok(client, base)["id"] == {"namespace": ns, "name": job}
    assert [r["id"] for r in get_ok(client, f"{base}/runs")["runs"]] == [RUN_1]
    [version] = get_ok(client, f"{base}/versions")["versions"]
    get_ok(client, f"{base}/versions/{version['version']}")
    assert client.post(f"{base}/tags/T").json()["tags"] == ["T"]
    assert [j["name"] for j in get_ok(client, f"{API}/namespaces/{q(ns)}/jobs")["jobs"]] == [job]
    assert client.delete(base).status_code == 200
    assert client.get(base).status_code == 404


def test_deleting_a_namespace_hides_it_and_what_it_holds(client: TestClient) -> None:
    load_run(client)
    deleted = client.delete(f"{API}/namespaces/{NS}")
    assert deleted.status_code == 200
    assert deleted.json()["isHidden"] is True
    assert NS not in [n["name"] for n in get_ok(client, f"{API}/namespaces")["namespaces"]]
    assert client.get(f"{API}/namespaces/{NS}").status_code == 404
    assert client.delete(f"{API}/namespaces/{NS}").status_code == 404
    assert client.get(f"{API}/namespaces/{NS}/datasets/orders").status_code == 404
    assert client.get(f"{API}/namespaces/{NS}/jobs/load").status_code == 404


def test_a_deleted_namespace_returns_when_an_event_names_it(client: TestClient) -> None:
    load_run(client)
    client.delete(f"{API}/namespaces/{NS}")
    post(client, load_event(run_id=RUN_2, minutes=10))
    assert NS in [n["name"] for n in get_ok(client, f"{API}/namespaces")["namespaces"]]
    get_ok(client, f"{API}/namespaces/{NS}/jobs/load")


# -- sources ---------------------------------------------------------------------------------


def test_a_data_source_facet_becomes_a_source(client: TestClient) -> None:
    ref = dataset("orders")
    ref["facets"]["dataSource"] = {
        "_producer": PRODUCER,
        "name": "warehouse",
        "uri": "postgresql://db.example.com/mydb",
    }
    post(client, run_event("j", outputs=[ref]))
    source = get_ok(client, f"{API}/sources/warehouse")
    assert source["name"] == "warehouse"
    assert source["connectionUrl"] == "postgresql://db.example.com/mydb"
    assert source["type"] == "POSTGRESQL"
    assert {"createdAt", "updatedAt", "description"} <= set(source)
    listed = get_ok(client, f"{API}/sources")
    assert "warehouse" in [s["name"] for s in listed["sources"]]
    assert get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["sourceName"] == "warehouse"


def test_sources_with_slashes_work_percent_encoded(client: TestClient) -> None:
    """Without a dataSource facet, the dataset's namespace is its source, as in Marquez."""
    pg = "postgres://db:5432"
    post(client, run_event("j", inputs=[dataset("t", namespace=pg)]))
    assert get_ok(client, f"{API}/sources/{q(pg)}")["name"] == pg


# -- datasets --------------------------------------------------------------------------------

DATASET_KEYS = {
    "id",
    "type",
    "name",
    "physicalName",
    "createdAt",
    "updatedAt",
    "namespace",
    "sourceName",
    "fields",
    "tags",
    "lastModifiedAt",
    "description",
    "facets",
    "currentVersion",
    "deleted",
}


def test_a_dataset_has_the_marquez_shape(client: TestClient) -> None:
    load_run(client)
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")
    assert set(body) >= DATASET_KEYS
    assert body["id"] == {"namespace": NS, "name": "orders"}
    assert body["name"] == body["physicalName"] == "orders"
    assert body["description"] == "all orders"
    assert body["deleted"] is False
    assert body["fields"] == [
        {"name": "id", "type": "VARCHAR", "tags": [], "description": None},
        {"name": "amount", "type": "VARCHAR", "tags": [], "description": None},
    ]
    assert body["facets"]["schema"]["fields"][0]["name"] == "id"


def test_datasets_are_listed_by_name_with_a_total_count(client: TestClient) -> None:
    post(client, run_event("j", inputs=["c", "a"], outputs=["b"]))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets")
    assert [d["name"] for d in body["datasets"]] == ["a", "b", "c"]
    assert body["totalCount"] == 3


def test_dataset_lists_page_and_the_total_counts_every_page(client: TestClient) -> None:
    post(client, run_event("j", inputs=[f"t{i}" for i in range(5)]))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets", limit=2, offset=2)
    assert [d["name"] for d in body["datasets"]] == ["t2", "t3"]
    assert body["totalCount"] == 5
    assert get_ok(client, f"{API}/namespaces/{NS}/datasets", offset=10)["datasets"] == []


def test_a_dataset_event_alone_creates_a_dataset(client: TestClient) -> None:
    post(client, dataset_event(dataset("standalone", fields=["x"])))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/standalone")
    assert [f["name"] for f in body["fields"]] == ["x"]


def test_a_schema_change_makes_a_new_dataset_version(client: TestClient) -> None:
    post(client, load_event(fields=("id",), minutes=0))
    post(client, load_event(run_id=RUN_2, fields=("id", "amount"), minutes=5))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders/versions")
    assert body["totalCount"] == 2
    newest, oldest = body["versions"]
    assert [f["name"] for f in newest["fields"]] == ["id", "amount"]
    assert [f["name"] for f in oldest["fields"]] == ["id"]
    assert newest["id"] == {"namespace": NS, "name": "orders", "version": newest["version"]}
    assert newest["createdByRun"]["id"] == RUN_2
    current = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["currentVersion"]
    assert current == newest["version"]


def test_a_dataset_version_is_found_by_its_id(client: TestClient) -> None:
    load_run(client)
    [version] = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders/versions")["versions"]
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders/versions/{version['version']}")
    assert body["version"] == version["version"]
    assert body["createdByRun"]["id"] == RUN_1
    missing = client.get(f"{API}/namespaces/{NS}/datasets/orders/versions/{uuid.uuid4()}")
    assert missing.status_code == 404


def test_dataset_versions_page(client: TestClient) -> None:
    for i, fields in enumerate([("a",), ("a", "b"), ("a", "b", "c")]):
        post(client, load_event(run_id=str(uuid.uuid4()), fields=fields, minutes=i))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders/versions", limit=1, offset=1)
    assert body["totalCount"] == 3
    assert [f["name"] for f in body["versions"][0]["fields"]] == ["a", "b"]


def test_a_dataset_can_be_tagged_and_untagged(client: TestClient) -> None:
    load_run(client)
    url = f"{API}/namespaces/{NS}/datasets/orders/tags/PII"
    tagged = client.post(url)
    assert tagged.status_code == 200
    assert tagged.json()["tags"] == ["PII"]
    assert get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["tags"] == ["PII"]
    assert "PII" in [t["name"] for t in get_ok(client, f"{API}/tags")["tags"]]
    untagged = client.delete(url)
    assert untagged.status_code == 200
    assert untagged.json()["tags"] == []
    assert get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["tags"] == []


def test_tagging_twice_keeps_one_tag(client: TestClient) -> None:
    load_run(client)
    url = f"{API}/namespaces/{NS}/datasets/orders/tags/PII"
    client.post(url)
    assert client.post(url).json()["tags"] == ["PII"]


def test_a_dataset_field_can_be_tagged_and_untagged(client: TestClient) -> None:
    load_run(client)
    url = f"{API}/namespaces/{NS}/datasets/orders/fields/amount/tags/MONEY"
    assert client.post(url).status_code == 200
    fields = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["fields"]
    assert {f["name"]: f["tags"] for f in fields} == {"id": [], "amount": ["MONEY"]}
    client.delete(url)
    fields = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["fields"]
    assert {f["name"]: f["tags"] for f in fields} == {"id": [], "amount": []}


def test_tagging_an_unknown_field_is_404_naming_it(client: TestClient) -> None:
    load_run(client)
    response = client.post(f"{API}/namespaces/{NS}/datasets/orders/fields/nope/tags/X")
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_a_soft_deleted_dataset_is_gone_from_lists_and_lookups(client: TestClient) -> None:
    load_run(client)
    response = client.delete(f"{API}/namespaces/{NS}/datasets/orders")
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    assert response.json()["name"] == "orders"
    assert client.get(f"{API}/namespaces/{NS}/datasets/orders").status_code == 404
    listed = get_ok(client, f"{API}/namespaces/{NS}/datasets")
    assert [d["name"] for d in listed["datasets"]] == ["raw"]
    assert listed["totalCount"] == 1
    assert client.get(f"{API}/namespaces/{NS}/datasets/orders/versions").status_code == 404
    assert client.delete(f"{API}/namespaces/{NS}/datasets/orders").status_code == 404


def test_a_soft_deleted_dataset_returns_when_a_new_event_names_it(client: TestClient) -> None:
    load_run(client)
    client.delete(f"{API}/namespaces/{NS}/datasets/orders")
    post(client, load_event(run_id=RUN_2, minutes=10))
    body = get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")
    assert body["deleted"] is False
    assert get_ok(client, f"{API}/namespaces/{NS}/datasets")["totalCount"] == 2


# -- jobs ------------------------------------------------------------------------------------

JOB_KEYS = {
    "id",
    "type",
    "name",
    "createdAt",
    "updatedAt",
    "namespace",
    "inputs",
    "outputs",
    "location",
    "description",
    "latestRun",
    "facets",
    "currentVersion",
}


def test_a_job_has_the_marquez_shape(client: TestClient) -> None:
    load_run(client)
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs/load")
    assert set(body) >= JOB_KEYS
    assert body["id"] == {"namespace": NS, "name": "load"}
    assert body["type"] == "BATCH"
    assert body["inputs"] == [{"namespace": NS, "name": "raw"}]
    assert body["outputs"] == [{"namespace": NS, "name": "orders"}]
    assert body["location"] == "https://example.com/etl/load.py"
    assert body["latestRun"]["id"] == RUN_1
    assert body["latestRun"]["state"] == "COMPLETED"
    assert body["facets"]["sourceCodeLocation"]["url"] == "https://example.com/etl/load.py"


def test_jobs_are_listed_by_name_with_a_total_count(client: TestClient) -> None:
    post(client, *chain("a", "b", "c", "d"))
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs", limit=2)
    assert [j["name"] for j in body["jobs"]] == ["job1", "job2"]
    assert body["totalCount"] == 3


def test_all_jobs_are_listed_across_namespaces(client: TestClient) -> None:
    post(client, run_event("one", namespace="east"), run_event("two", namespace="west"))
    body = get_ok(client, f"{API}/jobs")
    assert {(j["namespace"], j["name"]) for j in body["jobs"]} == {
        ("east", "one"),
        ("west", "two"),
    }
    assert body["totalCount"] == 2
    assert get_ok(client, f"{API}/jobs", limit=1)["totalCount"] == 2


def test_paging_through_jobs_of_the_same_name_sees_each_once(client: TestClient) -> None:
    """Jobs are ordered by name, then namespace: pages never repeat or skip a tie."""
    post(client, *(run_event("same", namespace=ns) for ns in ("c", "a", "b")))
    pages = [get_ok(client, f"{API}/jobs", limit=1, offset=i)["jobs"] for i in range(3)]
    assert [page[0]["namespace"] for page in pages] == ["a", "b", "c"]


def test_a_jobs_runs_are_listed_newest_first(client: TestClient) -> None:
    load_run(client)
    post(
        client,
        load_event(run_id=RUN_2, event_type="START", minutes=10),
        load_event(run_id=RUN_2, event_type="FAIL", minutes=11),
    )
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs/load/runs")
    assert [(r["id"], r["state"]) for r in body["runs"]] == [
        (RUN_2, "FAILED"),
        (RUN_1, "COMPLETED"),
    ]
    assert body["totalCount"] == 2
    paged = get_ok(client, f"{API}/namespaces/{NS}/jobs/load/runs", limit=1, offset=1)
    assert [r["id"] for r in paged["runs"]] == [RUN_1]
    assert paged["totalCount"] == 2
    assert get_ok(client, f"{API}/namespaces/{NS}/jobs/load")["latestRun"]["id"] == RUN_2


def test_a_change_of_inputs_makes_a_new_job_version(client: TestClient) -> None:
    load_run(client)
    post(client, run_event("load", inputs=["raw", "extra"], outputs=["orders"], minutes=10))
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs/load/versions")
    assert body["totalCount"] == 2
    newest = body["versions"][0]
    assert newest["inputs"] == [
        {"namespace": NS, "name": "extra"},
        {"namespace": NS, "name": "raw"},
    ]
    assert newest["id"] == {"namespace": NS, "name": "load", "version": newest["version"]}
    assert (
        get_ok(client, f"{API}/namespaces/{NS}/jobs/load")["currentVersion"] == (newest["version"])
    )


def test_a_job_version_is_found_by_its_id_with_its_latest_run(client: TestClient) -> None:
    load_run(client)
    [version] = get_ok(client, f"{API}/namespaces/{NS}/jobs/load/versions")["versions"]
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs/load/versions/{version['version']}")
    assert body["version"] == version["version"]
    assert body["latestRun"]["id"] == RUN_1
    missing = client.get(f"{API}/namespaces/{NS}/jobs/load/versions/{uuid.uuid4()}")
    assert missing.status_code == 404


def test_a_job_can_be_tagged_and_untagged(client: TestClient) -> None:
    load_run(client)
    url = f"{API}/namespaces/{NS}/jobs/load/tags/CRITICAL"
    assert client.post(url).json()["tags"] == ["CRITICAL"]
    assert get_ok(client, f"{API}/namespaces/{NS}/jobs/load")["tags"] == ["CRITICAL"]
    assert client.delete(url).json()["tags"] == []
    assert get_ok(client, f"{API}/namespaces/{NS}/jobs/load")["tags"] == []


def test_a_soft_deleted_job_is_gone_from_lists_and_lookups(client: TestClient) -> None:
    post(client, *chain("a", "b", "c"))
    response = client.delete(f"{API}/namespaces/{NS}/jobs/job1")
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    assert client.get(f"{API}/namespaces/{NS}/jobs/job1").status_code == 404
    assert client.get(f"{API}/namespaces/{NS}/jobs/job1/runs").status_code == 404
    listed = get_ok(client, f"{API}/namespaces/{NS}/jobs")
    assert [j["name"] for j in listed["jobs"]] == ["job2"]
    assert listed["totalCount"] == 1
    assert [j["name"] for j in get_ok(client, f"{API}/jobs")["jobs"]] == ["job2"]


def test_a_soft_deleted_job_returns_when_a_new_event_names_it(client: TestClient) -> None:
    load_run(client)
    client.delete(f"{API}/namespaces/{NS}/jobs/load")
    post(client, load_event(run_id=RUN_2, minutes=10))
    body = get_ok(client, f"{API}/namespaces/{NS}/jobs/load")
    assert body["deleted"] is False
    assert body["latestRun"]["id"] == RUN_2


# -- runs ------------------------------------------------------------------------------------


def test_a_run_is_found_by_its_id(client: TestClient) -> None:
    load_run(client)
    run = get_ok(client, f"{API}/jobs/runs/{RUN_1}")
    assert run["id"] == RUN_1
    assert run["state"] == "COMPLETED"
    assert run["startedAt"] == at(0)
    assert run["endedAt"] == at(2)
    assert run["durationMs"] == 120_000
    assert run["nominalStartTime"] == at(-5)
    assert run["nominalEndTime"] == at(0)
    assert run["jobVersion"]["namespace"] == NS
    assert run["jobVersion"]["name"] == "load"
    [read] = run["inputDatasetVersions"]
    [written] = run["outputDatasetVersions"]
    assert read["datasetVersionId"]["name"] == "raw"
    assert written["datasetVersionId"]["name"] == "orders"
    assert (
        written["datasetVersionId"]["version"]
        == (get_ok(client, f"{API}/namespaces/{NS}/datasets/orders")["currentVersion"])
    )


def test_a_run_that_has_only_started_is_running(client: TestClient) -> None:
    post(client, load_event(event_type="START"))
    run = get_ok(client, f"{API}/jobs/runs/{RUN_1}")
    assert run["state"] == "RUNNING"
    assert run["endedAt"] is None
    assert run["durationMs"] is None


def test_a_run_with_a_non_uuid_id_is_found_by_that_id(client: TestClient) -> None:
    """Some producers send runIds that are not UUIDs; Marquez users look them up as sent."""
    post(client, run_event("j", run_id="scheduled__2024-05-01"))
    run = get_ok(client, f"{API}/jobs/runs/scheduled__2024-05-01")
    assert run["state"] == "COMPLETED"
    assert get_ok(client, f"{API}/jobs/runs/{run['id']}")["id"] == run["id"]


def test_run_facets_are_the_facets_the_run_was_sent(client: TestClient) -> None:
    load_run(client)
    body = get_ok(client, f"{API}/jobs/runs/{RUN_1}/facets", type="run")
    assert body["runId"] == RUN_1
    assert body["facets"]["nominalTime"]["nominalStartTime"] == at(-5)
    assert get_ok(client, f"{API}/jobs/runs/{RUN_1}/facets") == body  # run is the default


def test_job_facets_of_a_run_are_those_its_events_carried(client: TestClient) -> None:
    load_run(client)
    body = get_ok(client, f"{API}/jobs/runs/{RUN_1}/facets", type="job")
    assert body["runId"] == RUN_1
    assert body["facets"]["sourceCodeLocation"]["url"] == "https://example.com/etl/load.py"
    assert "nominalTime" not in body["facets"]


def test_an_unknown_facet_type_is_400_naming_type(client: TestClient) -> None:
    load_run(client)
    response = client.get(f"{API}/jobs/runs/{RUN_1}/facets", params={"type": "dataset"})
    assert response.status_code == 400
    assert "type" in response.json()["message"]


# -- tags ------------------------------------------------------------------------------------


def test_tags_can_be_created_with_a_description_and_listed(client: TestClient) -> None:
    response = client.put(f"{API}/tags/SENSITIVE", json={"description": "handle with care"})
    assert response.status_code == 200
    assert {"name": "SENSITIVE", "description": "handle with care"} in response.json()["tags"]
    client.put(f"{API}/tags/ALPHA")
    listed = get_ok(client, f"{API}/tags")["tags"]
    assert [t["name"] for t in listed] == ["ALPHA", "SENSITIVE"]


# -- raw events ------------------------------------------------------------------------------


@pytest.fixture
def five_events(client: TestClient) -> list[dict[str, Any]]:
    """Five events, one a minute from minute 0 to minute 4, posted out of order."""
    events = [run_event(f"job{i}", minutes=i) for i in range(5)]
    post(client, *(events[i] for i in (3, 0, 4, 1, 2)))
    return events


def event_jobs(body: dict[str, Any]) -> list[str]:
    return [e["job"]["name"] for e in body["events"]]


def test_events_are_listed_newest_first_by_default(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    body = get_ok(client, f"{API}/events/lineage")
    assert event_jobs(body) == ["job4", "job3", "job2", "job1", "job0"]
    assert body["totalCount"] == 5


def test_events_come_back_as_they_were_sent(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    body = get_ok(client, f"{API}/events/lineage", sortDirection="asc")
    assert body["events"] == five_events


def test_events_can_be_listed_oldest_first(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    body = get_ok(client, f"{API}/events/lineage", sortDirection="asc")
    assert event_jobs(body) == ["job0", "job1", "job2", "job3", "job4"]


def test_events_before_a_time_exclude_that_time(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    """As in Marquez (``event_time < :before``), so paging back by the last time seen works."""
    body = get_ok(client, f"{API}/events/lineage", before=at(2))
    assert event_jobs(body) == ["job1", "job0"]
    assert body["totalCount"] == 2


def test_events_after_a_time_include_that_time(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    """As in Marquez (``event_time >= :after``)."""
    body = get_ok(client, f"{API}/events/lineage", after=at(3))
    assert event_jobs(body) == ["job4", "job3"]


def test_events_between_two_times(client: TestClient, five_events: list[dict[str, Any]]) -> None:
    body = get_ok(client, f"{API}/events/lineage", after=at(1), before=at(4))
    assert event_jobs(body) == ["job3", "job2", "job1"]
    assert body["totalCount"] == 3


def test_event_time_bounds_honour_their_time_zone(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    """12:03Z written as 14:03+02:00 is the same instant."""
    body = get_ok(client, f"{API}/events/lineage", before="2024-05-01T14:03:00+02:00")
    assert event_jobs(body) == ["job2", "job1", "job0"]
    naive = get_ok(client, f"{API}/events/lineage", before="2024-05-01T12:03:00")
    assert event_jobs(naive) == ["job2", "job1", "job0"]  # no zone means UTC


def test_events_page_with_limit_and_offset(
    client: TestClient, five_events: list[dict[str, Any]]
) -> None:
    body = get_ok(client, f"{API}/events/lineage", limit=2, offset=1, sortDirection="asc")
    assert event_jobs(body) == ["job1", "job2"]
    assert body["totalCount"] == 5


def test_bad_event_query_parameters_are_400_naming_them(client: TestClient) -> None:
    assert_400_naming(
        client,
        f"{API}/events/lineage",
        [
            ({"sortDirection": "sideways"}, "sortDirection"),
            ({"before": "yesterday"}, "before"),
            ({"after": "2024-13-45T00:00:00Z"}, "after"),
            ({"limit": "abc"}, "limit"),
            ({"limit": "-1"}, "limit"),
            ({"offset": "-5"}, "offset"),
        ],
    )


# -- health ----------------------------------------------------------------------------------


def test_health_answers_ok(client: TestClient) -> None:
    assert get_ok(client, f"{API}/health") == {"status": "ok"}
