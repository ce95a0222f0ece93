"""``GET /api/v1/lineage``: the job/dataset graph around one node, in Marquez's shape.

Most tests use the chain ``a -> job1 -> b -> job2 -> c -> job3 -> d``. ``depth`` counts job
hops from the start node, as in Marquez: depth 0 from a job is the job and its datasets.
``direction`` and ``maxNodes``/``truncated`` are headwater additions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from headwater.db import Database
from headwater.lineage.graph import lineage_graph
from tests.conftest import REFERENCE
from tests.lineage.graph_factory import (
    NS,
    assert_400_naming,
    chain,
    dataset,
    dataset_event,
    get_ok,
    post,
    q,
    run_event,
)

A, B, C, D = (f"dataset:{NS}:{x}" for x in "abcd")
JOB1, JOB2, JOB3 = (f"job:{NS}:job{i}" for i in (1, 2, 3))
WHOLE_CHAIN = {A, B, C, D, JOB1, JOB2, JOB3}


def lineage(client: TestClient, node_id: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get_ok(client, "/api/v1/lineage", nodeId=node_id, **params)
    return body


def node_ids(body: dict[str, Any]) -> set[str]:
    return {node["id"] for node in body["graph"]}


def edges(body: dict[str, Any]) -> set[tuple[str, str]]:
    """Every edge of the graph as (origin, destination), from both sides of each node."""
    found: set[tuple[str, str]] = set()
    for node in body["graph"]:
        for edge in node["inEdges"] + node["outEdges"]:
            found.add((edge["origin"], edge["destination"]))
    return found


def node(body: dict[str, Any], node_id: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [n for n in body["graph"] if n["id"] == node_id]
    assert len(matches) == 1, f"{node_id} appears {len(matches)} times"
    return matches[0]


def assert_consistent(body: dict[str, Any]) -> None:
    """Edges join nodes of this graph and appear on both of their ends."""
    present = node_ids(body)
    for n in body["graph"]:
        for edge in n["inEdges"]:
            assert edge["destination"] == n["id"]
            assert edge["origin"] in present
            assert edge in node(body, edge["origin"])["outEdges"]
        for edge in n["outEdges"]:
            assert edge["origin"] == n["id"]
            assert edge["destination"] in present
            assert edge in node(body, edge["destination"])["inEdges"]


def assert_connected(body: dict[str, Any], start: str) -> None:
    """Every node can be reached from ``start`` over the graph's edges (in any direction)."""
    neighbours: dict[str, set[str]] = {n: set() for n in node_ids(body)}
    for origin, destination in edges(body):
        neighbours[origin].add(destination)
        neighbours[destination].add(origin)
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    assert seen == node_ids(body)


@pytest.fixture
def chained(client: TestClient) -> TestClient:
    post(client, *chain("a", "b", "c", "d"))
    return client


# -- shape -----------------------------------------------------------------------------------


def test_nodes_have_the_keys_of_marquez_node_json(chained: TestClient) -> None:
    """Every node carries id, type, data, inEdges, outEdges; dataset data has Marquez's keys."""
    reference = json.loads((REFERENCE / "marquez" / "lineage" / "node.json").read_text())
    body = lineage(chained, JOB2)
    for n in body["graph"]:
        assert set(n) == set(reference)
        for edge in n["inEdges"] + n["outEdges"]:
            assert set(edge) == set(reference["inEdges"][0])
    data = node(body, B)["data"]
    assert set(reference["data"]) <= set(data)
    assert data["id"] == {"namespace": NS, "name": "b"}
    assert node(body, B)["type"] == "DATASET"


def test_job_nodes_carry_marquez_job_data(chained: TestClient) -> None:
    job = node(lineage(chained, JOB2), JOB2)
    assert job["type"] == "JOB"
    assert job["data"]["id"] == {"namespace": NS, "name": "job2"}
    assert job["data"]["inputs"] == [{"namespace": NS, "name": "b"}]
    assert job["data"]["outputs"] == [{"namespace": NS, "name": "c"}]
    assert job["data"]["latestRun"]["state"] == "COMPLETED"
    expected = {"id", "type", "name", "namespace", "inputs", "outputs", "location", "latestRun"}
    assert expected <= set(job["data"])


def test_node_ids_are_kind_namespace_name(chained: TestClient) -> None:
    assert node_ids(lineage(chained, A)) == WHOLE_CHAIN


