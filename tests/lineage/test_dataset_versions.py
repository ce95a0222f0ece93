"""Dataset versions: one per schema or producer-version change, each tied to the run that made it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.lineage.events_factory import (
    dataset,
    facet,
    new_run_id,
    run_event,
    schema_facet,
    version_facet,
)

VERSIONS = "/api/v1/namespaces/warehouse/datasets/orders/versions"


def write_orders(
    client: TestClient, run_id: str, minute: int = 0, event_type: str = "COMPLETE", **facets: Any
) -> None:
    """A run of job ``writer`` writing ``orders`` with the given dataset facets."""
    event = run_event(
        event_type,
        run_id=run_id,
        job="writer",
        minute=minute,
        outputs=[dataset("orders", facets=facets)],
    )
    assert client.post("/api/v1/lineage", json=event).status_code == 201


def versions(client: TestClient) -> list[dict[str, Any]]:
    """Newest first."""
    body = client.get(VERSIONS).json()
    assert body["totalCount"] == len(body["versions"])
    result: list[dict[str, Any]] = body["versions"]
    return result


def test_a_dataset_has_one_version_from_the_run_that_first_wrote_it(client: TestClient) -> None:
    run_id = new_run_id()
    write_orders(client, run_id, schema=schema_facet("id", "amount"))
    [version] = versions(client)
    assert version["createdByRun"]["id"] == run_id
    assert [f["name"] for f in version["fields"]] == ["id", "amount"]
    current = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()["currentVersion"]
    assert current == version["version"]


def test_rewriting_with_the_same_schema_creates_no_new_version(client: TestClient) -> None:
    first = new_run_id()
    for minute, run_id in enumerate([first, new_run_id(), new_run_id()]):
        write_orders(client, run_id, minute, "START", schema=schema_facet("id"))
        write_orders(client, run_id, minute, "COMPLETE", schema=schema_facet("id"))
    [version] = versions(client)
    assert version["createdByRun"]["id"] == first


def test_other_facet_changes_create_no_new_version(client: TestClient) -> None:
    write_orders(client, new_run_id(), 0, schema=schema_facet("id"))
    write_orders(
        client,
        new_run_id(),
        1,
        schema=schema_facet("id"),
        documentation=facet("DocumentationDatasetFacet", description="All orders"),
        stats=facet("Custom", rows=10),
    )
    assert len(versions(client)) == 1
    ds = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()
    assert ds["description"] == "All orders"
    assert ds["facets"]["stats"]["rows"] == 10


def test_a_schema_change_creates_a_version_recording_the_run_that_produced_it(
    client: TestClient,
) -> None:
    first, second = new_run_id(), new_run_id()
    write_orders(client, first, 0, schema=schema_facet("id"))
    write_orders(client, second, 1, schema=schema_facet("id", ("amount", "DECIMAL")))

    newest, oldest = versions(client)
    assert newest["createdByRun"]["id"] == second
    assert oldest["createdByRun"]["id"] == first
    assert [f["name"] for f in newest["fields"]] == ["id", "amount"]
    assert [f["name"] for f in oldest["fields"]] == ["id"]
    ds = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()
    assert ds["currentVersion"] == newest["version"]
    assert [f["name"] for f in ds["fields"]] == ["id", "amount"]


def test_a_field_type_change_is_a_schema_change(client: TestClient) -> None:
    write_orders(client, new_run_id(), 0, schema=schema_facet(("amount", "INT")))
    write_orders(client, new_run_id(), 1, schema=schema_facet(("amount", "DECIMAL")))
    assert len(versions(client)) == 2


def test_a_version_facet_change_creates_a_version_and_its_value_is_shown(
    client: TestClient,
) -> None:
    """An Iceberg-style snapshot id is kept as ``datasetVersion`` on the version and dataset."""
    first, second = new_run_id(), new_run_id()
    write_orders(client, first, 0, schema=schema_facet("id"), version=version_facet("5812"))
    write_orders(client, second, 1, schema=schema_facet("id"), version=version_facet("5813"))

    newest, oldest = versions(client)
    assert (newest["datasetVersion"], newest["createdByRun"]["id"]) == ("5813", second)
    assert (oldest["datasetVersion"], oldest["createdByRun"]["id"]) == ("5812", first)
    ds = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()
    assert ds["datasetVersion"] == "5813"
    assert ds["currentVersion"] == newest["version"]


def test_the_same_version_facet_sent_by_start_and_complete_is_one_version(
    client: TestClient,
) -> None:
    run_id = new_run_id()
    write_orders(client, run_id, 0, "START", version=version_facet("snap-1"))
    write_orders(client, run_id, 1, "COMPLETE", version=version_facet("snap-1"))
    [version] = versions(client)
    assert version["datasetVersion"] == "snap-1"


def test_a_version_can_be_fetched_by_its_id_or_by_the_producers_version(
    client: TestClient,
) -> None:
    first = new_run_id()
    write_orders(client, first, 0, version=version_facet("snap-1"))
    write_orders(client, new_run_id(), 1, version=version_facet("snap-2"))
    oldest = versions(client)[1]

    by_id = client.get(f"{VERSIONS}/{oldest['version']}").json()
    by_snapshot = client.get(f"{VERSIONS}/snap-1").json()
    assert by_id == by_snapshot == oldest
    assert by_id["createdByRun"]["id"] == first
    missing = client.get(f"{VERSIONS}/snap-404")
    assert missing.status_code == 404
    assert set(missing.json()) == {"code", "message"}


def test_each_run_points_at_the_version_it_produced(client: TestClient) -> None:
    first, second, third = new_run_id(), new_run_id(), new_run_id()
    write_orders(client, first, 0, schema=schema_facet("id"))
    write_orders(client, second, 1, schema=schema_facet("id", "amount"))
    write_orders(client, third, 2, schema=schema_facet("id", "amount"))
    newest, oldest = versions(client)

    def output_version(run_id: str) -> str:
        run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
        [output] = run["outputDatasetVersions"]
        version: str = output["datasetVersionId"]["version"]
        return version

    assert output_version(first) == oldest["version"]
    assert output_version(second) == newest["version"]
    assert output_version(third) == newest["version"]


def test_a_reader_links_to_the_version_the_writer_produced(client: TestClient) -> None:
    """Reading the current snapshot creates no version and records the one read."""
    write_orders(client, new_run_id(), 0, schema=schema_facet("id"), version=version_facet("7"))
    reader = new_run_id()
    read = run_event(
        "COMPLETE",
        run_id=reader,
        job="reader",
        minute=1,
        inputs=[dataset("orders", facets={"version": version_facet("7")})],
    )
    assert client.post("/api/v1/lineage", json=read).status_code == 201

    [version] = versions(client)
    run = client.get(f"/api/v1/jobs/runs/{reader}").json()
    assert run["inputDatasetVersions"][0]["datasetVersionId"]["version"] == version["version"]


def test_a_dataset_first_seen_as_an_input_has_a_version_without_producing_run(
    client: TestClient,
) -> None:
    event = run_event("COMPLETE", job="reader", inputs=[dataset("orders")])
    assert client.post("/api/v1/lineage", json=event).status_code == 201
    [version] = versions(client)
    assert version["createdByRun"] is None


def read_orders(client: TestClient, snapshot: str, minute: int) -> str:
    """A run of job ``reader`` reading ``orders`` at the given snapshot; returns its run id."""
    run_id = new_run_id()
    event = run_event(
        "COMPLETE",
        run_id=run_id,
        job="reader",
        minute=minute,
        inputs=[dataset("orders", facets={"version": version_facet(snapshot)})],
    )
    assert client.post("/api/v1/lineage", json=event).status_code == 201
    return run_id


def test_a_reader_of_an_older_snapshot_links_to_it_and_leaves_the_current_version_alone(
    client: TestClient,
) -> None:
    """Time travel, or simply a reader's COMPLETE arriving after the next write: the snapshot
    read is not a new state of the dataset, so it neither adds a version nor rolls the
    dataset back, and the version keeps the run that produced it."""
    first, second = new_run_id(), new_run_id()
    write_orders(client, first, 0, schema=schema_facet("id"), version=version_facet("1"))
    write_orders(client, second, 1, schema=schema_facet("id"), version=version_facet("2"))

    reader = read_orders(client, "1", minute=2)

    newest, oldest = versions(client)
    ds = client.get("/api/v1/namespaces/warehouse/datasets/orders").json()
    assert (ds["datasetVersion"], ds["currentVersion"]) == ("2", newest["version"])
    run = client.get(f"/api/v1/jobs/runs/{reader}").json()
    assert run["inputDatasetVersions"][0]["datasetVersionId"]["version"] == oldest["version"]
    assert client.get(f"{VERSIONS}/1").json()["createdByRun"]["id"] == first


def test_a_reader_of_an_unknown_snapshot_adds_no_version(client: TestClient) -> None:
    write_orders(client, new_run_id(), 0, version=version_facet("1"))
    reader = read_orders(client, "0", minute=1)
    [version] = versions(client)
    assert (
        client.get("/api/v1/namespaces/warehouse/datasets/orders").json()["datasetVersion"] == "1"
    )
    run = client.get(f"/api/v1/jobs/runs/{reader}").json()
    assert run["inputDatasetVersions"][0]["datasetVersionId"]["version"] == version["version"]


def test_a_dataset_first_seen_by_a_reader_keeps_the_snapshot_it_read(client: TestClient) -> None:
    read_orders(client, "9", minute=0)
    [version] = versions(client)
    assert (version["datasetVersion"], version["createdByRun"]) == ("9", None)
