"""Jobs: the ``parent`` facet's hierarchy, versions from inputs/outputs/location, current edges."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import runs
from headwater.lineage.events import RUN_ID_NAMESPACE
from tests.lineage.events_factory import (
    dataset,
    facet,
    location_facet,
    new_run_id,
    parent_facet,
    run_event,
)
from tests.lineage.graph_factory import post


def get_job(client: TestClient, name: str, namespace: str = "ns") -> dict[str, Any]:
    response = client.get(f"/api/v1/namespaces/{namespace}/jobs/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def job_names(client: TestClient, namespace: str = "ns") -> list[str]:
    jobs = client.get(f"/api/v1/namespaces/{namespace}/jobs").json()["jobs"]
    return sorted(j["name"] for j in jobs)


def parent_run_of(database: Database, run_id: str) -> str | None:
    with database.read() as connection:
        value: str | None = connection.execute(
            select(runs.c.parent_run_uuid).where(runs.c.uuid == run_id)
        ).scalar_one()
        return value


# -- hierarchy -------------------------------------------------------------------------------


def test_a_child_job_is_named_parent_dot_child(client: TestClient, database: Database) -> None:
    parent_run = new_run_id()
    child_run = new_run_id()
    post(
        client,
        run_event(
            "START",
            run_id=child_run,
            job="task",
            run_facets={"parent": parent_facet("dag", parent_run)},
        ),
    )

    assert job_names(client) == ["dag", "dag.task"]
    child = get_job(client, "dag.task")
    parent = get_job(client, "dag")
    assert child["simpleName"] == "task"
    assert child["parentJobName"] == "dag"
    assert child["parentJobUuid"] is not None
    assert parent["parentJobName"] is None
    assert child["latestRun"]["id"] == child_run
    assert parent_run_of(database, child_run) == parent_run


def test_a_child_already_prefixed_with_its_parent_keeps_its_name(client: TestClient) -> None:
    """Airflow and Spark send ``dag.task``; it must not become ``dag.dag.task``."""
    post(
        client,
        run_event(
            "START", job="dag.task", run_facets={"parent": parent_facet("dag", new_run_id())}
        ),
    )
    assert job_names(client) == ["dag", "dag.task"]
    assert get_job(client, "dag.task")["simpleName"] == "task"


def test_the_same_simple_name_under_two_parents_is_two_jobs(client: TestClient) -> None:
    for parent in ("dag_a", "dag_b"):
        post(
            client,
            run_event(
                "START", job="load", run_facets={"parent": parent_facet(parent, new_run_id())}
            ),
        )
    assert job_names(client) == ["dag_a", "dag_a.load", "dag_b", "dag_b.load"]


def test_a_parent_in_another_namespace_is_created_there(client: TestClient) -> None:
    facet_ = parent_facet("scheduler_dag", new_run_id(), namespace="airflow")
    post(client, run_event("START", job="spark_app", run_facets={"parent": facet_}))
    assert job_names(client, "airflow") == ["scheduler_dag"]
    assert get_job(client, "scheduler_dag.spark_app")["parentJobName"] == "scheduler_dag"


def test_a_parent_run_id_that_is_not_a_uuid_is_mapped_deterministically(
    client: TestClient, database: Database
) -> None:
    child_run = new_run_id()
    facet_ = parent_facet("dag", "dag.scheduled__2024-05-01")
    post(client, run_event("START", run_id=child_run, job="task", run_facets={"parent": facet_}))
    expected = str(uuid.uuid5(RUN_ID_NAMESPACE, "dag.scheduled__2024-05-01"))
    assert parent_run_of(database, child_run) == expected


def test_later_events_of_a_child_run_without_the_parent_facet_stay_on_the_child_job(
    client: TestClient,
) -> None:
    """As in Marquez, an existing run keeps its job: a COMPLETE that omits the parent facet
    completes ``dag.task``, and no stray ``task`` job appears."""
    run_id = new_run_id()
    parent = {"parent": parent_facet("dag", new_run_id())}
    post(client, run_event("START", run_id=run_id, job="task", run_facets=parent))
    post(
        client, run_event("COMPLETE", run_id=run_id, job="task", minute=1, outputs=[dataset("out")])
    )

    assert job_names(client) == ["dag", "dag.task"]
    child = get_job(client, "dag.task")
    assert child["latestRun"]["state"] == "COMPLETED"
    assert child["outputs"] == [{"namespace": "warehouse", "name": "out"}]
    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["jobVersion"]["name"] == "dag.task"
    assert run["jobVersion"]["version"] == child["currentVersion"]


# -- job versions ----------------------------------------------------------------------------


def versions_of(client: TestClient, name: str) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/namespaces/ns/jobs/{name}/versions").json()
    result: list[dict[str, Any]] = body["versions"]
    assert body["totalCount"] == len(result)
    return result


def run_etl(
    client: TestClient,
    minute: int,
    inputs: list[str],
    outputs: list[str],
    location: str | None = None,
) -> str:
    run_id = new_run_id()
    job_facets = {"sourceCodeLocation": location_facet(location)} if location else None
    post(
        client,
        run_event(
            "COMPLETE",
            run_id=run_id,
            job="etl",
            minute=minute,
            inputs=[dataset(n) for n in inputs],
            outputs=[dataset(n) for n in outputs],
            job_facets=job_facets,
        ),
    )
    return run_id


def test_runs_with_the_same_inputs_outputs_and_location_share_one_job_version(
    client: TestClient,
) -> None:
    runs_ = [run_etl(client, m, ["raw"], ["clean"]) for m in range(3)]
    [version] = versions_of(client, "etl")
    assert version["inputs"] == [{"namespace": "warehouse", "name": "raw"}]
    assert version["outputs"] == [{"namespace": "warehouse", "name": "clean"}]
    for run_id in runs_:
        run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
        assert run["jobVersion"]["version"] == version["version"]


def test_new_inputs_outputs_or_location_make_a_new_job_version(client: TestClient) -> None:
    run_etl(client, 0, ["raw"], ["clean"])
    run_etl(client, 1, ["raw", "extra"], ["clean"])
    run_etl(client, 2, ["raw", "extra"], ["clean", "report"])
    run_etl(client, 3, ["raw", "extra"], ["clean", "report"], location="https://git/etl@v2")
    run_etl(client, 4, ["raw", "extra"], ["clean", "report"], location="https://git/etl@v2")
    versions = versions_of(client, "etl")
    assert len(versions) == 4
    assert len({v["version"] for v in versions}) == 4
    job = get_job(client, "etl")
    assert job["location"] == "https://git/etl@v2"
    current = client.get(f"/api/v1/namespaces/ns/jobs/etl/versions/{job['currentVersion']}").json()
    assert current["location"] == "https://git/etl@v2"


def test_a_job_shows_the_inputs_and_outputs_of_its_latest_version(client: TestClient) -> None:
    run_etl(client, 0, ["raw"], ["clean"])
    run_etl(client, 1, ["raw"], ["report"])
    job = get_job(client, "etl")
    assert job["inputs"] == [{"namespace": "warehouse", "name": "raw"}]
    assert job["outputs"] == [{"namespace": "warehouse", "name": "report"}]


def test_inputs_and_outputs_of_one_run_accumulate_over_its_events(client: TestClient) -> None:
    """START names the inputs, COMPLETE the outputs: the job has both, in one version."""
    run_id = new_run_id()
    post(client, run_event("START", run_id=run_id, job="etl", inputs=[dataset("raw")]))
    post(
        client,
        run_event("COMPLETE", run_id=run_id, job="etl", minute=1, outputs=[dataset("clean")]),
    )
    job = get_job(client, "etl")
    assert job["inputs"] == [{"namespace": "warehouse", "name": "raw"}]
    assert job["outputs"] == [{"namespace": "warehouse", "name": "clean"}]
    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["jobVersion"]["version"] == job["currentVersion"]
    version = client.get(f"/api/v1/namespaces/ns/jobs/etl/versions/{job['currentVersion']}").json()
    assert version["inputs"] == job["inputs"]
    assert version["outputs"] == job["outputs"]


def test_job_facets_are_merged_and_described(client: TestClient) -> None:
    post(
        client,
        run_event(
            "START",
            job="etl",
            job_facets={
                "documentation": facet("DocumentationJobFacet", description="Cleans raw data"),
                "jobType": facet(
                    "JobTypeJobFacet",
                    processingType="STREAMING",
                    integration="FLINK",
                    jobType="JOB",
                ),
            },
        ),
    )
    job = get_job(client, "etl")
    assert job["description"] == "Cleans raw data"
    assert job["type"] == "STREAM"
    assert job["facets"]["jobType"]["integration"] == "FLINK"


def test_a_run_that_names_no_datasets_belongs_to_the_jobs_current_version(
    client: TestClient,
) -> None:
    """A START without inputs/outputs neither erases the job's edges nor has no version."""
    post(
        client,
        run_event(
            "COMPLETE",
            run_id=new_run_id(),
            job="load",
            inputs=[dataset("a")],
            outputs=[dataset("b")],
        ),
    )
    version = get_job(client, "load")["currentVersion"]
    bare_run = new_run_id()
    post(client, run_event("START", run_id=bare_run, job="load", minute=5))
    job = get_job(client, "load")
    assert job["currentVersion"] == version
    assert job["inputs"] == [{"namespace": "warehouse", "name": "a"}]
    assert job["outputs"] == [{"namespace": "warehouse", "name": "b"}]
    run = client.get(f"/api/v1/jobs/runs/{bare_run}").json()
    assert run["jobVersion"]["version"] == version
