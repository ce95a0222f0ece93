"""Event -> lineage model: one transaction per event, and no write that changes nothing.

Each event inserts its raw form into ``lineage_events`` (an exact re-send stops right there)
and then updates namespaces, datasets and their versions, the job and its version, the run,
the run's inputs and outputs and column lineage, all in the same transaction. In a batch every
event runs in its own savepoint inside one database transaction: a failing event rolls back
alone, the others are committed together (one fsync on SQLite instead of one per event).

What keeps the hot path fast (numbers in docs/benchmarks.md):
- one query per entity kind (datasets, job, run) with the namespace joined in;
- statements are built once and reused, so SQLAlchemy compiles nothing per event;
- facets are compared, not hashed or re-parsed: each dataset and job row carries a random
  ``facets_rev`` token renewed on every change, and `FacetCache` keeps the last facets seen per
  row in memory. When the token matches, the incoming facets are compared with the cached dicts;
  an unchanged facet costs a dict comparison and no write. Another process changing the row
  changes the token, so a stale cache is never trusted.
- a dataset version is created only when the schema or the producer's ``version`` facet
  changes, column lineage is rewritten only when the ``columnLineage`` facet changes, and a
  job's edges only when its version (inputs, outputs, location) changes.
"""

from __future__ import annotations

import secrets
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from headwater.db import Database, insert_for, insert_ignore, only_pairs
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


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What happened to one event: stored, a duplicate (no-op), or failed with a reason."""

    stored: bool
    duplicate: bool = False
    reason: str | None = None
    retriable: bool = False


class FacetCache:
    """The last known facets of dataset and job rows, keyed by (table, id), bounded LRU."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = Lock()

    def get(self, table: str, row_id: int, rev: str | None) -> dict[str, Any] | None:
        if rev is None:
            return {}  # a row whose facets were never set
        with self._lock:
            item = self._items.get((table, row_id))
            if item is None or item[0] != rev:
                return None
            self._items.move_to_end((table, row_id))
            return item[1]

    def put(self, table: str, row_id: int, rev: str, facets: dict[str, Any]) -> None:
        with self._lock:
            self._items[(table, row_id)] = (rev, facets)
            self._items.move_to_end((table, row_id))
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in {"40001", "40P01"}


def _db_reason(exc: DBAPIError) -> str:
    return f"storage error: {str(exc.orig).splitlines()[0] if exc.orig else exc}"


