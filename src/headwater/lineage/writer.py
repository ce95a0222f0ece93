"""Event -> lineage model: one transaction per event, and no write that changes nothing.

Each event inserts its raw form into ``lineage_events`` (an exact re-send stops right there)
and then updates namespaces, datasets and their versions, the job and its version, the run,
the run's inputs and outputs and column lineage, all in the same transaction. In a batch every
event runs in its own savepoint inside one database transaction: a failing event rolls back
alone, the others are committed together (one fsync on SQLite instead of one per event).

What keeps the hot path fast (see docs/benchmarks.md): rows are read in one query per kind,
facets re-sent unchanged are recognised by hash without being parsed, a dataset version is
created only when the schema or the producer's ``version`` facet changes, and a job's edges are
rewritten only when its version (inputs, outputs, location) changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, tuple_, update
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from headwater.db import Database, insert_for, insert_ignore
from headwater.db.schema import (
    column_lineage,
    dataset_versions,
    datasets,
    job_io,
    job_versions,
    jobs,
    lineage_events,
    namespaces,
    run_io,
    runs,
    sources,
)
from headwater.lineage import facets as F
from headwater.lineage.events import DatasetRef, EventKind, LineageEvent

JOB_VERSION_NAMESPACE = uuid.UUID("0d6b6a53-3f43-4a5e-8f0b-2c1f2b9b7c44")

RUN_STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
}
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "ABORTED"})

DatasetKey = tuple[str, str]  # (namespace, name)


@dataclass(slots=True)
class DatasetState:
    id: int
    version_uuid: str | None


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What happened to one event: stored, a duplicate (no-op), or failed with a reason."""

    stored: bool
    duplicate: bool = False
    reason: str | None = None
    retriable: bool = False


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in {"40001", "40P01"}


