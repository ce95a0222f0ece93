"""OpenLineage events: validation with field-named errors, and the normalised form ingestion uses.

Validation is hand-written rather than JSON-Schema driven: it checks exactly what headwater
relies on (required fields, types, timestamps, the structure of the facets it interprets) and
lets everything else through untouched, so unknown and custom facets survive as sent. It also
runs at ingest speed: a 16 KB event validates in tens of microseconds.

Event kinds are told apart as Marquez does: by the ``schemaURL`` suffix
(``#/$defs/DatasetEvent``, ``#/definitions/JobEvent``, ...), RunEvent when there is none.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from headwater.errors import BadRequestError

# Deterministic mapping of non-UUID runIds (e.g. the compatibility suite's "run_id").
RUN_ID_NAMESPACE = uuid.UUID("6b1f3c39-7c5e-4e64-9a52-4b8f0e4d2a11")

EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})


class EventKind(StrEnum):
    RUN = "RUN"
    DATASET = "DATASET"
    JOB = "JOB"


@dataclass(frozen=True, slots=True)
class DatasetRef:
    namespace: str
    name: str
    facets: dict[str, Any]
    io_facets: dict[str, Any]  # inputFacets / outputFacets


@dataclass(frozen=True, slots=True)
class ParentRef:
    job_namespace: str
    job_name: str
    run_uuid: str | None


@dataclass(slots=True)
class LineageEvent:
    """One validated event, with the canonical bytes and hash used for storage and dedup."""

    kind: EventKind
    event_type: str | None
    event_time: datetime
    producer: str
    job_namespace: str | None
    job_name: str | None
    job_facets: dict[str, Any]
    run_uuid: str | None
    external_run_id: str | None
    run_facets: dict[str, Any]
    inputs: list[DatasetRef]
    outputs: list[DatasetRef]
    dataset: DatasetRef | None
    parent: ParentRef | None
    payload: bytes = field(repr=False)
    event_hash: str = ""


def run_uuid_for(run_id: str) -> tuple[str, str | None]:
    """Return (uuid, external id): the runId itself if it is a UUID, else a UUIDv5 of it."""
    try:
        return str(uuid.UUID(run_id)), None
    except ValueError:
        return str(uuid.uuid5(RUN_ID_NAMESPACE, run_id)), run_id


def event_kind(schema_url: Any) -> EventKind:
    if not isinstance(schema_url, str):
        return EventKind.RUN
    if schema_url.endswith("DatasetEvent"):
        return EventKind.DATASET
    if schema_url.endswith("JobEvent"):
        return EventKind.JOB
    return EventKind.RUN


def parse_timestamp(value: Any, path: str) -> datetime:
    """ISO-8601 date-time; nanoseconds are cut to microseconds and a missing zone means UTC."""
    if not isinstance(value, str):
        raise BadRequestError("must be an ISO-8601 date-time string", path)
    if len(value) < 16 or value[10] not in "Tt ":
        raise BadRequestError(f"{value!r} is not an ISO-8601 date-time", path)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"{value!r} is not an ISO-8601 date-time", path) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestError("must be an object", path)
    return value


def _string(container: dict[str, Any], key: str, path: str) -> str:
    value = container.get(key)
    if value is None:
        raise BadRequestError("is required", f"{path}.{key}" if path else key)
    if not isinstance(value, str) or not value:
        raise BadRequestError("must be a non-empty string", f"{path}.{key}" if path else key)
    return value


def _facets(container: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    facets = _object(value, f"{path}.{key}")
    # A null facet is "no facet"; anything else must be an object to be one.
    cleaned: dict[str, Any] = {}
    for name, facet in facets.items():
        if facet is None:
            continue
        cleaned[name] = _object(facet, f"{path}.{key}.{name}")
    return cleaned


def _check_schema_facet(facets: dict[str, Any], path: str) -> None:
    schema = facets.get("schema")
    if schema is None:
        return
    fields = schema.get("fields", [])
    if not isinstance(fields, list):
        raise BadRequestError("must be an array", f"{path}.schema.fields")
    for i, item in enumerate(fields):
        item_path = f"{path}.schema.fields[{i}]"
        _string(_object(item, item_path), "name", item_path)


def _check_column_lineage_facet(facets: dict[str, Any], path: str) -> None:
    facet = facets.get("columnLineage")
    if facet is None:
        return
    fields = _object(facet.get("fields", {}), f"{path}.columnLineage.fields")
    for out_field, spec in fields.items():
        spec_path = f"{path}.columnLineage.fields.{out_field}"
        inputs = _object(spec, spec_path).get("inputFields", [])
        if not isinstance(inputs, list):
            raise BadRequestError("must be an array", f"{spec_path}.inputFields")
        for i, item in enumerate(inputs):
            item_path = f"{spec_path}.inputFields[{i}]"
            _object(item, item_path)
            for key in ("namespace", "name", "field"):
                _string(item, key, item_path)
            transformations = item.get("transformations", [])
            if not isinstance(transformations, list):
                raise BadRequestError("must be an array", f"{item_path}.transformations")


def _datasets(raw: dict[str, Any], key: str, io_key: str) -> list[DatasetRef]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequestError("must be an array", key)
    refs = []
    for i, item in enumerate(value):
        refs.append(_dataset(item, f"{key}[{i}]", io_key))
    return refs


def _dataset(item: Any, path: str, io_key: str | None) -> DatasetRef:
    data = _object(item, path)
    facets = _facets(data, "facets", path)
    _check_schema_facet(facets, f"{path}.facets")
    _check_column_lineage_facet(facets, f"{path}.facets")
    return DatasetRef(
        namespace=_string(data, "namespace", path),
        name=_string(data, "name", path),
        facets=facets,
        io_facets=_facets(data, io_key, path) if io_key else {},
    )


def _parent(run_facets: dict[str, Any]) -> ParentRef | None:
    facet = run_facets.get("parent")
    if facet is None:
        return None
    path = "run.facets.parent"
    job = _object(facet.get("job"), f"{path}.job")
    run = facet.get("run")
    run_uuid = None
    if run is not None:
        run_uuid = run_uuid_for(_string(_object(run, f"{path}.run"), "runId", f"{path}.run"))[0]
    return ParentRef(
        job_namespace=_string(job, "namespace", f"{path}.job"),
        job_name=_string(job, "name", f"{path}.job"),
        run_uuid=run_uuid,
    )


def validate_event(raw: Any) -> LineageEvent:
    """Validate one decoded event and return its normalised form.

    Raises:
        BadRequestError: naming the first offending field, e.g. ``run.runId: is required``.
    """
    data = _object(raw, "event")
    kind = event_kind(data.get("schemaURL"))
    event_time = parse_timestamp(data.get("eventTime"), "eventTime")
    producer = _string(data, "producer", "")
    event_type = data.get("eventType")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise BadRequestError(f"must be one of {', '.join(sorted(EVENT_TYPES))}", "eventType")

    job_namespace = job_name = None
    job_facets: dict[str, Any] = {}
    run_uuid = external_run_id = None
    run_facets: dict[str, Any] = {}
    parent = None
    dataset = None
    inputs: list[DatasetRef] = []
    outputs: list[DatasetRef] = []

    if kind is EventKind.DATASET:
        dataset = _dataset(data.get("dataset"), "dataset", None)
    else:
        job = _object(data.get("job"), "job")
        job_namespace = _string(job, "namespace", "job")
        job_name = _string(job, "name", "job")
        job_facets = _facets(job, "facets", "job")
        inputs = _datasets(data, "inputs", "inputFacets")
        outputs = _datasets(data, "outputs", "outputFacets")
    if kind is EventKind.RUN:
        run = _object(data.get("run"), "run")
        run_uuid, external_run_id = run_uuid_for(_string(run, "runId", "run"))
        run_facets = _facets(run, "facets", "run")
        parent = _parent(run_facets)
        if run_facets.get("nominalTime") is not None:
            nominal = run_facets["nominalTime"]
            parse_timestamp(
                nominal.get("nominalStartTime"), "run.facets.nominalTime.nominalStartTime"
            )
            if nominal.get("nominalEndTime") is not None:
                parse_timestamp(nominal["nominalEndTime"], "run.facets.nominalTime.nominalEndTime")

    payload = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return LineageEvent(
        kind=kind,
        event_type=event_type,
        event_time=event_time,
        producer=producer,
        job_namespace=job_namespace,
        job_name=job_name,
        job_facets=job_facets,
        run_uuid=run_uuid,
        external_run_id=external_run_id,
        run_facets=run_facets,
        inputs=inputs,
        outputs=outputs,
        dataset=dataset,
        parent=parent,
        payload=payload,
        event_hash=hashlib.sha256(payload).hexdigest(),
    )


def decode_json(body: bytes) -> Any:
    """Decode a request body, reporting where the JSON breaks."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from None
