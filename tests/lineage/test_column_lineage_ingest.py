"""Column lineage from the ``columnLineage`` facet: field edges with transformation type/subtype."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import column_lineage, datasets
from tests.lineage.events_factory import (
    column_lineage_facet,
    dataset,
    facet,
    input_field,
    new_run_id,
    run_event,
    schema_facet,
)


def write_report(client: TestClient, lineage: dict[str, Any], minute: int = 0) -> None:
    """Job ``aggregate`` reads ``orders`` and writes ``report`` with the given facet."""
    event = run_event(
        "COMPLETE",
        run_id=new_run_id(),
        job="aggregate",
        minute=minute,
        inputs=[dataset("orders", facets={"schema": schema_facet("id", "amount", "customer")})],
        outputs=[
            dataset(
                "report",
                facets={"schema": schema_facet("total", "customer"), "columnLineage": lineage},
            )
        ],
    )
    assert client.post("/api/v1/lineage", json=event).status_code == 201


def edges(database: Database) -> list[tuple[Any, ...]]:
    """(output dataset, output field, input dataset, input field, type, subtype), sorted."""
    out, inp = datasets.alias("out"), datasets.alias("inp")
    with database.read() as connection:
        rows = connection.execute(
            select(
                out.c.name,
                column_lineage.c.output_field,
                inp.c.name,
                column_lineage.c.input_field,
                column_lineage.c.transformation_type,
                column_lineage.c.transformation_subtype,
            )
            .join(out, out.c.id == column_lineage.c.output_dataset_id)
            .join(inp, inp.c.id == column_lineage.c.input_dataset_id)
        )
        return sorted(tuple(r) for r in rows)


def field_node(client: TestClient, dataset_name: str, field: str) -> dict[str, Any]:
    node_id = f"datasetField:warehouse:{dataset_name}:{field}"
    response = client.get("/api/v1/column-lineage", params={"nodeId": node_id})
    assert response.status_code == 200, response.text
    [node] = [n for n in response.json()["graph"] if n["id"] == node_id]
    return node


def test_the_facet_creates_one_edge_per_output_and_input_field(
    client: TestClient, database: Database
) -> None:
    write_report(
        client,
        column_lineage_facet(
            {
                "total": [
                    input_field("warehouse", "orders", "amount", ("INDIRECT", "AGGREGATION"))
                ],
                "customer": [
                    input_field("warehouse", "orders", "customer", ("DIRECT", "IDENTITY")),
                ],
            }
        ),
    )
    assert edges(database) == [
        ("report", "customer", "orders", "customer", "DIRECT", "IDENTITY"),
        ("report", "total", "orders", "amount", "INDIRECT", "AGGREGATION"),
    ]


def test_field_edges_are_served_with_their_transformations(client: TestClient) -> None:
    write_report(
        client,
        column_lineage_facet(
            {
                "total": [
                    input_field(
                        "warehouse",
                        "orders",
                        "amount",
                        ("DIRECT", "AGGREGATION"),
                        description="sum(amount)",
                    )
                ]
            }
        ),
    )
    node = field_node(client, "report", "total")
    [source] = node["data"]["inputFields"]
    assert (source["dataset"], source["field"]) == ("orders", "amount")
    assert source["transformationType"] == "DIRECT"
    assert source["transformationSubtype"] == "AGGREGATION"
    assert source["transformationDescription"] == "sum(amount)"
    assert node["data"]["transformationType"] == "DIRECT"
    assert node["inEdges"] == [
        {
            "origin": "datasetField:warehouse:orders:amount",
            "destination": "datasetField:warehouse:report:total",
        }
    ]


def test_every_transformation_is_kept_and_the_direct_one_is_surfaced(
    client: TestClient, database: Database
) -> None:
    """Spark sends INDIRECT (FILTER) and DIRECT (AGGREGATION) on one input field."""
    write_report(
        client,
        column_lineage_facet(
            {
                "total": [
                    input_field(
                        "warehouse",
                        "orders",
                        "amount",
                        ("INDIRECT", "FILTER"),
                        ("DIRECT", "AGGREGATION"),
                    )
                ]
            }
        ),
    )
    assert edges(database) == [("report", "total", "orders", "amount", "DIRECT", "AGGREGATION")]
    [source] = field_node(client, "report", "total")["data"]["inputFields"]
    assert [(t["type"], t["subtype"]) for t in source["transformations"]] == [
        ("INDIRECT", "FILTER"),
        ("DIRECT", "AGGREGATION"),
    ]


def test_the_older_facet_shape_with_one_transformation_per_output_field_is_read(
    client: TestClient, database: Database
) -> None:
    """ColumnLineageDatasetFacet 1-0-x: ``transformationType`` on the output field itself."""
    lineage = facet(
        "ColumnLineageDatasetFacet",
        fields={
            "total": {
                "inputFields": [{"namespace": "warehouse", "name": "orders", "field": "amount"}],
                "transformationType": "AGGREGATION",
                "transformationDescription": "sum",
            }
        },
    )
    write_report(client, lineage)
    assert edges(database) == [("report", "total", "orders", "amount", "AGGREGATION", None)]


def test_input_datasets_named_only_in_column_lineage_are_created(
    client: TestClient, database: Database
) -> None:
    write_report(
        client,
        column_lineage_facet(
            {"customer": [input_field("crm", "customers", "name", ("DIRECT", "IDENTITY"))]}
        ),
    )
    assert client.get("/api/v1/namespaces/crm/datasets/customers").status_code == 200
    assert edges(database) == [("report", "customer", "customers", "name", "DIRECT", "IDENTITY")]


def test_a_resent_facet_replaces_the_field_edges(client: TestClient, database: Database) -> None:
    write_report(
        client,
        column_lineage_facet(
            {"total": [input_field("warehouse", "orders", "amount", ("DIRECT", "AGGREGATION"))]}
        ),
    )
    write_report(
        client,
        column_lineage_facet(
            {"customer": [input_field("warehouse", "orders", "customer", ("DIRECT", "IDENTITY"))]}
        ),
        minute=1,
    )
    assert edges(database) == [("report", "customer", "orders", "customer", "DIRECT", "IDENTITY")]


def test_resending_the_same_facet_rewrites_nothing(client: TestClient, database: Database) -> None:
    lineage = column_lineage_facet(
        {"total": [input_field("warehouse", "orders", "amount", ("DIRECT", "AGGREGATION"))]}
    )
    write_report(client, lineage)
    with database.read() as connection:
        before = connection.execute(select(column_lineage)).all()
    write_report(client, lineage, minute=1)
    with database.read() as connection:
        assert connection.execute(select(column_lineage)).all() == before


def test_an_output_without_the_facet_keeps_its_field_edges(
    client: TestClient, database: Database
) -> None:
    """Facets merge by name: an event that omits columnLineage leaves it as it was."""
    write_report(
        client,
        column_lineage_facet(
            {"total": [input_field("warehouse", "orders", "amount", ("DIRECT", "AGGREGATION"))]}
        ),
    )
    event = run_event("COMPLETE", job="aggregate", minute=1, outputs=[dataset("report")])
    assert client.post("/api/v1/lineage", json=event).status_code == 201
    assert len(edges(database)) == 1


def test_the_facet_is_also_kept_whole_on_the_dataset(client: TestClient) -> None:
    lineage = column_lineage_facet(
        {"total": [input_field("warehouse", "orders", "amount", ("DIRECT", "AGGREGATION"))]}
    )
    lineage["dataset"] = [input_field("warehouse", "orders", "customer", ("INDIRECT", "GROUP_BY"))]
    write_report(client, lineage)
    ds = client.get("/api/v1/namespaces/warehouse/datasets/report").json()
    assert ds["facets"]["columnLineage"] == lineage