class LineageWriter:
    """Applies validated OpenLineage events to the lineage model."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @retry(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.02, max=0.5),
        reraise=True,
    )
    def write(self, event: LineageEvent) -> EventOutcome:
        """Store one event in its own transaction."""
        with self.database.write() as connection:
            return apply_event(connection, event)

    def write_batch(self, events: Sequence[LineageEvent]) -> list[EventOutcome]:
        """Store events in one transaction, each in its own savepoint; failures stay isolated."""
        outcomes: list[EventOutcome] = []
        try:
            with self.database.write() as connection:
                for event in events:
                    savepoint = connection.begin_nested()
                    try:
                        outcome = apply_event(connection, event)
                    except DBAPIError as exc:
                        savepoint.rollback()
                        outcomes.append(
                            EventOutcome(
                                False, reason=_db_reason(exc), retriable=_is_transient(exc)
                            )
                        )
                    else:
                        savepoint.commit()
                        outcomes.append(outcome)
        except DBAPIError as exc:
            # The commit itself failed: nothing of this batch is stored.
            reason = _db_reason(exc)
            return [EventOutcome(False, reason=reason, retriable=True) for _ in events]
        return outcomes


def _db_reason(exc: DBAPIError) -> str:
    return f"storage error: {str(exc.orig).splitlines()[0] if exc.orig else exc}"


def apply_event(connection: Connection, event: LineageEvent) -> EventOutcome:
    now = datetime.now(UTC)
    inserted = connection.execute(
        insert_for(connection, lineage_events)
        .values(
            event_hash=event.event_hash,
            kind=event.kind.value,
            event_type=event.event_type,
            event_time=event.event_time,
            received_at=now,
            run_uuid=event.run_uuid,
            job_namespace=event.job_namespace,
            job_name=event.job_name,
            producer=event.producer,
            payload=event.payload.decode(),
        )
        .on_conflict_do_nothing(index_elements=["event_hash"])
    )
    if inserted.rowcount == 0:
        return EventOutcome(stored=False, duplicate=True)
    if event.kind is EventKind.DATASET:
        assert event.dataset is not None
        _upsert_datasets(connection, [event.dataset], set(), None, now)
    else:
        _apply_job_event(connection, event, now)
    return EventOutcome(stored=True)


# -- namespaces ------------------------------------------------------------------------------


def _namespace_ids(connection: Connection, names: Iterable[str], now: datetime) -> dict[str, int]:
    wanted = set(names)
    found = {
        row.name: row
        for row in connection.execute(
            select(namespaces.c.id, namespaces.c.name, namespaces.c.is_hidden).where(
                namespaces.c.name.in_(wanted)
            )
        )
    }
    missing = wanted - found.keys()
    if missing:
        insert_ignore(
            connection,
            namespaces,
            [
                {"name": n, "created_at": now, "updated_at": now, "is_hidden": False}
                for n in sorted(missing)
            ],
            ["name"],
        )
        found.update(
            {
                row.name: row
                for row in connection.execute(
                    select(namespaces.c.id, namespaces.c.name, namespaces.c.is_hidden).where(
                        namespaces.c.name.in_(missing)
                    )
                )
            }
        )
    hidden = [row.id for row in found.values() if row.is_hidden]
    if hidden:
        # A new event un-deletes a soft-deleted namespace, as in Marquez.
        connection.execute(
            update(namespaces)
            .where(namespaces.c.id.in_(hidden))
            .values(is_hidden=False, updated_at=now)
        )
    return {name: row.id for name, row in found.items()}


# -- datasets --------------------------------------------------------------------------------

_DATASET_STATE_COLUMNS = (
    datasets.c.id,
    datasets.c.namespace_id,
    datasets.c.name,
    datasets.c.last_facets_hash,
    datasets.c.schema_hash,
    datasets.c.version_facet,
    datasets.c.cll_hash,
    datasets.c.current_version_uuid,
    datasets.c.is_deleted,
)


def _select_datasets(connection: Connection, keys: Iterable[tuple[int, str]]) -> dict[Any, Any]:
    rows = connection.execute(
        select(*_DATASET_STATE_COLUMNS).where(
            tuple_(datasets.c.namespace_id, datasets.c.name).in_(list(keys))
        )
    )
    return {(row.namespace_id, row.name): row for row in rows}


def _new_version(
    connection: Connection,
    dataset_id: int,
    merged: dict[str, Any],
    schema_hash: str | None,
    version: str | None,
    run_uuid: str | None,
    now: datetime,
) -> str:
    version_uuid = str(uuid.uuid4())
    connection.execute(
        dataset_versions.insert().values(
            uuid=version_uuid,
            dataset_id=dataset_id,
            version_facet=version,
            schema_hash=schema_hash,
            fields=F.schema_fields(merged),
            facets=merged,
            lifecycle_state=F.lifecycle_state(merged),
            run_uuid=run_uuid,
            created_at=now,
        )
    )
    return version_uuid


def _ensure_source(connection: Connection, name: str, uri: str, now: datetime) -> None:
    insert_ignore(
        connection,
        sources,
        [
            {
                "name": name,
                "type": F.source_type(uri),
                "connection_url": uri,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ["name"],
    )


def _merge_refs(refs: Iterable[DatasetRef]) -> dict[DatasetKey, dict[str, Any]]:
    """Facets per dataset; a dataset both read and written in one event merges both sides."""
    merged: dict[DatasetKey, dict[str, Any]] = {}
    for ref in refs:
        merged.setdefault((ref.namespace, ref.name), {}).update(ref.facets)
    return merged


def _upsert_datasets(
    connection: Connection,
    refs: Sequence[DatasetRef],
    outputs: set[DatasetKey],
    run_uuid: str | None,
    now: datetime,
) -> dict[DatasetKey, DatasetState]:
    """Create, un-delete and update every dataset an event mentions; return their ids/versions.

    Datasets named only as column-lineage inputs are created too, so every field edge has both
    ends in the store.
    """
    facets_by_key = _merge_refs(refs)
    cll_by_key = {
        key: F.column_lineage_rows(f) for key, f in facets_by_key.items() if "columnLineage" in f
    }
    all_keys = set(facets_by_key)
    for rows in cll_by_key.values():
        all_keys.update((r["input_namespace"], r["input_name"]) for r in rows)

    ns_ids = _namespace_ids(connection, (ns for ns, _ in all_keys), now)
    id_keys = {(ns_ids[ns], name): (ns, name) for ns, name in all_keys}
    found = _select_datasets(connection, id_keys)
    missing = sorted(set(id_keys) - found.keys())
    if missing:
        for ns, _ in {id_keys[k] for k in missing}:
            _ensure_source(connection, ns, ns, now)
        insert_ignore(
            connection,
            datasets,
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "namespace_id": ns_id,
                    "name": name,
                    "type": "DB_TABLE",
                    "physical_name": name,
                    "source_name": id_keys[(ns_id, name)][0],
                    "fields": [],
                    "facets": {},
                    "created_at": now,
                    "updated_at": now,
                    "is_deleted": False,
                }
                for ns_id, name in missing
            ],
            ["namespace_id", "name"],
        )
        found.update(_select_datasets(connection, missing))

    states: dict[DatasetKey, DatasetState] = {}
    for id_key in sorted(found):
        row = found[id_key]
        key = id_keys[id_key]
        state = DatasetState(row.id, row.current_version_uuid)
        states[key] = state
        incoming = facets_by_key.get(key, {})
        changes: dict[str, Any] = {}
        if row.is_deleted:
            changes["is_deleted"] = False
        facets_hash = F.stable_hash(incoming) if incoming else None
        needs_version = state.version_uuid is None
        if facets_hash is not None and facets_hash != row.last_facets_hash:
            current = connection.execute(
                select(datasets.c.facets).where(datasets.c.id == row.id)
            ).scalar_one()
            merged = {**current, **incoming}
            fields = F.schema_fields(merged)
            schema_hash = F.stable_hash(fields) if fields else None
            version = F.version_facet(merged)
            source = F.data_source(merged)
            if source is not None:
                _ensure_source(connection, source[0], source[1], now)
            changes.update(
                facets=merged,
                last_facets_hash=facets_hash,
                fields=fields,
                description=F.description(merged),
                lifecycle_state=F.lifecycle_state(merged),
            )
            if source is not None:
                changes["source_name"] = source[0]
            if schema_hash != row.schema_hash or version != row.version_facet:
                needs_version = True
                changes.update(schema_hash=schema_hash, version_facet=version)
                if key in outputs:
                    changes["last_modified_at"] = now
        else:
            merged = None
        if needs_version:
            if merged is None:
                merged = connection.execute(
                    select(datasets.c.facets).where(datasets.c.id == row.id)
                ).scalar_one()
            state.version_uuid = _new_version(
                connection,
                row.id,
                merged,
                changes.get("schema_hash", row.schema_hash),
                changes.get("version_facet", row.version_facet),
                run_uuid if key in outputs else None,
                now,
            )
            changes["current_version_uuid"] = state.version_uuid
        if key in cll_by_key:
            cll_hash = F.stable_hash(cll_by_key[key])
            if cll_hash != row.cll_hash:
                changes["cll_hash"] = cll_hash
        if changes:
            changes["updated_at"] = now
            connection.execute(update(datasets).where(datasets.c.id == row.id).values(**changes))

    for key, rows in cll_by_key.items():
        if F.stable_hash(rows) != found[(ns_ids[key[0]], key[1])].cll_hash:
            _replace_column_lineage(connection, states[key].id, rows, states, now)
    return states


def _replace_column_lineage(
    connection: Connection,
    dataset_id: int,
    rows: list[dict[str, Any]],
    states: dict[DatasetKey, DatasetState],
    now: datetime,
) -> None:
    connection.execute(
        delete(column_lineage).where(column_lineage.c.output_dataset_id == dataset_id)
    )
    if rows:
        connection.execute(
            column_lineage.insert(),
            [
                {
                    "output_dataset_id": dataset_id,
                    "output_field": r["output_field"],
                    "input_dataset_id": states[(r["input_namespace"], r["input_name"])].id,
                    "input_field": r["input_field"],
                    "transformation_type": r["transformation_type"],
                    "transformation_subtype": r["transformation_subtype"],
                    "transformation_description": r["transformation_description"],
                    "transformations": r["transformations"],
                    "updated_at": now,
                }
                for r in rows
            ],
        )


# -- jobs ------------------------------------------------------------------------------------


@dataclass(slots=True)
class JobState:
    id: int
    namespace: str
    name: str
    location: str | None
    current_version_uuid: str | None


def _full_job_name(name: str, parent_name: str | None) -> tuple[str, str]:
    """(name, simple name) following Marquez's ``parent.child`` naming.

    A child whose name already starts with ``parent.`` (as Airflow and Spark send them) keeps
    it; any other child is named ``parent.child`` so that it cannot collide with a job of the
    same simple name under another parent.
    """
    if parent_name is None:
        return name, name
    prefix = parent_name + "."
    if name.startswith(prefix):
        return name, name[len(prefix) :]
    return prefix + name, name


def _upsert_job(
    connection: Connection,
    namespace_id: int,
    namespace: str,
    name: str,
    simple_name: str,
    incoming: dict[str, Any],
    parent_job_id: int | None,
    now: datetime,
) -> JobState:
    def select_job() -> Any:
        return connection.execute(
            select(
                jobs.c.id,
                jobs.c.last_facets_hash,
                jobs.c.location,
                jobs.c.current_version_uuid,
                jobs.c.is_deleted,
                jobs.c.parent_job_id,
            ).where(jobs.c.namespace_id == namespace_id, jobs.c.name == name)
        ).first()

    row = select_job()
    if row is None:
        insert_ignore(
            connection,
            jobs,
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "namespace_id": namespace_id,
                    "name": name,
                    "simple_name": simple_name,
                    "parent_job_id": parent_job_id,
                    "type": F.job_type(incoming),
                    "facets": {},
                    "created_at": now,
                    "updated_at": now,
                    "is_deleted": False,
                }
            ],
            ["namespace_id", "name"],
        )
        row = select_job()
    changes: dict[str, Any] = {}
    location = row.location
    if row.is_deleted:
        changes["is_deleted"] = False
    if parent_job_id is not None and row.parent_job_id != parent_job_id:
        changes["parent_job_id"] = parent_job_id
    facets_hash = F.stable_hash(incoming) if incoming else None
    if facets_hash is not None and facets_hash != row.last_facets_hash:
        current = connection.execute(select(jobs.c.facets).where(jobs.c.id == row.id)).scalar_one()
        merged = {**current, **incoming}
        location = F.job_location(merged) or location
        changes.update(
            facets=merged,
            last_facets_hash=facets_hash,
            location=location,
            description=F.description(merged),
            type=F.job_type(merged),
        )
    if changes:
        changes["updated_at"] = now
        connection.execute(update(jobs).where(jobs.c.id == row.id).values(**changes))
    return JobState(row.id, namespace, name, location, row.current_version_uuid)


def _job_version(
    connection: Connection,
    job: JobState,
    inputs: set[DatasetKey],
    outputs: set[DatasetKey],
    states: dict[DatasetKey, DatasetState],
    now: datetime,
) -> str:
    """The job version for these inputs/outputs/location; moves the job's edges if it is new."""
    ins, outs = sorted(inputs), sorted(outputs)
    version = str(
        uuid.uuid5(
            JOB_VERSION_NAMESPACE, F.stable_hash([job.namespace, job.name, job.location, ins, outs])
        )
    )
    if version == job.current_version_uuid:
        return version
    insert_ignore(
        connection,
        job_versions,
        [
            {
                "uuid": version,
                "job_id": job.id,
                "location": job.location,
                "inputs": [{"namespace": ns, "name": n} for ns, n in ins],
                "outputs": [{"namespace": ns, "name": n} for ns, n in outs],
                "created_at": now,
            }
        ],
        ["uuid"],
    )
    connection.execute(delete(job_io).where(job_io.c.job_id == job.id))
    edges = [{"job_id": job.id, "dataset_id": states[k].id, "io_type": "INPUT"} for k in ins]
    edges += [{"job_id": job.id, "dataset_id": states[k].id, "io_type": "OUTPUT"} for k in outs]
    insert_ignore(connection, job_io, edges, ["job_id", "dataset_id", "io_type"])
    connection.execute(
        update(jobs).where(jobs.c.id == job.id).values(current_version_uuid=version, updated_at=now)
    )
    job.current_version_uuid = version
    return version