def test_edges_run_from_input_dataset_to_job_to_output_dataset(chained: TestClient) -> None:
    body = lineage(chained, B)
    assert node(body, B)["inEdges"] == [{"origin": JOB1, "destination": B}]
    assert node(body, B)["outEdges"] == [{"origin": B, "destination": JOB2}]
    assert node(body, JOB2)["inEdges"] == [{"origin": B, "destination": JOB2}]
    assert node(body, JOB2)["outEdges"] == [{"origin": JOB2, "destination": C}]
    assert edges(body) == {(A, JOB1), (JOB1, B), (B, JOB2), (JOB2, C), (C, JOB3), (JOB3, D)}
    assert_consistent(body)


def test_graph_is_sorted_by_node_id_as_in_marquez(client: TestClient) -> None:
    """Marquez returns the graph as a set sorted by node id; a stable order diffs cleanly.

    Names are created in reverse alphabetical order so that storage order cannot pass for it.
    """
    post(
        client,
        run_event("zeta", inputs=["z_in"], outputs=["y_out"]),
        run_event("beta", inputs=["y_out"], outputs=["m_mid", "a_end"]),
        run_event("alpha", inputs=["m_mid"], outputs=["b_end"]),
    )
    ids = [n["id"] for n in lineage(client, f"dataset:{NS}:m_mid")["graph"]]
    assert len(ids) == 8
    assert ids == sorted(ids)


def test_the_answer_says_it_was_not_truncated_and_which_cap_applied(chained: TestClient) -> None:
    body = lineage(chained, B)
    assert body["truncated"] is False
    assert body["maxNodes"] == 2000  # the server default, lineage_max_nodes


# -- depth -----------------------------------------------------------------------------------


def test_depth_zero_from_a_job_is_the_job_and_its_datasets(chained: TestClient) -> None:
    assert node_ids(lineage(chained, JOB2, depth=0)) == {JOB2, B, C}


def test_depth_one_from_a_job_adds_the_neighbouring_jobs_and_their_datasets(
    chained: TestClient,
) -> None:
    assert node_ids(lineage(chained, JOB2, depth=1)) == WHOLE_CHAIN


def test_depth_zero_from_a_dataset_is_its_jobs_and_their_datasets(chained: TestClient) -> None:
    # Marquez picks one job touching the dataset; headwater takes all of them, so the answer
    # does not depend on which job Marquez's query happens to return first.
    assert node_ids(lineage(chained, B, depth=0)) == {A, JOB1, B, JOB2, C}


def test_depth_counts_job_hops_from_the_end_of_the_chain(chained: TestClient) -> None:
    assert node_ids(lineage(chained, A, depth=0)) == {A, JOB1, B}
    assert node_ids(lineage(chained, A, depth=1)) == {A, JOB1, B, JOB2, C}
    assert node_ids(lineage(chained, A, depth=2)) == WHOLE_CHAIN


def test_default_depth_covers_a_long_pipeline(client: TestClient) -> None:
    names = [f"t{i:02d}" for i in range(12)]
    post(client, *chain(*names))
    body = lineage(client, f"dataset:{NS}:t00")
    assert len(body["graph"]) == 12 + 11


def test_edges_stop_at_the_depth_boundary(chained: TestClient) -> None:
    """No edge points at a node that was left out by the depth limit."""
    body = lineage(chained, JOB2, depth=0)
    assert edges(body) == {(B, JOB2), (JOB2, C)}
    assert_consistent(body)


# -- direction -------------------------------------------------------------------------------


def test_both_directions_is_the_default(chained: TestClient) -> None:
    assert node_ids(lineage(chained, C)) == node_ids(lineage(chained, C, direction="both"))


def test_upstream_from_a_dataset_follows_writers_and_their_inputs(chained: TestClient) -> None:
    assert node_ids(lineage(chained, C, direction="upstream")) == {C, JOB2, B, JOB1, A}


def test_downstream_from_a_dataset_follows_readers_and_their_outputs(
    chained: TestClient,
) -> None:
    assert node_ids(lineage(chained, B, direction="downstream")) == {B, JOB2, C, JOB3, D}


def test_upstream_from_a_job_starts_with_its_inputs(chained: TestClient) -> None:
    assert node_ids(lineage(chained, JOB2, direction="upstream")) == {JOB2, B, JOB1, A}


def test_downstream_from_a_job_starts_with_its_outputs(chained: TestClient) -> None:
    assert node_ids(lineage(chained, JOB2, direction="downstream")) == {JOB2, C, JOB3, D}