class LineageWriter:
    """Applies validated OpenLineage events to the lineage model."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.cache = FacetCache()

    @retry(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.02, max=0.5),
        reraise=True,
    )
    def write(self, event: LineageEvent) -> EventOutcome:
        """Store one event in its own transaction."""
        with self.database.write() as connection:
            return _Apply(connection, self.cache).event(event)

    def write_batch(self, events: Sequence[LineageEvent]) -> list[EventOutcome]:
        """Store events in one transaction, each in its own savepoint; failures stay isolated."""
        outcomes: list[EventOutcome] = []
        try:
            with self.database.write() as connection:
                apply = _Apply(connection, self.cache)
                for event in events:
                    savepoint = connection.begin_nested()
                    try:
                        outcome = apply.event(event)
                    except DBAPIError as exc:
                        savepoint.rollback()
                        reason, retriable = _db_reason(exc), _is_transient(exc)
                        outcomes.append(EventOutcome(False, reason=reason, retriable=retriable))
                    else:
                        savepoint.commit()
                        outcomes.append(outcome)
        except DBAPIError as exc:
            # The commit itself failed: nothing of this batch is stored.
            reason = _db_reason(exc)
            return [EventOutcome(False, reason=reason, retriable=True) for _ in events]
        return outcomes


def apply_event(connection: Connection, event: LineageEvent) -> EventOutcome:
    """Apply one event on ``connection`` (inside the caller's transaction), without a cache."""
    return _Apply(connection, FacetCache(size=1_000)).event(event)


# -- statements built once -------------------------------------------------------------------

_SELECT_DATASETS = (
    select(
        datasets.c.id,
        namespaces.c.name.label("ns"),
        datasets.c.name,
        datasets.c.facets_rev,
        datasets.c.schema_hash,
        datasets.c.version_facet,
        datasets.c.current_version_uuid,
        datasets.c.is_deleted,
    )
    .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
    # Two IN lists rather than a row-value IN, which SQLite answers with a full index scan
    # (see headwater.db.pairs); rows for pairs not asked for are dropped by the caller.
    .where(
        namespaces.c.name.in_(bindparam("namespaces", expanding=True)),
        datasets.c.name.in_(bindparam("names", expanding=True)),
    )
)
_SELECT_DATASET_FACETS = select(datasets.c.facets).where(datasets.c.id == bindparam("id"))
_SELECT_VERSION_BY_FACET = (
    select(dataset_versions.c.uuid)
    .where(
        dataset_versions.c.dataset_id == bindparam("id"),
        dataset_versions.c.version_facet == bindparam("version"),
    )
    .order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc())
    .limit(1)
)
_SELECT_JOB = (
    select(
        jobs.c.id,
        jobs.c.facets_rev,
        jobs.c.location,
        jobs.c.current_version_uuid,
        jobs.c.is_deleted,
        jobs.c.parent_job_id,
    )
    .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
    .where(namespaces.c.name == bindparam("ns"), jobs.c.name == bindparam("name"))
)
_SELECT_JOB_FACETS = select(jobs.c.facets).where(jobs.c.id == bindparam("id"))
_SELECT_NAMESPACES = select(namespaces.c.id, namespaces.c.name, namespaces.c.is_hidden).where(
    namespaces.c.name.in_(bindparam("names", expanding=True))
)
# An existing run, with the name of the job it belongs to (see `_Apply.resolve_job`).
_SELECT_RUN = (
    select(
        runs.c.id,
        runs.c.state,
        runs.c.transitioned_at,
        runs.c.started_at,
        runs.c.job_version_uuid,
        runs.c.facets,
        namespaces.c.name.label("job_ns"),
        jobs.c.name.label("job_name"),
        jobs.c.simple_name.label("job_simple_name"),
    )
    .join(jobs, jobs.c.id == runs.c.job_id)
    .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
    .where(runs.c.uuid == bindparam("uuid"))
)
_SELECT_RUN_IO = (
    select(
        run_io.c.dataset_id,
        run_io.c.io_type,
        run_io.c.dataset_version_uuid,
        run_io.c.facets,
        namespaces.c.name.label("ns"),
        datasets.c.name,
    )
    .join(datasets, datasets.c.id == run_io.c.dataset_id)
    .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
    .where(run_io.c.run_id == bindparam("run_id"))
)
_UPDATE_LATEST_RUN = (
    update(jobs)
    .where(
        jobs.c.id == bindparam("job_id"),
        or_(jobs.c.latest_run_at.is_(None), jobs.c.latest_run_at <= bindparam("at")),
    )
    .values(latest_run_uuid=bindparam("run_uuid"), latest_run_at=bindparam("at"))
)
_UPDATE_RUN_IO = (
    update(run_io)
    .where(
        and_(
            run_io.c.run_id == bindparam("r_id"),
            run_io.c.dataset_id == bindparam("d_id"),
            run_io.c.io_type == bindparam("io"),
        )
    )
    .values(dataset_version_uuid=bindparam("version"), facets=bindparam("facets"))
)
_INSERT_DATASET_VERSION = dataset_versions.insert()
_INSERT_COLUMN_LINEAGE = column_lineage.insert()
_DELETE_COLUMN_LINEAGE = delete(column_lineage).where(
    column_lineage.c.output_dataset_id == bindparam("id")
)
_DELETE_JOB_IO = delete(job_io).where(job_io.c.job_id == bindparam("id"))

_UPSERTS: dict[tuple[str, str], postgresql.Insert | sqlite.Insert] = {}


