"""``GET /api/v1/column-lineage``: field-level lineage in Marquez's shape.

The pipeline: ``raw(id, amount) -> clean_job -> clean(id, amount_usd) -> report_job ->
report(total)``, where ``clean.id <- raw.id``, ``clean.amount_usd <- raw.amount`` and
``report.total <- clean.amount_usd``. Upstream is the default; ``withDownstream=true`` adds
the fields computed from the start.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REFERENCE
from tests.lineage.graph_factory import NS, assert_400_naming, dataset, get_ok, post, run_event


def field(ds: str, name: str, namespace: str = NS) -> str:
    return f"datasetField:{namespace}:{ds}:{name}"


RAW_ID, RAW_AMOUNT = field("raw", "id"), field("raw", "amount")
CLEAN_ID, CLEAN_USD = field("clean", "id"), field("clean", "amount_usd")
TOTAL = field("report", "total")


def pipeline() -> list[dict[str, Any]]:
    return [
        run_event(
            "clean_job",
            inputs=[dataset("raw", fields=["id", "amount"])],
            outputs=[
                dataset(
                    "clean",
                    fields=["id", "amount_usd"],
                    columns={
                        "id": [(NS, "raw", "id")],
                        "amount_usd": [(NS, "raw", "amount")],
                    },
                )
            ],
            minutes=1,
        ),
        run_event(
            "report_job",
            inputs=[dataset("clean", fields=["id", "amount_usd"])],
            outputs=[
                dataset(
                    "report", fields=["total"], columns={"total": [(NS, "clean", "amount_usd")]}
                )
            ],
            minutes=2,
        ),
    ]


@pytest.fixture
def columns(client: TestClient) -> TestClient:
    post(client, *pipeline())
    return client


def column_lineage(client: TestClient, node_id: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get_ok(client, "/api/v1/column-lineage", nodeId=node_id, **params)
    return body


def node_ids(body: dict[str, Any]) -> set[str]:
    return {n["id"] for n in body["graph"]}


def node(body: dict[str, Any], node_id: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [n for n in body["graph"] if n["id"] == node_id]
    assert len(matches) == 1, f"{node_id} appears {len(matches)} times"
    return matches[0]


def edges(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (e["origin"], e["destination"]) for n in body["graph"] for e in n["inEdges"] + n["outEdges"]
    }


def test_nodes_have_the_keys_of_marquez_node_json(columns: TestClient) -> None:
    reference = json.loads((REFERENCE / "marquez" / "column_lineage" / "node.json").read_text())
    body = column_lineage(columns, TOTAL)
    for n in body["graph"]:
        assert set(n) == set(reference)
        assert n["type"] == "DATASET_FIELD"
        assert set(reference["data"]) <= set(n["data"])
        for item in n["data"]["inputFields"]:
            assert set(reference["data"]["inputFields"][0]) <= set(item)


def test_a_field_node_describes_the_field_and_its_inputs(columns: TestClient) -> None:
    total = node(column_lineage(columns, TOTAL), TOTAL)
    assert total["data"]["namespace"] == NS
    assert total["data"]["dataset"] == "report"
    assert total["data"]["field"] == "total"
    assert total["data"]["fieldType"] == "VARCHAR"
    assert total["data"]["transformationType"] == "DIRECT"
    assert total["data"]["transformationDescription"] == "copied"
    [source] = total["data"]["inputFields"]
    assert (source["namespace"], source["dataset"], source["field"]) == (NS, "clean", "amount_usd")


def test_upstream_is_followed_to_the_source_by_default(columns: TestClient) -> None:
    body = column_lineage(columns, TOTAL)
    assert node_ids(body) == {TOTAL, CLEAN_USD, RAW_AMOUNT}
    assert edges(body) == {(RAW_AMOUNT, CLEAN_USD), (CLEAN_USD, TOTAL)}


def test_edges_point_from_input_field_to_output_field(columns: TestClient) -> None:
    body = column_lineage(columns, TOTAL)
    assert node(body, CLEAN_USD)["inEdges"] == [{"origin": RAW_AMOUNT, "destination": CLEAN_USD}]
    assert node(body, CLEAN_USD)["outEdges"] == [{"origin": CLEAN_USD, "destination": TOTAL}]
    assert node(body, RAW_AMOUNT)["inEdges"] == []
    assert node(body, TOTAL)["outEdges"] == []


def test_depth_counts_field_hops(columns: TestClient) -> None:
    assert node_ids(column_lineage(columns, TOTAL, depth=0)) == {TOTAL}
    assert node_ids(column_lineage(columns, TOTAL, depth=1)) == {TOTAL, CLEAN_USD}
    assert node_ids(column_lineage(columns, TOTAL, depth=2)) == {TOTAL, CLEAN_USD, RAW_AMOUNT}


def test_no_edge_leaves_the_graph_at_the_depth_boundary(columns: TestClient) -> None:
    body = column_lineage(columns, TOTAL, depth=1)
    assert edges(body) == {(CLEAN_USD, TOTAL)}


def test_downstream_is_left_out_unless_asked_for(columns: TestClient) -> None:
    assert node_ids(column_lineage(columns, CLEAN_USD)) == {CLEAN_USD, RAW_AMOUNT}
    assert node_ids(column_lineage(columns, CLEAN_USD, withDownstream="false")) == {
        CLEAN_USD,
        RAW_AMOUNT,
    }


def test_with_downstream_adds_the_fields_computed_from_the_start(columns: TestClient) -> None:
    body = column_lineage(columns, RAW_AMOUNT, withDownstream="true")
    assert node_ids(body) == {RAW_AMOUNT, CLEAN_USD, TOTAL}
    body = column_lineage(columns, CLEAN_USD, withDownstream="true", depth=1)
    assert node_ids(body) == {RAW_AMOUNT, CLEAN_USD, TOTAL}


def test_a_dataset_node_starts_from_all_of_its_fields(columns: TestClient) -> None:
    body = column_lineage(columns, f"dataset:{NS}:clean")
    assert node_ids(body) == {CLEAN_ID, CLEAN_USD, RAW_ID, RAW_AMOUNT}
    assert edges(body) == {(RAW_ID, CLEAN_ID), (RAW_AMOUNT, CLEAN_USD)}


def test_a_dataset_without_column_lineage_is_just_its_fields(columns: TestClient) -> None:
    body = column_lineage(columns, f"dataset:{NS}:raw")
    assert node_ids(body) == {RAW_ID, RAW_AMOUNT}
    assert edges(body) == set()


def test_the_graph_is_sorted_by_node_id(columns: TestClient) -> None:
    ids = [n["id"] for n in column_lineage(columns, TOTAL, withDownstream="true")["graph"]]
    assert ids == sorted(ids)


def test_a_field_computed_from_several_inputs_lists_them_all(client: TestClient) -> None:
    post(
        client,
        run_event(
            "join",
            inputs=[dataset("left", fields=["a"]), dataset("right", fields=["b"])],
            outputs=[
                dataset(
                    "joined",
                    fields=["ab"],
                    columns={"ab": [(NS, "left", "a"), (NS, "right", "b")]},
                )
            ],
        ),
    )
    ab = field("joined", "ab")
    body = column_lineage(client, ab)
    sources = {(i["dataset"], i["field"]) for i in node(body, ab)["data"]["inputFields"]}
    assert sources == {("left", "a"), ("right", "b")}
    assert {e["origin"] for e in node(body, ab)["inEdges"]} == {
        field("left", "a"),
        field("right", "b"),
    }


def test_names_with_colons_and_slashes_work_in_field_node_ids(client: TestClient) -> None:
    pg = "postgres://db:5432"
    post(
        client,
        run_event(
            "copy",
            inputs=[dataset("/tmp/x/tbl", namespace=pg, fields=["id"])],
            outputs=[
                dataset(
                    "/tmp/x/copy",
                    namespace=pg,
                    fields=["id"],
                    columns={"id": [(pg, "/tmp/x/tbl", "id")]},
                )
            ],
        ),
    )
    start = field("/tmp/x/copy", "id", namespace=pg)
    body = column_lineage(client, start)
    assert node_ids(body) == {start, field("/tmp/x/tbl", "id", namespace=pg)}
    assert node(body, start)["data"]["namespace"] == pg
    assert node(body, start)["data"]["dataset"] == "/tmp/x/copy"


def test_a_cycle_between_fields_does_not_loop_forever(client: TestClient) -> None:
    post(
        client,
        run_event(
            "there",
            inputs=["x"],
            outputs=[dataset("y", fields=["f"], columns={"f": [(NS, "x", "f")]})],
        ),
        run_event(
            "back",
            inputs=["y"],
            outputs=[dataset("x", fields=["f"], columns={"f": [(NS, "y", "f")]})],
            minutes=1,
        ),
    )
    body = column_lineage(client, field("x", "f"), withDownstream="true")
    assert node_ids(body) == {field("x", "f"), field("y", "f")}


def test_a_soft_deleted_dataset_takes_its_fields_out_of_the_graph(columns: TestClient) -> None:
    """As in the job/dataset graph: a deleted dataset is neither shown nor walked through."""
    assert columns.delete(f"/api/v1/namespaces/{NS}/datasets/clean").status_code == 200
    body = column_lineage(columns, TOTAL)
    assert node_ids(body) == {TOTAL}
    assert node(body, TOTAL)["inEdges"] == []


def test_a_job_node_is_400_naming_node_id(columns: TestClient) -> None:
    response = columns.get("/api/v1/column-lineage", params={"nodeId": f"job:{NS}:clean_job"})
    assert response.status_code == 400
    assert "nodeId" in response.json()["message"]


def test_an_unknown_dataset_is_404_naming_it(columns: TestClient) -> None:
    response = columns.get("/api/v1/column-lineage", params={"nodeId": field("nope", "x")})
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_an_unknown_field_of_a_known_dataset_is_404_naming_it(columns: TestClient) -> None:
    """A typo in the field name must not look like a field without lineage."""
    response = columns.get("/api/v1/column-lineage", params={"nodeId": field("report", "totl")})
    assert response.status_code == 404
    assert "totl" in response.json()["message"]


def test_bad_parameters_are_400_naming_the_parameter(columns: TestClient) -> None:
    assert_400_naming(
        columns,
        "/api/v1/column-lineage",
        [
            ({}, "nodeId"),
            ({"nodeId": "datasetField:ns:report"}, "nodeId"),
            ({"nodeId": TOTAL, "depth": "-1"}, "depth"),
            ({"nodeId": TOTAL, "depth": "x"}, "depth"),
            ({"nodeId": TOTAL, "withDownstream": "perhaps"}, "withDownstream"),
        ],
    )
