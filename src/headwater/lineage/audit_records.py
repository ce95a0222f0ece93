"""The audit entry of each stored lineage event: which event, which run, which datasets.

A lineage event's entry targets its job (``job:<ns>:<name>``; a dataset event targets its
dataset) and refers to its run and, unless it is a START, to the datasets it wrote, so the
history of a dataset lists the runs that wrote it with the version they produced (the ``version`` dataset facet: for
Iceberg tables the snapshot id). The datasets it read are not repeated: the entry names the
event by its SHA-256 (``event``), which binds it to the stored raw event and so to its inputs,
and every byte an entry writes costs ingestion time (docs/benchmarks.md). Exact re-sends change
nothing and get no entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.audit import AuditRecord
from headwater.lineage.apply import EventOutcome
from headwater.lineage.events import DatasetRef, LineageEvent


def _node(ref: DatasetRef) -> str:
    return f"dataset:{ref.namespace}:{ref.name}"


def _version(ref: DatasetRef) -> str | None:
    version = ref.facets.get("version")
    number = version.get("datasetVersion") if isinstance(version, dict) else None
    return number if isinstance(number, str) else None


def event_record(event: LineageEvent, actor: str) -> AuditRecord:
    if event.dataset is not None:
        target = _node(event.dataset)
    elif event.job_namespace is not None and event.job_name is not None:
        target = f"job:{event.job_namespace}:{event.job_name}"
    else:  # validation makes run and job events name their job; kept total for safety
        target = "lineage:event"
    details: dict[str, Any] = {
        "event": event.event_hash,
        "kind": str(event.kind),
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat(),
        "producer": event.producer,
    }
    written = [_node(d) for d in event.outputs]
    if written:
        details["outputs"] = dict(zip(written, map(_version, event.outputs), strict=True))
    # A START announces what a run will write; it has written nothing yet. Its entry is found
    # through the run, and the dataset's history starts with the events that did write it.
    refs = [] if event.event_type == "START" else written
    if event.run_uuid is not None:
        details["run"] = event.run_uuid
        refs.append(f"run:{event.run_uuid}")
    return AuditRecord("lineage.event", target, actor, details, refs)


def stored_event_records(
    events: Sequence[LineageEvent], outcomes: Sequence[EventOutcome], actor: str
) -> list[AuditRecord]:
    return [
        event_record(event, actor)
        for event, outcome in zip(events, outcomes, strict=True)
        if outcome.stored
    ]
