"""Rows -> Marquez v1 JSON shapes (``../shared/reference/marquez/openapi.yml``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def iso(value: datetime | str | None) -> str | None:
    """A timestamp as Marquez writes it: ISO 8601 in UTC with a ``Z``.

    ``value`` is a `UTCDateTime` column's value (an aware datetime in another zone is converted),
    or a timestamp read as text in SQLite's storage format, which graph nodes do (about 1,700
    timestamps per 400-node answer; SQLite stores that text and PostgreSQL is asked to write
    it): the text is rewritten, which costs a sixth of parsing it and formatting a datetime.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _stored_iso(value)
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _stored_iso(text: str) -> str | None:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite storage, naive UTC) as `iso` writes
    it: no fraction when it is zero, as `datetime.isoformat` does."""
    if len(text) == 26 and text[10] == " " and text[19] == ".":
        fraction = text[19:]
        return f"{text[:10]}T{text[11:19]}{'' if fraction == '.000000' else fraction}Z"
    parsed = datetime.fromisoformat(text)  # any other form SQLite may hold
    return iso(parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed)


def dataset_id(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def node_id(kind: str, namespace: str, name: str) -> str:
    return f"{kind}:{namespace}:{name}"


def fields_with_tags(fields: list[dict[str, Any]] | str, field_tags: dict[str, list[str]]) -> Any:
    """Fields with their tags. Fields may come as the stored JSON text (graph nodes): without
    field tags it is passed through undecoded, since stored fields already carry ``tags: []``."""
    if isinstance(fields, str):
        if not field_tags:
            return orjson.Fragment(fields)
        decoded: list[dict[str, Any]] = orjson.loads(fields)
        return fields_with_tags(decoded, field_tags)
    return [{**f, "tags": sorted(field_tags.get(f["name"], []))} for f in fields]


def dataset(
    row: Any,
    namespace: str,
    *,
    tags: list[str],
    field_tags: dict[str, list[str]],
    with_facets: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": dataset_id(namespace, row.name),
        "type": row.type,
        "name": row.name,
        "physicalName": row.physical_name,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "namespace": namespace,
        "sourceName": row.source_name,
        "fields": fields_with_tags(row.fields, field_tags),
        "tags": sorted(tags),
        "lastModifiedAt": iso(row.last_modified_at),
        "lastLifecycleState": row.lifecycle_state,
        "description": row.description,
        "currentVersion": row.current_version_uuid,
        "datasetVersion": row.version_facet,
        "deleted": bool(row.is_deleted),
    }
    if with_facets:
        body["facets"] = row.facets
    return body


def dataset_version(
    row: Any, namespace: str, name: str, dataset_row: Any, created_by_run: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": {"namespace": namespace, "name": name, "version": row.uuid},
        "type": dataset_row.type,
        "name": name,
        "physicalName": dataset_row.physical_name,
        "createdAt": iso(row.created_at),
        "version": row.uuid,
        # The producer's own version (DatasetVersionDatasetFacet), e.g. an Iceberg snapshot id.
        "datasetVersion": row.version_facet,
        "namespace": namespace,
        "sourceName": dataset_row.source_name,
        "fields": row.fields,
        "tags": [],
        "lifecycleState": row.lifecycle_state,
        "description": dataset_row.description,
        "createdByRun": created_by_run,
        "facets": row.facets,
    }


def run_summary(row: Any, *, job_namespace: str, job_name: str) -> dict[str, Any]:
    """A run's state and times, without its facets and dataset versions.

    Graph nodes carry this as their job's ``latestRun``: rendering every node's full latest
    run (facets and 16 dataset versions each) made a 400-node graph cost thousands of JSON
    decodes. ``GET /api/v1/jobs/runs/{id}`` has the whole run.
    """
    duration = None
    if row.started_at is not None and row.ended_at is not None:
        duration = int((row.ended_at - row.started_at).total_seconds() * 1000)
    body = {
        "id": row.uuid,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "nominalStartTime": iso(row.nominal_start_time),
        "nominalEndTime": iso(row.nominal_end_time),
        "state": row.state,
        "startedAt": iso(row.started_at),
        "endedAt": iso(row.ended_at),
        "durationMs": duration,
        "jobVersion": {
            "namespace": job_namespace,
            "name": job_name,
            "version": row.job_version_uuid,
        },
    }
    if row.external_id is not None:
        body["externalId"] = row.external_id
    return body


def run(
    row: Any,
    *,
    job_namespace: str,
    job_name: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    """Marquez's Run: the summary plus args, dataset versions read and written, and facets."""
    body = run_summary(row, job_namespace=job_namespace, job_name=job_name)
    body.update(
        args={},
        inputDatasetVersions=inputs,
        outputDatasetVersions=outputs,
        context={},
        facets=row.facets,
    )
    return body


def dataset_version_ref(namespace: str, name: str, version: str | None, facets: Any) -> Any:
    return {
        "datasetVersionId": {"namespace": namespace, "name": name, "version": version},
        "facets": facets,
    }


def job(
    row: Any,
    namespace: str,
    *,
    inputs: list[dict[str, str]],
    outputs: list[dict[str, str]],
    parent_name: str | None,
    parent_uuid: str | None,
    latest_runs: list[dict[str, Any]],
    tags: list[str],
    with_facets: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": {"namespace": namespace, "name": row.name},
        "type": row.type,
        "name": row.name,
        "simpleName": row.simple_name,
        "parentJobName": parent_name,
        "parentJobUuid": parent_uuid,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "namespace": namespace,
        "inputs": inputs,
        "outputs": outputs,
        "location": row.location,
        "description": row.description,
        "context": {},
        "latestRun": latest_runs[0] if latest_runs else None,
        "latestRuns": latest_runs,
        "currentVersion": row.current_version_uuid,
        "tags": sorted(tags),
        "deleted": bool(row.is_deleted),
    }
    if with_facets:
        body["facets"] = row.facets
    return body


def namespace(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "ownerName": row.owner_name,
        "description": row.description,
        "isHidden": bool(row.is_hidden),
    }


def source(row: Any) -> dict[str, Any]:
    return {
        "type": row.type,
        "name": row.name,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "connectionUrl": row.connection_url,
        "description": None,
    }
