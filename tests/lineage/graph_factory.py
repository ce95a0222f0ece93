"""Plain-dict OpenLineage events for the read-API tests, and a tiny client helper.

The workhorse is `chain`: ``a -> job1 -> b -> job2 -> c -> job3 -> d``, a pipeline small
enough that depth and direction assertions can name every node they expect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

PRODUCER = "https://github.com/headwater/tests/graph_factory"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DATASET_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
NS = "ns"
BASE_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Field name -> list of (namespace, dataset, field) it is computed from.
ColumnSources = dict[str, list[tuple[str, str, str]]]


def at(minutes: float) -> str:
    """An ISO-8601 event time ``minutes`` after `BASE_TIME`."""
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def q(name: str) -> str:
    """Percent-encode one URL path segment, slashes and colons included (as Marquez clients do)."""
    return quote(name, safe="")


def dataset(
    name: str,
    *,
    namespace: str = NS,
    fields: Sequence[str] = (),
    columns: ColumnSources | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A dataset reference, optionally with a schema, column lineage and documentation."""
    facets: dict[str, Any] = {}
    if fields:
        facets["schema"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
            "fields": [{"name": f, "type": "VARCHAR"} for f in fields],
        }
    if columns:
        facets["columnLineage"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
            "fields": {
                out: {
                    "inputFields": [
                        {
                            "namespace": ns,
                            "name": ds,
                            "field": field,
                            "transformations": [
                                {"type": "DIRECT", "subtype": "IDENTITY", "description": "copied"}
                            ],
                        }
                        for ns, ds, field in sources
                    ]
                }
                for out, sources in columns.items()
            },
        }
    if description is not None:
        facets["documentation"] = {"_producer": PRODUCER, "description": description}
    return {"namespace": namespace, "name": name, "facets": facets}


def run_event(
    job: str,
    *,
    namespace: str = NS,
    inputs: Iterable[dict[str, Any] | str] = (),
    outputs: Iterable[dict[str, Any] | str] = (),
    event_type: str = "COMPLETE",
    run_id: str | None = None,
    minutes: float = 0,
    job_facets: dict[str, Any] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A RunEvent; a bare string input/output means a dataset of that name in ``namespace``."""

    def ref(item: dict[str, Any] | str) -> dict[str, Any]:
        return dataset(item, namespace=namespace) if isinstance(item, str) else item

    return {
        "eventType": event_type,
        "eventTime": at(minutes),
        "producer": PRODUCER,
        "schemaURL": RUN_SCHEMA,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
        "inputs": [ref(i) for i in inputs],
        "outputs": [ref(o) for o in outputs],
    }


def dataset_event(ref: dict[str, Any], *, minutes: float = 0) -> dict[str, Any]:
    """A DatasetEvent: metadata about one dataset, no job or run."""
    return {
        "eventTime": at(minutes),
        "producer": PRODUCER,
        "schemaURL": DATASET_SCHEMA,
        "dataset": ref,
    }


def chain(*names: str, namespace: str = NS) -> list[dict[str, Any]]:
    """``names[0] -> job1 -> names[1] -> job2 -> ...``: one COMPLETE event per job."""
    return [
        run_event(
            f"job{i}",
            namespace=namespace,
            inputs=[names[i - 1]],
            outputs=[names[i]],
            minutes=i,
        )
        for i in range(1, len(names))
    ]


def post(client: TestClient, *events: dict[str, Any]) -> None:
    """POST each event and insist it was accepted."""
    for event in events:
        response = client.post("/api/v1/lineage", json=event)
        assert response.status_code == 201, response.text


def get_ok(client: TestClient, url: str, **params: Any) -> Any:
    """GET ``url`` and insist on a 200 with a JSON body."""
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_400_naming(
    client: TestClient, url: str, cases: list[tuple[dict[str, str], str]]
) -> None:
    """Each (query parameters, name) is a 400 whose message names ``name``; lists every miss."""
    misses: list[str] = []
    for params, named in cases:
        response = client.get(url, params=params)
        body = response.json()
        if response.status_code != 400 or body.get("code") != 400:
            misses.append(f"{params}: {response.status_code} {response.text}")
        elif named not in body.get("message", ""):
            misses.append(f"{params}: message {body.get('message')!r} does not name {named!r}")
    assert not misses, "\n".join(misses)
