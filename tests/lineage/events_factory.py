"""Small builders for OpenLineage events as plain dicts, so each test states only what matters.

Every builder returns a fresh dict: tests may mutate what they get back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from headwater.db import Database
from headwater.db.schema import metadata

PRODUCER = "https://github.com/headwater/tests/v1"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_URL = f"{SPEC}#/$defs/RunEvent"
DATASET_EVENT_URL = f"{SPEC}#/$defs/DatasetEvent"
JOB_EVENT_URL = f"{SPEC}#/$defs/JobEvent"
BASE_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minute: float) -> str:
    """An ISO-8601 eventTime ``minute`` minutes after a fixed base time."""
    return (BASE_TIME + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def new_run_id() -> str:
    return str(uuid.uuid4())


def facet(kind: str = "Facet", /, **fields: Any) -> dict[str, Any]:
    """A facet of schema ``kind`` carrying the mandatory ``_producer`` and ``_schemaURL``."""
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"https://openlineage.io/spec/facets/1-0-0/{kind}.json#/$defs/{kind}",
        **fields,
    }


def schema_facet(*fields: str | tuple[str, str]) -> dict[str, Any]:
    """``schema_facet("id", ("amount", "DECIMAL"))``: a field is a name or (name, type)."""
    items = []
    for item in fields:
        name, type_ = (item, "STRING") if isinstance(item, str) else item
        items.append({"name": name, "type": type_})
    return facet("SchemaDatasetFacet", fields=items)


def version_facet(version: str) -> dict[str, Any]:
    """The producer's own dataset version, e.g. an Iceberg snapshot id."""
    return facet("DatasetVersionDatasetFacet", datasetVersion=version)


def location_facet(url: str) -> dict[str, Any]:
    return facet("SourceCodeLocationJobFacet", type="git", url=url)


def parent_facet(job_name: str, run_id: str, namespace: str = "ns") -> dict[str, Any]:
    return facet(
        "ParentRunFacet",
        job={"namespace": namespace, "name": job_name},
        run={"runId": run_id},
    )


def input_field(
    namespace: str,
    name: str,
    field: str,
    *transformations: tuple[str, str | None],
    description: str | None = None,
) -> dict[str, Any]:
    """One column-lineage input field; transformations are (type, subtype) pairs."""
    item: dict[str, Any] = {"namespace": namespace, "name": name, "field": field}
    if transformations:
        item["transformations"] = [
            {
                "type": type_,
                **({"subtype": subtype} if subtype else {}),
                **({"description": description} if description else {}),
                "masking": False,
            }
            for type_, subtype in transformations
        ]
    return item


def column_lineage_facet(fields: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``{"output field": [input_field(...), ...]}`` as a ColumnLineageDatasetFacet."""
    return facet(
        "ColumnLineageDatasetFacet",
        fields={out: {"inputFields": inputs} for out, inputs in fields.items()},
    )


def dataset(
    name: str,
    namespace: str = "warehouse",
    *,
    facets: dict[str, Any] | None = None,
    input_facets: dict[str, Any] | None = None,
    output_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets is not None:
        body["facets"] = facets
    if input_facets is not None:
        body["inputFacets"] = input_facets
    if output_facets is not None:
        body["outputFacets"] = output_facets
    return body


def run_event(
    event_type: str | None = "START",
    *,
    run_id: str | None = None,
    job: str = "job",
    namespace: str = "ns",
    minute: float = 0,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
    schema_url: str | None = RUN_EVENT_URL,
) -> dict[str, Any]:
    """A RunEvent; ``event_type=None`` leaves eventType out, ``schema_url=None`` the schemaURL."""
    event: dict[str, Any] = {
        "eventTime": at(minute),
        "producer": PRODUCER,
        "run": {"runId": run_id or new_run_id(), "facets": run_facets or {}},
        "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    if event_type is not None:
        event["eventType"] = event_type
    if schema_url is not None:
        event["schemaURL"] = schema_url
    return event


def dataset_event(
    ds: dict[str, Any], *, minute: float = 0, schema_url: str = DATASET_EVENT_URL
) -> dict[str, Any]:
    return {"eventTime": at(minute), "producer": PRODUCER, "schemaURL": schema_url, "dataset": ds}


def job_event(
    job: str = "job",
    namespace: str = "ns",
    *,
    minute: float = 0,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    job_facets: dict[str, Any] | None = None,
    schema_url: str = JOB_EVENT_URL,
) -> dict[str, Any]:
    return {
        "eventTime": at(minute),
        "producer": PRODUCER,
        "schemaURL": schema_url,
        "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def row_counts(database: Database) -> dict[str, int]:
    """Rows per table, for every table of the metadata schema."""
    with database.read() as connection:
        return {
            table.name: int(
                connection.execute(select(func.count()).select_from(table)).scalar_one()
            )
            for table in metadata.sorted_tables
        }