def test_direction_respects_depth(chained: TestClient) -> None:
    assert node_ids(lineage(chained, D, direction="upstream", depth=0)) == {D, JOB3, C}
    assert node_ids(lineage(chained, D, direction="upstream", depth=1)) == {
        D,
        JOB3,
        C,
        JOB2,
        B,
    }
    assert node_ids(lineage(chained, A, direction="downstream", depth=0)) == {A, JOB1, B}


def test_upstream_leaves_out_siblings_written_by_the_same_job(client: TestClient) -> None:
    """Upstream of ``b`` is what ``b`` came from, not everything its writer also wrote."""
    post(client, run_event("split", inputs=["a"], outputs=["b", "side"]))
    body = lineage(client, B, direction="upstream")
    assert node_ids(body) == {B, f"job:{NS}:split", A}
    assert_consistent(body)


def test_both_directions_includes_other_readers_of_a_shared_input(client: TestClient) -> None:
    """As in Marquez, the undirected walk reaches jobs that only share an input."""
    post(
        client,
        run_event("left", inputs=["a"], outputs=["l"]),
        run_event("right", inputs=["a"], outputs=["r"]),
    )
    assert node_ids(lineage(client, f"dataset:{NS}:l")) == {
        f"dataset:{NS}:l",
        f"job:{NS}:left",
        A,
        f"job:{NS}:right",
        f"dataset:{NS}:r",
    }
    assert node_ids(lineage(client, f"dataset:{NS}:l", direction="upstream")) == {
        f"dataset:{NS}:l",
        f"job:{NS}:left",
        A,
    }


def test_directional_graphs_have_consistent_edges(chained: TestClient) -> None:
    for direction in ("upstream", "downstream"):
        body = lineage(chained, C, direction=direction)
        assert_consistent(body)
        assert_connected(body, C)


def test_a_cycle_does_not_loop_forever(client: TestClient) -> None:
    post(
        client,
        run_event("forward", inputs=["x"], outputs=["y"]),
        run_event("backward", inputs=["y"], outputs=["x"]),
    )
    for direction in ("upstream", "downstream", "both"):
        body = lineage(client, f"dataset:{NS}:x", direction=direction)
        assert len(body["graph"]) == 4
        assert_consistent(body)


# -- node cap --------------------------------------------------------------------------------


def test_max_nodes_cuts_the_graph_and_says_so(chained: TestClient) -> None:
    body = lineage(chained, JOB2, maxNodes=3)
    assert body["truncated"] is True
    assert body["maxNodes"] == 3
    assert len(body["graph"]) <= 3
    assert JOB2 in node_ids(body)
    assert_consistent(body)


def test_a_cap_the_graph_exactly_fits_is_not_truncation(chained: TestClient) -> None:
    assert lineage(chained, JOB2, maxNodes=7)["truncated"] is False
    assert len(lineage(chained, JOB2, maxNodes=7)["graph"]) == 7
    assert lineage(chained, JOB2, maxNodes=6)["truncated"] is True


def test_a_cap_of_one_keeps_only_the_start_node(chained: TestClient) -> None:
    body = lineage(chained, B, maxNodes=1)
    assert node_ids(body) == {B}
    assert body["truncated"] is True
    assert node(body, B)["inEdges"] == node(body, B)["outEdges"] == []


def test_truncation_keeps_the_nodes_nearest_the_start(client: TestClient) -> None:
    """Breadth-first: a cut graph holds whole near layers before anything farther away."""
    post(client, *chain(*"abcdefgh"))
    body = lineage(client, f"dataset:{NS}:a", maxNodes=5)
    assert node_ids(body) == {A, JOB1, B, JOB2, C}
    assert body["truncated"] is True


def test_max_nodes_applies_to_directional_walks(chained: TestClient) -> None:
    body = lineage(chained, D, direction="upstream", maxNodes=3)
    assert node_ids(body) == {D, JOB3, C}
    assert body["truncated"] is True


def test_a_fan_out_wider_than_the_cap_is_cut_in_its_first_layer(client: TestClient) -> None:
    """The walk stops early once it has seen more jobs than fit; the cut still keeps whole
    nearer layers and takes a layer's nodes in the order they were created."""
    readers = [f"reader{i:02d}" for i in range(30)]
    post(client, *(run_event(r, inputs=["hub"], outputs=[f"out_{r}"]) for r in readers))
    hub = f"dataset:{NS}:hub"
    body = lineage(client, hub, maxNodes=12)
    assert body["truncated"] is True
    assert node_ids(body) == {hub} | {f"job:{NS}:{r}" for r in readers[:11]}
    assert_consistent(body)
    assert len(lineage(client, hub, depth=0)["graph"]) == 1 + 30 + 30