def _resolve_job(connection: Connection, event: LineageEvent, now: datetime) -> JobState:
    assert event.job_namespace is not None and event.job_name is not None
    parent = event.parent
    ns_names = {event.job_namespace} | ({parent.job_namespace} if parent else set())
    ns_ids = _namespace_ids(connection, ns_names, now)
    parent_job_id = None
    parent_name = None
    if parent is not None:
        parent_name = parent.job_name
        parent_job_id = _upsert_job(
            connection,
            ns_ids[parent.job_namespace],
            parent.job_namespace,
            parent.job_name,
            parent.job_name,
            {},
            None,
            now,
        ).id
    name, simple = _full_job_name(event.job_name, parent_name)
    return _upsert_job(
        connection,
        ns_ids[event.job_namespace],
        event.job_namespace,
        name,
        simple,
        event.job_facets,
        parent_job_id,
        now,
    )


# -- runs ------------------------------------------------------------------------------------


def _next_state(
    current: str, transitioned_at: datetime | None, incoming: str | None, at: datetime
) -> str:
    """Run state machine tolerant of real-world order.

    A terminal state is never undone by a late START/RUNNING; between two terminal events the
    later eventTime wins; OTHER (or no eventType) never changes the state.
    """
    if incoming is None:
        return current
    if current in TERMINAL_STATES:
        if incoming in TERMINAL_STATES and (transitioned_at is None or at > transitioned_at):
            return incoming
        return current
    return incoming


