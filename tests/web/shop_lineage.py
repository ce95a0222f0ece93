"""A small lineage history posted through the real API, shared by the UI tests: two jobs in a
chain (raw.orders -> etl.orders -> staging.orders -> etl.revenue -> marts.revenue) that
completed, one that failed with an error message, and one still running."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.lineage.events_factory import (
    column_lineage_facet,
    dataset,
    facet,
    input_field,
    new_run_id,
    run_event,
    schema_facet,
    version_facet,
)

NS = "shop"
WAREHOUSE = "warehouse"
ORDERS_RUN = new_run_id()
FAILED_RUN = new_run_id()
RUNNING_RUN = new_run_id()
SQL = "SELECT id, amount FROM raw.orders WHERE amount > 0"


def events() -> list[dict[str, Any]]:
    staging = dataset(
        "staging.orders",
        WAREHOUSE,
        facets={
            "schema": schema_facet(("id", "BIGINT"), ("amount", "DECIMAL")),
            "columnLineage": column_lineage_facet(
                {
                    "id": [input_field(WAREHOUSE, "raw.orders", "id", ("DIRECT", "IDENTITY"))],
                    "amount": [
                        input_field(WAREHOUSE, "raw.orders", "amount", ("DIRECT", "IDENTITY"))
                    ],
                }
            ),
            "version": version_facet("5551234"),
            "dataQualityAssertions": facet(
                "DataQualityAssertionsDatasetFacet",
                assertions=[
                    {"assertion": "not_null", "success": True, "column": "id"},
                    {"assertion": "unique", "success": False, "column": "id"},
                ],
            ),
        },
    )
    raw = dataset(
        "raw.orders",
        WAREHOUSE,
        facets={"schema": schema_facet(("id", "BIGINT"), ("amount", "DECIMAL"))},
    )
    marts = dataset(
        "marts.revenue",
        WAREHOUSE,
        facets={"schema": schema_facet(("day", "DATE"), ("net", "DECIMAL"))},
    )
    sql = {"sql": facet("SQLJobFacet", query=SQL)}
    revenue_run = new_run_id()
    return [
        run_event(
            "START",
            run_id=ORDERS_RUN,
            job="etl.orders",
            namespace=NS,
            minute=0,
            inputs=[raw],
            outputs=[staging],
            job_facets=sql,
        ),
        run_event(
            "COMPLETE",
            run_id=ORDERS_RUN,
            job="etl.orders",
            namespace=NS,
            minute=2,
            inputs=[raw],
            outputs=[staging],
            job_facets=sql,
        ),
        run_event(
            "START",
            run_id=revenue_run,
            job="etl.revenue",
            namespace=NS,
            minute=3,
            inputs=[staging],
            outputs=[marts],
        ),
        run_event(
            "COMPLETE",
            run_id=revenue_run,
            job="etl.revenue",
            namespace=NS,
            minute=4,
            inputs=[staging],
            outputs=[marts],
        ),
        run_event(
            "START", run_id=FAILED_RUN, job="etl.broken", namespace=NS, minute=5, inputs=[staging]
        ),
        run_event(
            "FAIL",
            run_id=FAILED_RUN,
            job="etl.broken",
            namespace=NS,
            minute=6,
            inputs=[staging],
            run_facets={
                "errorMessage": facet(
                    "ErrorMessageRunFacet",
                    message="division by zero in revenue",
                    programmingLanguage="SQL",
                )
            },
        ),
        run_event(
            "START", run_id=RUNNING_RUN, job="etl.slow", namespace=NS, minute=7, inputs=[marts]
        ),
    ]


def post_history(client: TestClient | httpx.Client) -> None:
    for event in events():
        answer = client.post("/api/v1/lineage", json=event)
        assert answer.status_code == 201, answer.text