# -- special nodes ---------------------------------------------------------------------------


def test_a_dataset_no_job_touches_is_a_graph_of_one(client: TestClient) -> None:
    post(client, dataset_event(dataset("lonely", fields=["id"])))
    body = lineage(client, f"dataset:{NS}:lonely")
    assert node_ids(body) == {f"dataset:{NS}:lonely"}
    assert body["graph"][0]["inEdges"] == body["graph"][0]["outEdges"] == []


def test_a_job_without_datasets_is_a_graph_of_one(client: TestClient) -> None:
    post(client, run_event("noop"))
    assert node_ids(lineage(client, f"job:{NS}:noop")) == {f"job:{NS}:noop"}


def test_names_with_colons_and_slashes_work_as_node_ids(client: TestClient) -> None:
    pg = "postgres://db:5432"
    post(
        client,
        run_event(
            "load",
            namespace="etl",
            inputs=[dataset("/tmp/x/tbl", namespace=pg)],
            outputs=[dataset("public.out", namespace=pg)],
        ),
    )
    source = f"dataset:{pg}:/tmp/x/tbl"
    body = lineage(client, source)
    assert node_ids(body) == {source, "job:etl:load", f"dataset:{pg}:public.out"}
    assert node(body, source)["data"]["namespace"] == pg
    assert node(body, source)["data"]["name"] == "/tmp/x/tbl"
    assert node_ids(lineage(client, "job:etl:load")) == node_ids(body)
    # The same names also work percent-encoded as path segments.
    get_ok(client, f"/api/v1/namespaces/{q(pg)}/datasets/{q('/tmp/x/tbl')}")


def test_graphs_in_other_namespaces_are_joined_through_shared_datasets(
    client: TestClient,
) -> None:
    post(
        client,
        run_event("ingest", namespace="team_a", inputs=["raw"], outputs=[dataset("shared")]),
        run_event("report", namespace="team_b", inputs=[dataset("shared")], outputs=["rep"]),
    )
    assert node_ids(lineage(client, "job:team_b:report")) == {
        "job:team_a:ingest",
        "dataset:team_a:raw",
        f"dataset:{NS}:shared",
        "job:team_b:report",
        "dataset:team_b:rep",
    }


# -- soft deletes ----------------------------------------------------------------------------


def test_a_soft_deleted_dataset_is_left_out_with_its_edges(chained: TestClient) -> None:
    assert chained.delete(f"/api/v1/namespaces/{NS}/datasets/c").status_code == 200
    body = lineage(chained, JOB2)
    assert C not in node_ids(body)
    assert node(body, JOB2)["outEdges"] == []
    assert_consistent(body)


def test_the_walk_does_not_pass_through_a_soft_deleted_dataset(chained: TestClient) -> None:
    """What is only reachable through a deleted node would be an island: it is left out."""
    chained.delete(f"/api/v1/namespaces/{NS}/datasets/c")
    body = lineage(chained, B)
    assert node_ids(body) == {A, JOB1, B, JOB2}
    assert_connected(body, B)


def test_a_soft_deleted_job_is_left_out_and_not_walked_through(chained: TestClient) -> None:
    assert chained.delete(f"/api/v1/namespaces/{NS}/jobs/job2").status_code == 200
    body = lineage(chained, B)
    assert node_ids(body) == {A, JOB1, B}
    assert node(body, B)["outEdges"] == []
    assert_connected(body, B)


def test_a_soft_deleted_start_node_is_not_found(chained: TestClient) -> None:
    chained.delete(f"/api/v1/namespaces/{NS}/datasets/b")
    response = chained.get("/api/v1/lineage", params={"nodeId": B})
    assert response.status_code == 404
    assert "b" in response.json()["message"]


def test_a_soft_deleted_dataset_returns_to_the_graph_when_an_event_names_it(
    chained: TestClient,
) -> None:
    chained.delete(f"/api/v1/namespaces/{NS}/datasets/c")
    post(chained, run_event("job2", inputs=["b"], outputs=["c"], minutes=30))
    assert node_ids(lineage(chained, B)) == WHOLE_CHAIN


# -- bad requests ----------------------------------------------------------------------------


def test_bad_parameters_are_400_naming_the_parameter(chained: TestClient) -> None:
    assert_400_naming(
        chained,
        "/api/v1/lineage",
        [
            ({}, "nodeId"),
            ({"nodeId": "b"}, "nodeId"),
            ({"nodeId": "table:ns:b"}, "nodeId"),
            ({"nodeId": "dataset:b"}, "nodeId"),
            ({"nodeId": B, "depth": "-1"}, "depth"),
            ({"nodeId": B, "depth": "deep"}, "depth"),
            ({"nodeId": B, "depth": "1001"}, "depth"),
            ({"nodeId": B, "direction": "sideways"}, "direction"),
            ({"nodeId": B, "maxNodes": "0"}, "maxNodes"),
            ({"nodeId": B, "maxNodes": "many"}, "maxNodes"),
        ],
    )