def _apply_job_event(connection: Connection, event: LineageEvent, now: datetime) -> None:
    job = _resolve_job(connection, event, now)
    input_keys = {(d.namespace, d.name) for d in event.inputs}
    output_keys = {(d.namespace, d.name) for d in event.outputs}
    states = _upsert_datasets(
        connection, [*event.inputs, *event.outputs], output_keys, event.run_uuid, now
    )
    if event.kind is EventKind.JOB:
        if input_keys or output_keys:
            _job_version(connection, job, input_keys, output_keys, states, now)
        return
    _apply_run(connection, event, job, states, input_keys, output_keys, now)


def _apply_run(
    connection: Connection,
    event: LineageEvent,
    job: JobState,
    states: dict[DatasetKey, DatasetState],
    input_keys: set[DatasetKey],
    output_keys: set[DatasetKey],
    now: datetime,
) -> None:
    assert event.run_uuid is not None
    at = event.event_time
    incoming_state = RUN_STATES.get(event.event_type or "")
    nominal = event.run_facets.get("nominalTime") or {}
    nominal_start = nominal.get("nominalStartTime")
    nominal_end = nominal.get("nominalEndTime")

    row = connection.execute(
        select(
            runs.c.id,
            runs.c.state,
            runs.c.transitioned_at,
            runs.c.started_at,
            runs.c.ended_at,
            runs.c.job_version_uuid,
        ).where(runs.c.uuid == event.run_uuid)
    ).first()

    existing_io: dict[tuple[int, str], Any] = {}
    all_inputs, all_outputs = set(input_keys), set(output_keys)
    if row is not None:
        for io in connection.execute(
            select(
                run_io.c.dataset_id,
                run_io.c.io_type,
                run_io.c.dataset_version_uuid,
                run_io.c.facets,
                namespaces.c.name.label("namespace"),
                datasets.c.name,
            )
            .join(datasets, datasets.c.id == run_io.c.dataset_id)
            .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
            .where(run_io.c.run_id == row.id)
        ):
            existing_io[(io.dataset_id, io.io_type)] = io
            (all_inputs if io.io_type == "INPUT" else all_outputs).add((io.namespace, io.name))
            states.setdefault((io.namespace, io.name), DatasetState(io.dataset_id, None))

    version = None
    if all_inputs or all_outputs or job.current_version_uuid is None:
        version = _job_version(connection, job, all_inputs, all_outputs, states, now)

    parse = _parse_optional_time
    if row is None:
        state = incoming_state or "NEW"
        inserted = connection.execute(
            runs.insert().values(
                uuid=event.run_uuid,
                external_id=event.external_run_id,
                job_id=job.id,
                job_version_uuid=version,
                parent_run_uuid=event.parent.run_uuid if event.parent else None,
                state=state,
                transitioned_at=at if incoming_state else None,
                nominal_start_time=parse(nominal_start),
                nominal_end_time=parse(nominal_end),
                started_at=at if event.event_type in ("START", "RUNNING") else None,
                ended_at=at if state in TERMINAL_STATES else None,
                facets=event.run_facets,
                created_at=at,
                updated_at=now,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None
        run_id = key[0]
        connection.execute(
            update(jobs)
            .where(
                jobs.c.id == job.id,
                or_(jobs.c.latest_run_at.is_(None), jobs.c.latest_run_at <= at),
            )
            .values(latest_run_uuid=event.run_uuid, latest_run_at=at)
        )
    else:
        run_id = row.id
        changes: dict[str, Any] = {}
        state = _next_state(row.state, row.transitioned_at, incoming_state, at)
        if state != row.state:
            changes.update(state=state, transitioned_at=at)
            if state in TERMINAL_STATES:
                changes["ended_at"] = at
        if event.event_type == "START" and (row.started_at is None or at < row.started_at):
            changes["started_at"] = at
        if version is not None and version != row.job_version_uuid:
            changes["job_version_uuid"] = version
        if event.run_facets:
            current = connection.execute(
                select(runs.c.facets).where(runs.c.id == row.id)
            ).scalar_one()
            merged = {**current, **event.run_facets}
            if merged != current:
                changes["facets"] = merged
                if nominal_start:
                    changes["nominal_start_time"] = parse(nominal_start)
                    changes["nominal_end_time"] = parse(nominal_end)
                if event.parent:
                    changes["parent_run_uuid"] = event.parent.run_uuid
        if changes:
            changes["updated_at"] = now
            connection.execute(update(runs).where(runs.c.id == row.id).values(**changes))

    _write_run_io(connection, run_id, event, states, existing_io)


def _write_run_io(
    connection: Connection,
    run_id: int,
    event: LineageEvent,
    states: dict[DatasetKey, DatasetState],
    existing: dict[tuple[int, str], Any],
) -> None:
    new_rows = []
    seen: set[tuple[int, str]] = set()
    for io_type, refs in (("INPUT", event.inputs), ("OUTPUT", event.outputs)):
        for ref in refs:
            state = states[(ref.namespace, ref.name)]
            if (state.id, io_type) in seen:
                continue
            seen.add((state.id, io_type))
            old = existing.get((state.id, io_type))
            if old is None:
                new_rows.append(
                    {
                        "run_id": run_id,
                        "dataset_id": state.id,
                        "io_type": io_type,
                        "dataset_version_uuid": state.version_uuid,
                        "facets": ref.io_facets,
                    }
                )
                continue
            merged = {**old.facets, **ref.io_facets}
            if merged != old.facets or state.version_uuid != old.dataset_version_uuid:
                connection.execute(
                    update(run_io)
                    .where(
                        and_(
                            run_io.c.run_id == run_id,
                            run_io.c.dataset_id == state.id,
                            run_io.c.io_type == io_type,
                        )
                    )
                    .values(dataset_version_uuid=state.version_uuid, facets=merged)
                )
    insert_ignore(connection, run_io, new_rows, ["run_id", "dataset_id", "io_type"])


def _parse_optional_time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
