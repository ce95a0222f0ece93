"""A realistic sample of OpenLineage events for ``make demo``: a small shop pipeline.

Three raw tables feed two staging models, a semantic model and a mart, each a job that is a
child of one ``shop_pipeline`` parent run. Outputs carry schemas, column lineage and an Iceberg-
style snapshot id as their ``version`` facet. The second day's ``marts.daily_revenue`` run fails
(with an ``errorMessage`` facet) and is re-run successfully.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

PRODUCER = "https://github.com/headwater/headwater/demo"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
NAMESPACE = "shop"
WAREHOUSE = "iceberg://warehouse"
FACET = "https://openlineage.io/spec/facets/1-1-1/{}.json#/$defs/{}"

# table -> (columns with types)
TABLES: dict[str, list[tuple[str, str]]] = {
    "raw.orders": [
        ("order_id", "string"),
        ("customer_id", "string"),
        ("amount", "decimal(10,2)"),
        ("ordered_at", "timestamp"),
    ],
    "raw.customers": [("customer_id", "string"), ("email", "string"), ("country", "string")],
    "raw.payments": [("payment_id", "string"), ("order_id", "string"), ("status", "string")],
    "staging.stg_orders": [
        ("order_id", "string"),
        ("customer_id", "string"),
        ("amount", "decimal(10,2)"),
        ("order_date", "date"),
        ("paid", "boolean"),
    ],
    "staging.stg_customers": [
        ("customer_id", "string"),
        ("email_domain", "string"),
        ("country", "string"),
    ],
    "semantic.customer_orders": [
        ("customer_id", "string"),
        ("country", "string"),
        ("order_id", "string"),
        ("amount", "decimal(10,2)"),
        ("order_date", "date"),
    ],
    "marts.daily_revenue": [
        ("order_date", "date"),
        ("country", "string"),
        ("revenue", "decimal(12,2)"),
        ("orders", "bigint"),
    ],
}

# job -> (inputs, output, column lineage: out col -> [(input table, col, type, subtype)], sql)
JOBS: dict[str, tuple[list[str], str, dict[str, list[tuple[str, str, str, str]]], str]] = {
    "stg_orders": (
        ["raw.orders", "raw.payments"],
        "staging.stg_orders",
        {
            "order_id": [("raw.orders", "order_id", "DIRECT", "IDENTITY")],
            "customer_id": [("raw.orders", "customer_id", "DIRECT", "IDENTITY")],
            "amount": [("raw.orders", "amount", "DIRECT", "IDENTITY")],
            "order_date": [("raw.orders", "ordered_at", "DIRECT", "TRANSFORMATION")],
            "paid": [
                ("raw.payments", "status", "DIRECT", "TRANSFORMATION"),
                ("raw.payments", "order_id", "INDIRECT", "JOIN"),
            ],
        },
        "select o.order_id, o.customer_id, o.amount, cast(o.ordered_at as date) as order_date,\n"
        "       p.status = 'paid' as paid\nfrom raw.orders o left join raw.payments p using (order_id)",
    ),
    "stg_customers": (
        ["raw.customers"],
        "staging.stg_customers",
        {
            "customer_id": [("raw.customers", "customer_id", "DIRECT", "IDENTITY")],
            "email_domain": [("raw.customers", "email", "DIRECT", "TRANSFORMATION")],
            "country": [("raw.customers", "country", "DIRECT", "IDENTITY")],
        },
        "select customer_id, split_part(email, '@', 2) as email_domain, upper(country) as country\nfrom raw.customers",
    ),
    "customer_orders": (
        ["staging.stg_orders", "staging.stg_customers"],
        "semantic.customer_orders",
        {
            "customer_id": [("staging.stg_customers", "customer_id", "DIRECT", "IDENTITY")],
            "country": [("staging.stg_customers", "country", "DIRECT", "IDENTITY")],
            "order_id": [("staging.stg_orders", "order_id", "DIRECT", "IDENTITY")],
            "amount": [
                ("staging.stg_orders", "amount", "DIRECT", "IDENTITY"),
                ("staging.stg_orders", "paid", "INDIRECT", "FILTER"),
            ],
            "order_date": [("staging.stg_orders", "order_date", "DIRECT", "IDENTITY")],
        },
        "select c.customer_id, c.country, o.order_id, o.amount, o.order_date\n"
        "from staging.stg_orders o join staging.stg_customers c using (customer_id) where o.paid",
    ),
    "daily_revenue": (
        ["semantic.customer_orders"],
        "marts.daily_revenue",
        {
            "order_date": [("semantic.customer_orders", "order_date", "DIRECT", "IDENTITY")],
            "country": [("semantic.customer_orders", "country", "DIRECT", "IDENTITY")],
            "revenue": [("semantic.customer_orders", "amount", "DIRECT", "AGGREGATION")],
            "orders": [("semantic.customer_orders", "order_id", "DIRECT", "AGGREGATION")],
        },
        "select order_date, country, sum(amount) as revenue, count(*) as orders\n"
        "from semantic.customer_orders group by 1, 2",
    ),
}


def _facet(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET.format(name, name), **body}


def _dataset(
    table: str, snapshot: int | None, lineage: dict[str, Any] | None = None
) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "schema": _facet(
            "SchemaDatasetFacet", {"fields": [{"name": n, "type": t} for n, t in TABLES[table]]}
        ),
        "dataSource": _facet("DatasourceDatasetFacet", {"name": WAREHOUSE, "uri": WAREHOUSE}),
    }
    if snapshot is not None:
        facets["version"] = _facet("DatasetVersionDatasetFacet", {"datasetVersion": str(snapshot)})
    if lineage is not None:
        facets["columnLineage"] = _facet(
            "ColumnLineageDatasetFacet",
            {
                "fields": {
                    out: {
                        "inputFields": [
                            {
                                "namespace": NAMESPACE,
                                "name": table_in,
                                "field": col,
                                "transformations": [
                                    {
                                        "type": kind,
                                        "subtype": sub,
                                        "description": "",
                                        "masking": False,
                                    }
                                ],
                            }
                            for table_in, col, kind, sub in sources
                        ]
                    }
                    for out, sources in lineage.items()
                }
            },
        )
    return {"namespace": NAMESPACE, "name": table, "facets": facets}


def _event(
    event_type: str,
    when: datetime,
    job: str,
    run_id: str,
    *,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": when.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": {"namespace": NAMESPACE, "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def sample_events(start: datetime | None = None) -> list[dict[str, Any]]:
    """Two daily runs of the pipeline; day two's mart fails once and is re-run."""
    start = start or datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    rng = uuid.UUID("a3a1d2f0-0000-4000-8000-000000000000").int
    events: list[dict[str, Any]] = []
    snapshots = {table: 1000 + i for i, table in enumerate(TABLES)}
    for day in range(2):
        clock = start + timedelta(days=day)
        parent_run = str(uuid.UUID(int=rng + day * 1000))
        parent_facet = {
            "parent": _facet(
                "ParentRunFacet",
                {
                    "run": {"runId": parent_run},
                    "job": {"namespace": NAMESPACE, "name": "shop_pipeline"},
                },
            )
        }
        events.append(_event("START", clock, "shop_pipeline", parent_run))
        for table in ("raw.orders", "raw.customers", "raw.payments"):
            snapshots[table] += 7
        for step, (job, (inputs, output, lineage, sql)) in enumerate(JOBS.items()):
            attempts = 2 if (day == 1 and job == "daily_revenue") else 1
            for attempt in range(attempts):
                run_id = str(uuid.UUID(int=rng + day * 1000 + step * 10 + attempt + 1))
                begin = clock + timedelta(minutes=5 * step + 2 * attempt, seconds=1)
                end = begin + timedelta(seconds=40 + 13 * step)
                job_facets = {
                    "sql": _facet("SQLJobFacet", {"query": sql}),
                    "jobType": _facet(
                        "JobTypeJobFacet",
                        {"processingType": "BATCH", "integration": "HEADWATER", "jobType": "MODEL"},
                    ),
                }
                ins = [_dataset(t, snapshots[t]) for t in inputs]
                events.append(
                    _event(
                        "START",
                        begin,
                        job,
                        run_id,
                        inputs=ins,
                        run_facets=parent_facet,
                        job_facets=job_facets,
                    )
                )
                failed = attempts == 2 and attempt == 0
                if failed:
                    error = _facet(
                        "ErrorMessageRunFacet",
                        {
                            "message": "Quality gate failed: not_null(revenue) found 3 null rows",
                            "programmingLanguage": "SQL",
                        },
                    )
                    events.append(
                        _event(
                            "FAIL",
                            end,
                            job,
                            run_id,
                            inputs=ins,
                            run_facets={**parent_facet, "errorMessage": error},
                        )
                    )
                    continue
                snapshots[output] += 11
                outs = [_dataset(output, snapshots[output], lineage)]
                outs[0]["outputFacets"] = {
                    "outputStatistics": _facet(
                        "OutputStatisticsOutputDatasetFacet",
                        {"rowCount": 1200 * (step + 1) + day * 90, "size": 48_000 * (step + 1)},
                    )
                }
                events.append(
                    _event(
                        "COMPLETE",
                        end,
                        job,
                        run_id,
                        inputs=ins,
                        outputs=outs,
                        run_facets=parent_facet,
                    )
                )
        events.append(
            _event("COMPLETE", clock + timedelta(minutes=30), "shop_pipeline", parent_run)
        )
    return events