def test_an_unknown_node_is_404_naming_it(chained: TestClient) -> None:
    response = chained.get("/api/v1/lineage", params={"nodeId": "dataset:ns:nope"})
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": response.json()["message"]}
    assert "nope" in response.json()["message"]
    response = chained.get("/api/v1/lineage", params={"nodeId": "job:elsewhere:job1"})
    assert response.status_code == 404
    assert "elsewhere" in response.json()["message"]


# -- cost and consistency --------------------------------------------------------------------


def test_a_graph_takes_a_few_statements_whatever_its_depth(
    client: TestClient, database: Database
) -> None:
    """One statement walks the whole graph; nodes, tags, parents and latest runs take three
    more (PostgreSQL pays a round trip for each)."""
    post(client, *chain(*(f"t{i:02d}" for i in range(12))))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.read_engine, "before_cursor_execute", count)
    try:
        per_depth = {}
        for depth in (1, 5, 20):
            statements.clear()
            with database.read() as connection:
                body = lineage_graph(connection, f"dataset:{NS}:t00", depth=depth, max_nodes=100)
            per_depth[depth] = len([s for s in statements if s.strip() != "BEGIN"])
    finally:
        event.remove(database.read_engine, "before_cursor_execute", count)
    assert len(body["graph"]) == 12 + 11
    assert per_depth == {1: 5, 5: 5, 20: 5}


def test_graph_nodes_carry_what_the_dataset_job_and_run_endpoints_show(
    client: TestClient,
) -> None:
    """Nodes are read on their own path (raw timestamps, one query for all jobs' datasets, a
    summary of the latest run) and must agree with the endpoints, on both backends. A job's
    inputs are ordered by namespace then name and include soft-deleted datasets, as
    ``GET /jobs`` lists them."""
    inputs = [dataset("zeta"), dataset("alpha", namespace="b_ns"), dataset("mid"), "gone"]
    parent_run = "9f3a2c1e-4b5d-4e6f-8a7b-0c1d2e3f4a5b"
    post(
        client,
        run_event("dag", run_id=parent_run, event_type="START"),
        run_event(
            "load",
            inputs=inputs,
            outputs=[dataset("out", fields=["id", "amount"])],
            minutes=1.25,
            run_facets={
                "parent": {
                    "_producer": "https://github.com/headwater/tests",
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json",
                    "job": {"namespace": NS, "name": "dag"},
                    "run": {"runId": parent_run},
                }
            },
        ),
    )
    for tagged in ("datasets/out", "datasets/out/fields/amount", "jobs/dag.load"):
        assert client.post(f"/api/v1/namespaces/{NS}/{tagged}/tags/PII").status_code == 200
    assert client.delete(f"/api/v1/namespaces/{NS}/datasets/gone").status_code == 200

    body = lineage(client, f"job:{NS}:dag.load")
    job = node(body, f"job:{NS}:dag.load")["data"]
    endpoint = get_ok(client, f"/api/v1/namespaces/{NS}/jobs/dag.load")
    assert [i["name"] for i in job["inputs"]] == ["alpha", "gone", "mid", "zeta"]
    for key, value in job.items():
        if key not in ("latestRun", "latestRuns"):
            assert value == endpoint[key], key
    run = get_ok(client, f"/api/v1/jobs/runs/{job['latestRun']['id']}")
    assert job["latestRun"] == {k: run[k] for k in job["latestRun"]}
    assert job["latestRuns"] == [job["latestRun"]]
    assert job["parentJobName"] == "dag"
    assert job["tags"] == ["PII"]

    for name in ("out", "zeta", "alpha"):
        namespace = "b_ns" if name == "alpha" else NS
        data = node(body, f"dataset:{namespace}:{name}")["data"]
        shown = get_ok(client, f"/api/v1/namespaces/{namespace}/datasets/{name}")
        assert data == {k: v for k, v in shown.items() if k != "facets"}
    out = node(body, f"dataset:{NS}:out")["data"]
    assert out["tags"] == ["PII"]
    assert [f["tags"] for f in out["fields"]] == [[], ["PII"]]
    assert f"dataset:{NS}:gone" not in node_ids(body)