def _insert_ignoring(
    connection: Connection, table: Table, keys: Sequence[str]
) -> postgresql.Insert | sqlite.Insert:
    """A cached INSERT ... ON CONFLICT (keys) DO NOTHING for the connection's dialect."""
    cache_key = (connection.dialect.name, table.name)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        stmt = insert_for(connection, table).on_conflict_do_nothing(index_elements=list(keys))
        _UPSERTS[cache_key] = stmt
    return stmt


def _new_rev() -> str:
    return secrets.token_hex(8)


# -- the work of one event -------------------------------------------------------------------


@dataclass(slots=True)
class _Dataset:
    id: int
    version_uuid: str | None


@dataclass(slots=True)
class _Job:
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


def _parse_optional_time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class _Apply:
    """Applies events on one connection; ``now`` is taken per event."""

    def __init__(self, connection: Connection, cache: FacetCache) -> None:
        self.c = connection
        self.cache = cache
        self.now = datetime.now(UTC)

    def event(self, event: LineageEvent) -> EventOutcome:
        self.now = datetime.now(UTC)
        inserted = self.c.execute(
            _insert_ignoring(self.c, lineage_events, ["event_hash"]),
            {
                "event_hash": event.event_hash,
                "kind": event.kind.value,
                "event_type": event.event_type,
                "event_time": event.event_time,
                "received_at": self.now,
                "run_uuid": event.run_uuid,
                "job_namespace": event.job_namespace,
                "job_name": event.job_name,
                "producer": event.producer,
                "payload": event.payload,
            },
        )
        if inserted.rowcount == 0:
            return EventOutcome(stored=False, duplicate=True)
        if event.kind is EventKind.DATASET:
            assert event.dataset is not None
            self.datasets([event.dataset], set(), None)
            return EventOutcome(stored=True)
        run_row = None
        if event.kind is EventKind.RUN:
            run_row = self.c.execute(_SELECT_RUN, {"uuid": event.run_uuid}).first()
        job = self.resolve_job(event, run_row)
        input_keys = {(d.namespace, d.name) for d in event.inputs}
        output_keys = {(d.namespace, d.name) for d in event.outputs}
        states = self.datasets(
            [*event.inputs, *event.outputs], output_keys, event.run_uuid, input_keys
        )
        if event.kind is EventKind.JOB:
            if input_keys or output_keys:
                self.job_version(job, input_keys, output_keys, states)
        else:
            self.run(event, run_row, job, states, input_keys, output_keys)
        return EventOutcome(stored=True)

    # -- namespaces ------------------------------------------------------------------------

    def namespace_ids(self, names: set[str]) -> dict[str, int]:
        found = {r.name: r for r in self.c.execute(_SELECT_NAMESPACES, {"names": list(names)})}
        missing = names - found.keys()
        if missing:
            rows = [
                {"name": n, "created_at": self.now, "updated_at": self.now, "is_hidden": False}
                for n in sorted(missing)
            ]
            self.c.execute(_insert_ignoring(self.c, namespaces, ["name"]), rows)
            found.update(
                {r.name: r for r in self.c.execute(_SELECT_NAMESPACES, {"names": list(missing)})}
            )
        hidden = [r.id for r in found.values() if r.is_hidden]
        if hidden:
            # A new event un-deletes a soft-deleted namespace, as in Marquez.
            self.c.execute(
                update(namespaces)
                .where(namespaces.c.id.in_(hidden))
                .values(is_hidden=False, updated_at=self.now)
            )
        return {name: r.id for name, r in found.items()}

    # -- datasets --------------------------------------------------------------------------

    def datasets(
        self,
        refs: Sequence[DatasetRef],
        outputs: set[DatasetKey],
        run_uuid: str | None,
        inputs: set[DatasetKey] | None = None,
    ) -> dict[DatasetKey, _Dataset]:
        """Create, un-delete and update every dataset an event names; return ids and versions.

        Datasets named only as column-lineage inputs are created too, so that every field edge
        has both ends in the store.

        The ``version`` facet of a dataset only read (in ``inputs``, not in ``outputs``) names
        the snapshot the run read, which may be an older one (time travel, or a reader's
        COMPLETE arriving after the next write). It never creates a version or rolls the
        dataset back: it picks the existing version with that ``datasetVersion`` for the run's
        input, else the current one, and is kept on the dataset only while it has no version.
        """
        incoming: dict[DatasetKey, dict[str, Any]] = {}
        read_versions: dict[DatasetKey, tuple[str, dict[str, Any]]] = {}
        for ref in refs:  # a dataset both read and written in one event merges both sides
            key = (ref.namespace, ref.name)
            facets = ref.facets
            read_version = F.version_facet(facets)
            if inputs and key in inputs and key not in outputs and read_version is not None:
                read_versions[key] = (read_version, facets["version"])
                facets = {k: v for k, v in facets.items() if k != "version"}
            incoming.setdefault(key, {}).update(facets)
        keys = set(incoming)
        for facets in incoming.values():
            for field in ((facets.get("columnLineage") or {}).get("fields") or {}).values():
                keys.update((i["namespace"], i["name"]) for i in field.get("inputFields") or [])

        rows = self.select_datasets(keys)
        missing = keys - rows.keys()
        if missing:
            self.insert_datasets(missing)
            rows.update(self.select_datasets(missing))
        states: dict[DatasetKey, _Dataset] = {}
        lineage_changed: list[tuple[int, dict[str, Any]]] = []
        for key in sorted(rows):
            row = rows[key]
            state = _Dataset(row.id, row.current_version_uuid)
            states[key] = state
            changes: dict[str, Any] = {"is_deleted": False} if row.is_deleted else {}
            new = incoming.get(key)
            read = read_versions.get(key)
            if read is not None and row.current_version_uuid is None:
                new = {**(new or {}), "version": read[1]}  # the first sighting is a reader's
            current = self.current_facets("datasets", row.id, row.facets_rev) if new else None
            if new and current is not None and any(current.get(k) != v for k, v in new.items()):
                merged = {**current, **new}
                rev = _new_rev()
                changes.update(self.dataset_changes(merged, row, key in outputs), facets_rev=rev)
                self.cache.put("datasets", row.id, rev, merged)
                if new.get("columnLineage") is not None and new["columnLineage"] != current.get(
                    "columnLineage"
                ):
                    lineage_changed.append((row.id, merged))
            if state.version_uuid is None or "schema_hash" in changes:
                facets_now = changes.get("facets")
                if facets_now is None:
                    facets_now = self.current_facets("datasets", row.id, row.facets_rev) or {}
                state.version_uuid = self.new_version(
                    row.id,
                    facets_now,
                    changes.get("schema_hash", row.schema_hash),
                    changes.get("version_facet", row.version_facet),
                    run_uuid if key in outputs else None,
                )
                changes["current_version_uuid"] = state.version_uuid
            if read is not None and read[0] != changes.get("version_facet", row.version_facet):
                older = self.c.execute(
                    _SELECT_VERSION_BY_FACET, {"id": row.id, "version": read[0]}
                ).scalar()
                if older is not None:
                    state.version_uuid = older
            if changes:
                changes["updated_at"] = self.now
                self.c.execute(update(datasets).where(datasets.c.id == row.id).values(**changes))
        for dataset_id, merged in lineage_changed:
            self.replace_column_lineage(dataset_id, merged, states)
        return states

    def select_datasets(self, keys: set[DatasetKey]) -> dict[DatasetKey, Any]:
        params = {
            "namespaces": sorted({ns for ns, _ in keys}),
            "names": sorted({n for _, n in keys}),
        }
        rows = only_pairs(self.c.execute(_SELECT_DATASETS, params), keys, lambda r: (r.ns, r.name))
        return {(r.ns, r.name): r for r in rows}

    def current_facets(self, table: str, row_id: int, rev: str | None) -> dict[str, Any]:
        cached = self.cache.get(table, row_id, rev)
        if cached is not None:
            return cached
        stmt = _SELECT_DATASET_FACETS if table == "datasets" else _SELECT_JOB_FACETS
        facets: dict[str, Any] = self.c.execute(stmt, {"id": row_id}).scalar_one()
        assert rev is not None
        self.cache.put(table, row_id, rev, facets)
        return facets

    def dataset_changes(self, merged: dict[str, Any], row: Any, is_output: bool) -> dict[str, Any]:
        fields = F.schema_fields(merged)
        schema_hash = F.stable_hash(fields) if fields else None
        version = F.version_facet(merged)
        changes: dict[str, Any] = {
            "facets": merged,
            "fields": fields,
            "description": F.description(merged),
            "lifecycle_state": F.lifecycle_state(merged),
        }
        source = F.data_source(merged)
        if source is not None:
            self.ensure_source(*source)
            changes["source_name"] = source[0]
        if schema_hash != row.schema_hash or version != row.version_facet:
            changes.update(schema_hash=schema_hash, version_facet=version)
            if is_output:
                changes["last_modified_at"] = self.now
        return changes

    def insert_datasets(self, keys: set[DatasetKey]) -> None:
        ns_ids = self.namespace_ids({ns for ns, _ in keys})
        for ns in sorted({ns for ns, _ in keys}):
            self.ensure_source(ns, ns)
        rows = [
            {
                "uuid": str(uuid.uuid4()),
                "namespace_id": ns_ids[ns],
                "name": name,
                "type": "DB_TABLE",
                "physical_name": name,
                "source_name": ns,
                "fields": [],
                "facets": {},
                "created_at": self.now,
                "updated_at": self.now,
                "is_deleted": False,
            }
            for ns, name in sorted(keys)
        ]
        self.c.execute(_insert_ignoring(self.c, datasets, ["namespace_id", "name"]), rows)

    def ensure_source(self, name: str, uri: str) -> None:
        insert_ignore(
            self.c,
            sources,
            [
                {
                    "name": name,
                    "type": F.source_type(uri),
                    "connection_url": uri,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            ],
            ["name"],
        )

    def new_version(
        self,
        dataset_id: int,
        merged: dict[str, Any],
        schema_hash: str | None,
        version: str | None,
        run_uuid: str | None,
    ) -> str:
        version_uuid = str(uuid.uuid4())
        self.c.execute(
            _INSERT_DATASET_VERSION,
            {
                "uuid": version_uuid,
                "dataset_id": dataset_id,
                "version_facet": version,
                "schema_hash": schema_hash,
                "fields": F.schema_fields(merged),
                "facets": merged,
                "lifecycle_state": F.lifecycle_state(merged),
                "run_uuid": run_uuid,
                "created_at": self.now,
            },
        )
        return version_uuid

    def replace_column_lineage(
        self, dataset_id: int, merged: dict[str, Any], states: dict[DatasetKey, _Dataset]
    ) -> None:
        self.c.execute(_DELETE_COLUMN_LINEAGE, {"id": dataset_id})
        rows = F.column_lineage_rows(merged)
        if rows:
            self.c.execute(
                _INSERT_COLUMN_LINEAGE,
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
                        "updated_at": self.now,
                    }
                    for r in rows
                ],
            )

    # -- jobs ------------------------------------------------------------------------------

    def resolve_job(self, event: LineageEvent, run_row: Any) -> _Job:
        assert event.job_namespace is not None and event.job_name is not None
        if run_row is not None:
            # As in Marquez, the events of a run already stored stay on that run's job: Spark
            # and Airflow often send the ``parent`` facet on some events of a run only, and a
            # COMPLETE without it must not land on a stray ``task`` job beside ``dag.task``.
            return self.upsert_job(
                run_row.job_ns,
                run_row.job_name,
                run_row.job_simple_name,
                event.job_facets,
                None,
            )
        parent = event.parent
        if parent is not None and (parent.job_namespace, parent.job_name) == (
            event.job_namespace,
            event.job_name,
        ):
            # Some producers name the job itself as the parent (Marquez's own fixtures do):
            # a job cannot be its own parent, so there is no hierarchy to record.
            parent = None
        parent_job_id = None
        if parent is not None:
            parent_job = self.upsert_job(
                parent.job_namespace, parent.job_name, parent.job_name, {}, None
            )
            parent_job_id = parent_job.id
        name, simple = _full_job_name(event.job_name, parent.job_name if parent else None)
        return self.upsert_job(event.job_namespace, name, simple, event.job_facets, parent_job_id)

    def upsert_job(
        self,
        namespace: str,
        name: str,
        simple_name: str,
        new: dict[str, Any],
        parent_job_id: int | None,
    ) -> _Job:
        row = self.c.execute(_SELECT_JOB, {"ns": namespace, "name": name}).first()
        if row is None:
            ns_id = self.namespace_ids({namespace})[namespace]
            job_row = {
                "uuid": str(uuid.uuid4()),
                "namespace_id": ns_id,
                "name": name,
                "simple_name": simple_name,
                "parent_job_id": parent_job_id,
                "type": F.job_type(new),
                "facets": {},
                "created_at": self.now,
                "updated_at": self.now,
                "is_deleted": False,
            }
            self.c.execute(_insert_ignoring(self.c, jobs, ["namespace_id", "name"]), job_row)
            row = self.c.execute(_SELECT_JOB, {"ns": namespace, "name": name}).one()
        changes: dict[str, Any] = {}
        location = row.location
        if row.is_deleted:
            changes["is_deleted"] = False
            self.namespace_ids({namespace})  # un-hides a soft-deleted namespace
        if parent_job_id is not None and row.parent_job_id != parent_job_id:
            changes["parent_job_id"] = parent_job_id
        if new:
            current = self.current_facets("jobs", row.id, row.facets_rev)
            if any(current.get(k) != v for k, v in new.items()):
                merged = {**current, **new}
                rev = _new_rev()
                self.cache.put("jobs", row.id, rev, merged)
                location = F.job_location(merged) or location
                changes.update(
                    facets=merged,
                    facets_rev=rev,
                    location=location,
                    description=F.description(merged),
                    type=F.job_type(merged),
                )
        if changes:
            changes["updated_at"] = self.now
            self.c.execute(update(jobs).where(jobs.c.id == row.id).values(**changes))
        return _Job(row.id, namespace, name, location, row.current_version_uuid)

    def job_version(
        self,
        job: _Job,
        inputs: set[DatasetKey],
        outputs: set[DatasetKey],
        states: dict[DatasetKey, _Dataset],
    ) -> str:
        """The job version for these inputs/outputs/location; moves the job's edges if new."""
        ins, outs = sorted(inputs), sorted(outputs)
        content = F.stable_hash([job.namespace, job.name, job.location, ins, outs])
        version = str(uuid.uuid5(JOB_VERSION_NAMESPACE, content))
        if version == job.current_version_uuid:
            return version
        insert_ignore(
            self.c,
            job_versions,
            [
                {
                    "uuid": version,
                    "job_id": job.id,
                    "location": job.location,
                    "inputs": [{"namespace": ns, "name": n} for ns, n in ins],
                    "outputs": [{"namespace": ns, "name": n} for ns, n in outs],
                    "created_at": self.now,
                }
            ],
            ["uuid"],
        )
        self.c.execute(_DELETE_JOB_IO, {"id": job.id})
        edges = [{"job_id": job.id, "dataset_id": states[k].id, "io_type": "INPUT"} for k in ins]
        edges += [{"job_id": job.id, "dataset_id": states[k].id, "io_type": "OUTPUT"} for k in outs]
        if edges:
            self.c.execute(
                _insert_ignoring(self.c, job_io, ["job_id", "dataset_id", "io_type"]), edges
            )
        self.c.execute(
            update(jobs)
            .where(jobs.c.id == job.id)
            .values(current_version_uuid=version, updated_at=self.now)
        )
        job.current_version_uuid = version
        return version

    # -- runs ------------------------------------------------------------------------------

    def run(
        self,
        event: LineageEvent,
        row: Any,
        job: _Job,
        states: dict[DatasetKey, _Dataset],
        input_keys: set[DatasetKey],
        output_keys: set[DatasetKey],
    ) -> None:
        assert event.run_uuid is not None
        at = event.event_time
        incoming_state = RUN_STATES.get(event.event_type or "")
        nominal = event.run_facets.get("nominalTime") or {}

        # The job's version covers everything the run read and wrote so far, whatever the
        # order its events arrive in.
        existing_io: dict[tuple[int, str], Any] = {}
        all_inputs, all_outputs = set(input_keys), set(output_keys)
        if row is not None:
            for io in self.c.execute(_SELECT_RUN_IO, {"run_id": row.id}):
                existing_io[(io.dataset_id, io.io_type)] = io
                (all_inputs if io.io_type == "INPUT" else all_outputs).add((io.ns, io.name))
                states.setdefault((io.ns, io.name), _Dataset(io.dataset_id, None))
        # A run that names no datasets (yet) belongs to the job's current version rather than
        # moving the job's edges to "reads and writes nothing".
        version = job.current_version_uuid
        if all_inputs or all_outputs or version is None:
            version = self.job_version(job, all_inputs, all_outputs, states)

        run_id = None
        if row is None:
            state = incoming_state or "NEW"
            inserted = self.c.execute(
                _insert_ignoring(self.c, runs, ["uuid"]).returning(runs.c.id),
                {
                    "uuid": event.run_uuid,
                    "external_id": event.external_run_id,
                    "job_id": job.id,
                    "job_version_uuid": version,
                    "parent_run_uuid": event.parent.run_uuid if event.parent else None,
                    "state": state,
                    "transitioned_at": at if incoming_state else None,
                    "nominal_start_time": _parse_optional_time(nominal.get("nominalStartTime")),
                    "nominal_end_time": _parse_optional_time(nominal.get("nominalEndTime")),
                    "started_at": at if event.event_type in ("START", "RUNNING") else None,
                    "ended_at": at if state in TERMINAL_STATES else None,
                    "facets": event.run_facets,
                    "created_at": at,
                    "updated_at": self.now,
                },
            )
            run_id = inserted.scalar()
            if run_id is None:
                # Another transaction stored this run first (its START and COMPLETE arrived in
                # concurrent requests): apply this event to that run as an update.
                row = self.c.execute(_SELECT_RUN, {"uuid": event.run_uuid}).one()
                for io in self.c.execute(_SELECT_RUN_IO, {"run_id": row.id}):
                    existing_io[(io.dataset_id, io.io_type)] = io
            else:
                self.c.execute(
                    _UPDATE_LATEST_RUN, {"job_id": job.id, "at": at, "run_uuid": event.run_uuid}
                )
        if row is not None:
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
            if event.run_facets and any(
                row.facets.get(k) != v for k, v in event.run_facets.items()
            ):
                changes["facets"] = {**row.facets, **event.run_facets}
                if nominal.get("nominalStartTime"):
                    changes["nominal_start_time"] = _parse_optional_time(
                        nominal["nominalStartTime"]
                    )
                    changes["nominal_end_time"] = _parse_optional_time(
                        nominal.get("nominalEndTime")
                    )
                if event.parent:
                    changes["parent_run_uuid"] = event.parent.run_uuid
            if changes:
                changes["updated_at"] = self.now
                self.c.execute(update(runs).where(runs.c.id == row.id).values(**changes))
        assert run_id is not None
        self.run_io(run_id, event, states, existing_io)

    def run_io(
        self,
        run_id: int,
        event: LineageEvent,
        states: dict[DatasetKey, _Dataset],
        existing: dict[tuple[int, str], Any],
    ) -> None:
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
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
                changed_facets = any(old.facets.get(k) != v for k, v in ref.io_facets.items())
                if changed_facets or state.version_uuid != old.dataset_version_uuid:
                    changed_rows.append(
                        {
                            "r_id": run_id,
                            "d_id": state.id,
                            "io": io_type,
                            "version": state.version_uuid,
                            "facets": {**old.facets, **ref.io_facets},
                        }
                    )
        if changed_rows:
            self.c.execute(_UPDATE_RUN_IO, changed_rows)
        if new_rows:
            self.c.execute(
                _insert_ignoring(self.c, run_io, ["run_id", "dataset_id", "io_type"]), new_rows
            )
