"""Event -> lineage model, a whole batch at a time, and no write that changes nothing.

`apply_events` works in three steps inside the caller's transaction:

1. **store the raw events**: one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` into
   ``lineage_events``; an event whose hash is already stored (or repeated in the batch) is an
   exact re-send and stops right there;
2. **load** everything the remaining events touch, a few statements for the whole batch:
   namespaces, datasets (created when missing), jobs (likewise), the runs already stored with
   their inputs and outputs, and the facets of rows the `FacetCache` does not hold;
3. **apply** the events one by one, in order, to those rows in memory (later events see what
   earlier ones did), collecting the writes, then **flush** them: one ``executemany`` per table
   and kind of change.

Applying a batch costs about 15 statements instead of ~10 per event: the per-statement work of
SQLAlchemy and the driver (and on PostgreSQL a network round trip each) was most of the cost of
an event (docs/benchmarks.md). `LineageWriter` runs a batch this way in one savepoint and falls
back to one event per savepoint when the batch fails, so that a failing event fails alone.

What else keeps the work small:
- facets are compared, not hashed or re-parsed: each dataset and job row carries a random
  ``facets_rev`` token renewed on every change, and `FacetCache` keeps the last facets seen per
  row. When the token matches, the incoming facets are compared with the cached dicts; an
  unchanged facet costs a dict comparison and no write. Another process changing the row
  changes the token, so a stale cache is never trusted;
- a dataset version is created only when the schema or the producer's ``version`` facet
  changes, column lineage is rewritten only when the ``columnLineage`` facet changes, and a
  job's edges only when its version (inputs, outputs, location) changes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, or_, select, update

from headwater.db import insert_for, only_pairs
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
from headwater.db.updates import RowUpdates
from headwater.lineage import facets as F
from headwater.lineage.events import DatasetRef, EventKind, LineageEvent
from headwater.lineage.facet_cache import FacetCache
from headwater.lineage.run_state import RUN_STATES, TERMINAL_STATES, next_state

JOB_VERSION_NAMESPACE = uuid.UUID("0d6b6a53-3f43-4a5e-8f0b-2c1f2b9b7c44")

CHUNK = 500  # ids or names per IN list

DatasetKey = tuple[str, str]  # (namespace, name)
JobKey = tuple[str, str]  # (namespace, full name)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What happened to one event: stored, a duplicate (no-op), or failed with a reason."""

    stored: bool
    duplicate: bool = False
    reason: str | None = None
    retriable: bool = False


class RunRace(Exception):
    """A concurrent transaction created a run this one was creating: apply again (it exists now)."""


def apply_events(
    connection: Connection, events: Sequence[LineageEvent], cache: FacetCache
) -> list[EventOutcome]:
    """Apply ``events`` in order on ``connection``, inside the caller's transaction.

    Raises `RunRace` when a concurrent transaction created one of the runs first; the caller
    rolls back and applies again.
    """
    batch = _Batch(connection, cache)
    fresh = batch.store_raw(events)
    todo = [event for event, new in zip(events, fresh, strict=True) if new]
    if todo:
        plans = batch.load(todo)
        for event, plan in zip(todo, plans, strict=True):
            batch.event(event, plan)
        batch.flush()
    return [EventOutcome(stored=True) if new else EventOutcome(False, True) for new in fresh]


# -- statements built once -------------------------------------------------------------------

# Two IN lists rather than a row-value IN, which SQLite answers with a full index scan (see
# headwater.db.pairs); rows for pairs not asked for are dropped by the caller.
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
    .where(
        namespaces.c.name.in_(bindparam("namespaces", expanding=True)),
        datasets.c.name.in_(bindparam("names", expanding=True)),
    )
)
_SELECT_JOBS = (
    select(
        jobs.c.id,
        namespaces.c.name.label("ns"),
        jobs.c.name,
        jobs.c.facets_rev,
        jobs.c.location,
        jobs.c.current_version_uuid,
        jobs.c.is_deleted,
        jobs.c.parent_job_id,
        jobs.c.latest_run_at,
    )
    .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
    .where(
        namespaces.c.name.in_(bindparam("namespaces", expanding=True)),
        jobs.c.name.in_(bindparam("names", expanding=True)),
    )
)
_SELECT_FACETS = {
    table.name: select(table.c.id, table.c.facets).where(
        table.c.id.in_(bindparam("ids", expanding=True))
    )
    for table in (datasets, jobs)
}
_SELECT_VERSION_BY_FACET = (
    select(dataset_versions.c.uuid)
    .where(
        dataset_versions.c.dataset_id == bindparam("id"),
        dataset_versions.c.version_facet == bindparam("version"),
    )
    .order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc())
    .limit(1)
)
_SELECT_NAMESPACES = select(namespaces.c.id, namespaces.c.name, namespaces.c.is_hidden).where(
    namespaces.c.name.in_(bindparam("names", expanding=True))
)
# Stored runs, with the name of the job each belongs to (see `_Batch.plan_jobs`).
_SELECT_RUNS = (
    select(
        runs.c.id,
        runs.c.uuid,
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
    .where(runs.c.uuid.in_(bindparam("uuids", expanding=True)))
)
_SELECT_RUN_IO = (
    select(
        run_io.c.run_id,
        run_io.c.dataset_id,
        run_io.c.io_type,
        run_io.c.dataset_version_uuid,
        run_io.c.facets,
        namespaces.c.name.label("ns"),
        datasets.c.name,
    )
    .join(datasets, datasets.c.id == run_io.c.dataset_id)
    .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
    .where(run_io.c.run_id.in_(bindparam("ids", expanding=True)))
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
        run_io.c.run_id == bindparam("r_id"),
        run_io.c.dataset_id == bindparam("d_id"),
        run_io.c.io_type == bindparam("io"),
    )
    .values(dataset_version_uuid=bindparam("version"), facets=bindparam("facets"))
)

# Statements built once rather than per batch: SQLAlchemy computes the cache key of every new
# statement object it executes (and `.returning()` copies the statement), which was a few
# percent of a batch's CPU.
_INSERT_VERSIONS = dataset_versions.insert()
_INSERT_COLUMN_LINEAGE = column_lineage.insert()
_DELETE_COLUMN_LINEAGE = delete(column_lineage).where(
    column_lineage.c.output_dataset_id.in_(bindparam("ids", expanding=True))
)
_DELETE_JOB_IO = delete(job_io).where(job_io.c.job_id.in_(bindparam("ids", expanding=True)))
_LOCK_ROWS = {
    table.name: select(table.c.id)
    .where(table.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(table.c.id)
    .with_for_update(key_share=True)
    for table in (datasets, jobs, runs)
}

_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _insert_ignoring(
    connection: Connection, table: Table, keys: Sequence[str], returning: Sequence[str] = ()
) -> Any:
    """A cached INSERT ... ON CONFLICT (keys) DO NOTHING [RETURNING returning] for the
    connection's dialect."""
    cache_key = (connection.dialect.name, table.name, tuple(returning))
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        stmt = insert_for(connection, table).on_conflict_do_nothing(index_elements=list(keys))
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        _UPSERTS[cache_key] = stmt
    return stmt


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(items)
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


def _new_rev() -> str:
    # A change token, not a secret: the Mersenne Twister (reseeded in forked children) costs a
    # fraction of an os.urandom call, which was 3 % of the server's ingest time.
    return f"{random.getrandbits(64):016x}"


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


def _parse_optional_time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _dataset_keys(refs: Iterable[DatasetRef]) -> set[DatasetKey]:
    """Every dataset ``refs`` name, including the inputs of their column lineage, so that every
    field edge has both ends in the store."""
    keys: set[DatasetKey] = set()
    for ref in refs:
        keys.add((ref.namespace, ref.name))
        keys |= ref.column_inputs
    return keys


def _refs(event: LineageEvent) -> list[DatasetRef]:
    return [event.dataset] if event.dataset is not None else [*event.inputs, *event.outputs]


# -- the rows a batch works on -----------------------------------------------------------------


@dataclass(slots=True)
class _DatasetRow:
    id: int
    facets_rev: str | None
    facets: dict[str, Any]
    schema_hash: str | None
    version_facet: str | None
    current_version_uuid: str | None
    is_deleted: bool


@dataclass(slots=True)
class _JobRow:
    id: int
    namespace: str
    name: str
    facets_rev: str | None
    facets: dict[str, Any]
    location: str | None
    current_version_uuid: str | None
    is_deleted: bool
    parent_job_id: int | None
    latest_run_at: datetime | None


@dataclass(slots=True)
class _Io:
    key: DatasetKey
    version_uuid: str | None
    facets: dict[str, Any]


@dataclass(slots=True)
class _RunRow:
    id: int | None  # None: created by this batch, inserted by `flush`
    job: _JobRow
    values: dict[str, Any]  # the columns the state machine reads (all columns when new)
    io: dict[tuple[int, str], _Io] = field(default_factory=dict)
    new_io: set[tuple[int, str]] = field(default_factory=set)
    changed_io: set[tuple[int, str]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The job an event lands on, and its parent's when the event names a new run's parent."""

    job: JobKey
    parent: JobKey | None


@dataclass(slots=True)
class _EventDatasets:
    """What one event made of its datasets: their ids and the version each run input/output
    refers to."""

    ids: dict[DatasetKey, int]
    versions: dict[DatasetKey, str | None]


class _Batch:
    def __init__(self, connection: Connection, cache: FacetCache) -> None:
        self.c = connection
        self.cache = cache
        self.now = datetime.now(UTC)
        self.datasets: dict[DatasetKey, _DatasetRow] = {}
        self.jobs: dict[JobKey, _JobRow] = {}
        self.runs: dict[str, _RunRow] = {}
        self.dataset_updates = RowUpdates(datasets)
        self.job_updates = RowUpdates(jobs)
        self.run_updates = RowUpdates(runs)
        self.new_versions: list[dict[str, Any]] = []
        self.version_by_facet: dict[tuple[int, str], str] = {}
        self.column_lineage: dict[int, list[dict[str, Any]]] = {}
        self.job_versions: dict[str, dict[str, Any]] = {}
        self.job_io: dict[int, list[dict[str, Any]]] = {}
        self.latest_runs: dict[int, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}

    # -- 1. raw events ---------------------------------------------------------------------

    def store_raw(self, events: Sequence[LineageEvent]) -> list[bool]:
        """Insert the raw events; True for each one not stored before (nor earlier in ``events``)."""
        first: dict[str, int] = {}
        for i, event in enumerate(events):
            first.setdefault(event.event_hash, i)
        rows = [
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
            }
            for event in (events[i] for i in sorted(first.values()))
        ]
        stmt = _insert_ignoring(self.c, lineage_events, ["event_hash"], ["event_hash"])
        inserted = set(self.c.execute(stmt, rows).scalars()) if rows else set()
        return [
            first[event.event_hash] == i and event.event_hash in inserted
            for i, event in enumerate(events)
        ]

    # -- 2. load ---------------------------------------------------------------------------

    def load(self, events: Sequence[LineageEvent]) -> list[_Plan]:
        stored_runs = self.select_runs({e.run_uuid for e in events if e.kind is EventKind.RUN})
        plans, simple_names = self.plan_jobs(events, stored_runs)
        dataset_keys: set[DatasetKey] = set()
        for event in events:
            dataset_keys |= _dataset_keys(_refs(event))
        ns_ids = self.namespace_ids({ns for ns, _ in [*dataset_keys, *simple_names]})
        self.load_datasets(dataset_keys, ns_ids)
        self.load_jobs(simple_names, ns_ids)
        self.load_runs(stored_runs)
        return plans

    def select_runs(self, uuids: set[str | None]) -> list[Any]:
        wanted = {u for u in uuids if u is not None}
        return [
            r for chunk in _chunks(wanted) for r in self.c.execute(_SELECT_RUNS, {"uuids": chunk})
        ]

    def plan_jobs(
        self, events: Sequence[LineageEvent], stored_runs: list[Any]
    ) -> tuple[list[_Plan], dict[JobKey, str]]:
        """The job of every event, and the simple name of every job the batch names.

        As in Marquez, the events of a run already stored (or created earlier in the batch)
        stay on that run's job: Spark and Airflow often send the ``parent`` facet on some events
        of a run only, and a COMPLETE without it must not land on a stray ``task`` job beside
        ``dag.task``.
        """
        run_jobs: dict[str, JobKey] = {r.uuid: (r.job_ns, r.job_name) for r in stored_runs}
        simple_names = {(r.job_ns, r.job_name): r.job_simple_name for r in stored_runs}
        plans: list[_Plan] = []
        for event in events:
            if event.kind is EventKind.DATASET:
                plans.append(_Plan(("", ""), None))
                continue
            assert event.job_namespace is not None and event.job_name is not None
            known = run_jobs.get(event.run_uuid or "")
            if known is not None:
                plans.append(_Plan(known, None))
                continue
            parent = event.parent
            if parent is not None and (parent.job_namespace, parent.job_name) == (
                event.job_namespace,
                event.job_name,
            ):
                # Some producers name the job itself as the parent (Marquez's own fixtures do):
                # a job cannot be its own parent, so there is no hierarchy to record.
                parent = None
            parent_key = None
            if parent is not None:
                parent_key = (parent.job_namespace, parent.job_name)
                simple_names.setdefault(parent_key, parent.job_name)
            name, simple = _full_job_name(event.job_name, parent.job_name if parent else None)
            key = (event.job_namespace, name)
            simple_names.setdefault(key, simple)
            if event.kind is EventKind.RUN and event.run_uuid is not None:
                run_jobs[event.run_uuid] = key
            plans.append(_Plan(key, parent_key))
        return plans, simple_names

    def namespace_ids(self, names: set[str]) -> dict[str, int]:
        """Ids of ``names``, created when missing; a new event un-deletes a soft-deleted
        namespace, as in Marquez."""
        found = {
            r.name: r
            for chunk in _chunks(names)
            for r in self.c.execute(_SELECT_NAMESPACES, {"names": chunk})
        }
        missing = names - found.keys()
        if missing:
            rows = [
                {"name": n, "created_at": self.now, "updated_at": self.now, "is_hidden": False}
                for n in sorted(missing)
            ]
            self.c.execute(_insert_ignoring(self.c, namespaces, ["name"]), rows)
            for chunk in _chunks(missing):
                found.update(
                    {r.name: r for r in self.c.execute(_SELECT_NAMESPACES, {"names": chunk})}
                )
        hidden = sorted(r.id for r in found.values() if r.is_hidden)
        if hidden:
            self.c.execute(
                update(namespaces)
                .where(namespaces.c.id.in_(hidden))
                .values(is_hidden=False, updated_at=self.now)
            )
        return {name: r.id for name, r in found.items()}

    def select_pairs(self, stmt: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        found: dict[tuple[str, str], Any] = {}
        for chunk in _chunks(keys):
            params = {
                "namespaces": sorted({ns for ns, _ in chunk}),
                "names": sorted({n for _, n in chunk}),
            }
            rows = only_pairs(self.c.execute(stmt, params), set(chunk), lambda r: (r.ns, r.name))
            found.update({(r.ns, r.name): r for r in rows})
        return found

    def rows_for(
        self,
        table: Table,
        stmt: Any,
        keys: set[tuple[str, str]],
        new_row: Callable[[str, str], dict[str, Any]],
    ) -> tuple[dict[tuple[str, str], Any], dict[int, dict[str, Any]]]:
        """The dataset or job rows of ``keys`` (namespace, name), the missing ones created from
        ``new_row(namespace, name)``, and their current facets by id."""
        rows = self.select_pairs(stmt, keys)
        missing = keys - rows.keys()
        if missing:
            new = [
                {
                    **new_row(ns, name),
                    "name": name,
                    "uuid": str(uuid.uuid4()),
                    "facets": {},
                    "created_at": self.now,
                    "updated_at": self.now,
                    "is_deleted": False,
                }
                for ns, name in sorted(missing)
            ]
            self.c.execute(_insert_ignoring(self.c, table, ["namespace_id", "name"]), new)
            rows.update(self.select_pairs(stmt, missing))
        return rows, self.facets(table.name, {r.id: r.facets_rev for r in rows.values()})

    def load_datasets(self, keys: set[DatasetKey], ns_ids: dict[str, int]) -> None:
        def new_dataset(ns: str, name: str) -> dict[str, Any]:
            self.sources.setdefault(ns, self.source_row(ns, ns))
            return {
                "namespace_id": ns_ids[ns],
                "type": "DB_TABLE",
                "physical_name": name,
                "source_name": ns,
                "fields": [],
            }

        rows, facets = self.rows_for(datasets, _SELECT_DATASETS, keys, new_dataset)
        for key, r in rows.items():
            self.datasets[key] = _DatasetRow(
                r.id,
                r.facets_rev,
                facets[r.id],
                r.schema_hash,
                r.version_facet,
                r.current_version_uuid,
                r.is_deleted,
            )

    def load_jobs(self, simple_names: dict[JobKey, str], ns_ids: dict[str, int]) -> None:
        def new_job(ns: str, name: str) -> dict[str, Any]:
            return {
                "namespace_id": ns_ids[ns],
                "simple_name": simple_names[(ns, name)],
                "type": "BATCH",
            }

        rows, facets = self.rows_for(jobs, _SELECT_JOBS, set(simple_names), new_job)
        for (ns, name), r in rows.items():
            self.jobs[(ns, name)] = _JobRow(
                r.id,
                ns,
                name,
                r.facets_rev,
                facets[r.id],
                r.location,
                r.current_version_uuid,
                r.is_deleted,
                r.parent_job_id,
                r.latest_run_at,
            )

    def facets(self, table: str, revs: dict[int, str | None]) -> dict[int, dict[str, Any]]:
        """The current facets of rows ``revs`` (id -> facets_rev), from the cache when valid."""
        found: dict[int, dict[str, Any]] = {}
        for row_id, rev in revs.items():
            cached = self.cache.get(table, row_id, rev)
            if cached is not None:
                found[row_id] = cached
        for chunk in _chunks(revs.keys() - found.keys()):
            for row_id, value in self.c.execute(_SELECT_FACETS[table], {"ids": chunk}):
                found[row_id] = value
                rev = revs[row_id]
                assert rev is not None
                self.cache.put(table, row_id, rev, value)
        return found

    def load_runs(self, stored: list[Any]) -> None:
        by_id: dict[int, _RunRow] = {}
        for r in stored:
            run = _RunRow(
                r.id,
                self.jobs[(r.job_ns, r.job_name)],
                {
                    "state": r.state,
                    "transitioned_at": r.transitioned_at,
                    "started_at": r.started_at,
                    "job_version_uuid": r.job_version_uuid,
                    "facets": r.facets,
                },
            )
            self.runs[r.uuid] = by_id[r.id] = run
        for chunk in _chunks(by_id):
            for io in self.c.execute(_SELECT_RUN_IO, {"ids": chunk}):
                by_id[io.run_id].io[(io.dataset_id, io.io_type)] = _Io(
                    (io.ns, io.name), io.dataset_version_uuid, io.facets
                )

    # -- 3. apply --------------------------------------------------------------------------

    def event(self, event: LineageEvent, plan: _Plan) -> None:
        if event.kind is EventKind.DATASET:
            assert event.dataset is not None
            self.apply_datasets([event.dataset], set(), set(), None)
            return
        job = self.resolve_job(event, plan)
        input_keys = {(d.namespace, d.name) for d in event.inputs}
        output_keys = {(d.namespace, d.name) for d in event.outputs}
        states = self.apply_datasets(
            [*event.inputs, *event.outputs], input_keys, output_keys, event.run_uuid
        )
        if event.kind is EventKind.JOB:
            if input_keys or output_keys:
                self.job_version(
                    job,
                    {k: states.ids[k] for k in input_keys},
                    {k: states.ids[k] for k in output_keys},
                )
        else:
            self.run(event, job, states, input_keys, output_keys)

    # -- datasets --------------------------------------------------------------------------

    def apply_datasets(
        self,
        refs: Sequence[DatasetRef],
        inputs: set[DatasetKey],
        outputs: set[DatasetKey],
        run_uuid: str | None,
    ) -> _EventDatasets:
        """Un-delete and update every dataset an event names; return ids and versions.

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
            if key in inputs and key not in outputs and read_version is not None:
                read_versions[key] = (read_version, facets["version"])
                facets = {k: v for k, v in facets.items() if k != "version"}
            incoming.setdefault(key, {}).update(facets)

        result = _EventDatasets({}, {})
        lineage_changed: list[tuple[int, dict[str, Any]]] = []
        for key in sorted(_dataset_keys(refs)):
            row = self.datasets[key]
            changes: dict[str, Any] = (
                {"is_deleted": False, "deleted_at": None} if row.is_deleted else {}
            )
            new = incoming.get(key)
            read = read_versions.get(key)
            if read is not None and row.current_version_uuid is None:
                new = {**(new or {}), "version": read[1]}  # the first sighting is a reader's
            current = row.facets
            if new and any(current.get(k) != v for k, v in new.items()):
                merged = {**current, **new}
                rev = _new_rev()
                changes.update(self.dataset_changes(merged, row, key in outputs), facets_rev=rev)
                self.cache.put("datasets", row.id, rev, merged)
                row.facets, row.facets_rev = merged, rev
                lineage = new.get("columnLineage")
                if lineage is not None and lineage != current.get("columnLineage"):
                    lineage_changed.append((row.id, merged))
            if "schema_hash" in changes:
                row.schema_hash = changes["schema_hash"]
                row.version_facet = changes["version_facet"]
            if row.current_version_uuid is None or "schema_hash" in changes:
                row.current_version_uuid = changes["current_version_uuid"] = self.new_version(
                    row, run_uuid if key in outputs else None
                )
            version = row.current_version_uuid
            if read is not None and read[0] != row.version_facet:
                version = self.version_with_facet(row.id, read[0]) or version
            if changes:
                row.is_deleted = False
                changes["updated_at"] = self.now
                self.dataset_updates.add(row.id, changes)
            result.ids[key] = row.id
            result.versions[key] = version
        for dataset_id, merged in lineage_changed:
            self.replace_column_lineage(dataset_id, merged)
        return result

    def dataset_changes(
        self, merged: dict[str, Any], row: _DatasetRow, is_output: bool
    ) -> dict[str, Any]:
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
            self.sources.setdefault(source[0], self.source_row(*source))
            changes["source_name"] = source[0]
        if schema_hash != row.schema_hash or version != row.version_facet:
            changes.update(schema_hash=schema_hash, version_facet=version)
            if is_output:
                changes["last_modified_at"] = self.now
        return changes

    def source_row(self, name: str, uri: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": F.source_type(uri),
            "connection_url": uri,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def new_version(self, row: _DatasetRow, run_uuid: str | None) -> str:
        version_uuid = str(uuid.uuid4())
        self.new_versions.append(
            {
                "uuid": version_uuid,
                "dataset_id": row.id,
                "version_facet": row.version_facet,
                "schema_hash": row.schema_hash,
                "fields": F.schema_fields(row.facets),
                "facets": row.facets,
                "lifecycle_state": F.lifecycle_state(row.facets),
                "run_uuid": run_uuid,
                "created_at": self.now,
            }
        )
        if row.version_facet is not None:
            self.version_by_facet[(row.id, row.version_facet)] = version_uuid
        return version_uuid

    def version_with_facet(self, dataset_id: int, version: str) -> str | None:
        """The latest version of a dataset with this ``datasetVersion``, if there is one."""
        pending = self.version_by_facet.get((dataset_id, version))
        if pending is not None:
            return pending
        found: str | None = self.c.execute(
            _SELECT_VERSION_BY_FACET, {"id": dataset_id, "version": version}
        ).scalar()
        return found

    def replace_column_lineage(self, dataset_id: int, merged: dict[str, Any]) -> None:
        self.column_lineage[dataset_id] = [
            {
                "output_dataset_id": dataset_id,
                "output_field": r["output_field"],
                "input_dataset_id": self.datasets[(r["input_namespace"], r["input_name"])].id,
                "input_field": r["input_field"],
                "transformation_type": r["transformation_type"],
                "transformation_subtype": r["transformation_subtype"],
                "transformation_description": r["transformation_description"],
                "transformations": r["transformations"],
                "updated_at": self.now,
            }
            for r in F.column_lineage_rows(merged)
        ]

    # -- jobs ------------------------------------------------------------------------------

    def resolve_job(self, event: LineageEvent, plan: _Plan) -> _JobRow:
        parent_job_id = None
        if plan.parent is not None:
            parent_job_id = self.upsert_job(plan.parent, {}, None).id
        return self.upsert_job(plan.job, event.job_facets, parent_job_id)

    def upsert_job(self, key: JobKey, new: dict[str, Any], parent_job_id: int | None) -> _JobRow:
        row = self.jobs[key]
        changes: dict[str, Any] = {}
        if row.is_deleted:
            changes["is_deleted"] = row.is_deleted = False
            changes["deleted_at"] = None
        if parent_job_id is not None and row.parent_job_id != parent_job_id:
            changes["parent_job_id"] = row.parent_job_id = parent_job_id
        if new and any(row.facets.get(k) != v for k, v in new.items()):
            merged = {**row.facets, **new}
            rev = _new_rev()
            self.cache.put("jobs", row.id, rev, merged)
            row.facets, row.facets_rev = merged, rev
            row.location = F.job_location(merged) or row.location
            changes.update(
                facets=merged,
                facets_rev=rev,
                location=row.location,
                description=F.description(merged),
                type=F.job_type(merged),
            )
        if changes:
            changes["updated_at"] = self.now
            self.job_updates.add(row.id, changes)
        return row

    def job_version(
        self, job: _JobRow, inputs: dict[DatasetKey, int], outputs: dict[DatasetKey, int]
    ) -> str:
        """The job version for these inputs/outputs/location; moves the job's edges if new."""
        ins, outs = sorted(inputs), sorted(outputs)
        content = F.stable_hash([job.namespace, job.name, job.location, ins, outs])
        version = str(uuid.uuid5(JOB_VERSION_NAMESPACE, content))
        if version == job.current_version_uuid:
            return version
        self.job_versions.setdefault(
            version,
            {
                "uuid": version,
                "job_id": job.id,
                "location": job.location,
                "inputs": [{"namespace": ns, "name": n} for ns, n in ins],
                "outputs": [{"namespace": ns, "name": n} for ns, n in outs],
                "created_at": self.now,
            },
        )
        self.job_io[job.id] = [
            *({"job_id": job.id, "dataset_id": inputs[k], "io_type": "INPUT"} for k in ins),
            *({"job_id": job.id, "dataset_id": outputs[k], "io_type": "OUTPUT"} for k in outs),
        ]
        job.current_version_uuid = version
        self.job_updates.add(job.id, {"current_version_uuid": version, "updated_at": self.now})
        return version

    # -- runs ------------------------------------------------------------------------------

    def run(
        self,
        event: LineageEvent,
        job: _JobRow,
        states: _EventDatasets,
        input_keys: set[DatasetKey],
        output_keys: set[DatasetKey],
    ) -> None:
        assert event.run_uuid is not None
        run = self.runs.get(event.run_uuid)
        # The job's version covers everything the run read and wrote so far, whatever the
        # order its events arrive in.
        all_inputs = {k: states.ids[k] for k in input_keys}
        all_outputs = {k: states.ids[k] for k in output_keys}
        if run is not None:
            for (dataset_id, io_type), io in run.io.items():
                (all_inputs if io_type == "INPUT" else all_outputs)[io.key] = dataset_id
        # A run that names no datasets (yet) belongs to the job's current version rather than
        # moving the job's edges to "reads and writes nothing".
        version = job.current_version_uuid
        if all_inputs or all_outputs or version is None:
            version = self.job_version(job, all_inputs, all_outputs)
        if run is None:
            run = self.new_run(event, job, version)
        else:
            self.update_run(event, run, version)
        self.run_io(run, event, states)

    def new_run(self, event: LineageEvent, job: _JobRow, version: str | None) -> _RunRow:
        assert event.run_uuid is not None
        at = event.event_time
        incoming = RUN_STATES.get(event.event_type or "")
        nominal = event.run_facets.get("nominalTime") or {}
        state = incoming or "NEW"
        run = _RunRow(
            None,
            job,
            {
                "uuid": event.run_uuid,
                "external_id": event.external_run_id,
                "job_id": job.id,
                "job_version_uuid": version,
                "parent_run_uuid": event.parent.run_uuid if event.parent else None,
                "state": state,
                "transitioned_at": at if incoming else None,
                "nominal_start_time": _parse_optional_time(nominal.get("nominalStartTime")),
                "nominal_end_time": _parse_optional_time(nominal.get("nominalEndTime")),
                "started_at": at if event.event_type in ("START", "RUNNING") else None,
                "ended_at": at if state in TERMINAL_STATES else None,
                "facets": event.run_facets,
                "created_at": at,
                "updated_at": self.now,
            },
        )
        self.runs[event.run_uuid] = run
        if job.latest_run_at is None or job.latest_run_at <= at:
            job.latest_run_at = at
            self.latest_runs[job.id] = {"job_id": job.id, "at": at, "run_uuid": event.run_uuid}
        return run

    def update_run(self, event: LineageEvent, run: _RunRow, version: str | None) -> None:
        at = event.event_time
        values = run.values
        changes: dict[str, Any] = {}
        state = next_state(
            values["state"], values["transitioned_at"], RUN_STATES.get(event.event_type or ""), at
        )
        if state != values["state"]:
            changes.update(state=state, transitioned_at=at)
            if state in TERMINAL_STATES:
                changes["ended_at"] = at
        started_at = values["started_at"]
        if event.event_type == "START" and (started_at is None or at < started_at):
            changes["started_at"] = at
        if version is not None and version != values["job_version_uuid"]:
            changes["job_version_uuid"] = version
        facets = values["facets"]
        if event.run_facets and any(facets.get(k) != v for k, v in event.run_facets.items()):
            changes["facets"] = {**facets, **event.run_facets}
            nominal = event.run_facets.get("nominalTime") or {}
            if nominal.get("nominalStartTime"):
                changes["nominal_start_time"] = _parse_optional_time(nominal["nominalStartTime"])
                changes["nominal_end_time"] = _parse_optional_time(nominal.get("nominalEndTime"))
            if event.parent:
                changes["parent_run_uuid"] = event.parent.run_uuid
        if changes:
            changes["updated_at"] = self.now
            values.update(changes)
            if run.id is not None:
                self.run_updates.add(run.id, changes)

    def run_io(self, run: _RunRow, event: LineageEvent, states: _EventDatasets) -> None:
        seen: set[tuple[int, str]] = set()
        for io_type, refs in (("INPUT", event.inputs), ("OUTPUT", event.outputs)):
            for ref in refs:
                key = (ref.namespace, ref.name)
                slot = (states.ids[key], io_type)
                if slot in seen:
                    continue
                seen.add(slot)
                version = states.versions[key]
                old = run.io.get(slot)
                if old is None:
                    run.io[slot] = _Io(key, version, ref.io_facets)
                    run.new_io.add(slot)
                    continue
                if version != old.version_uuid or any(
                    old.facets.get(k) != v for k, v in ref.io_facets.items()
                ):
                    run.io[slot] = _Io(key, version, {**old.facets, **ref.io_facets})
                    run.changed_io.add(slot)

    # -- 4. flush --------------------------------------------------------------------------

    def flush(self) -> None:
        c = self.c
        # New runs first: their insert waits for a concurrent transaction creating the same
        # run, and must not wait while holding the locks `lock_rows` takes.
        self.insert_new_runs()
        if c.dialect.name == "postgresql":
            self.lock_rows()
        if self.sources:
            rows = [self.sources[n] for n in sorted(self.sources)]
            c.execute(_insert_ignoring(c, sources, ["name"]), rows)
        if self.new_versions:
            c.execute(_INSERT_VERSIONS, self.new_versions)
        self.dataset_updates.flush(c)
        if self.column_lineage:
            for chunk in _chunks(self.column_lineage):
                c.execute(_DELETE_COLUMN_LINEAGE, {"ids": chunk})
            rows = [row for d in sorted(self.column_lineage) for row in self.column_lineage[d]]
            if rows:
                c.execute(_INSERT_COLUMN_LINEAGE, rows)
        if self.job_versions:
            c.execute(_insert_ignoring(c, job_versions, ["uuid"]), list(self.job_versions.values()))
        if self.job_io:
            for chunk in _chunks(self.job_io):
                c.execute(_DELETE_JOB_IO, {"ids": chunk})
            edges = [edge for j in sorted(self.job_io) for edge in self.job_io[j]]
            if edges:
                keys = ["job_id", "dataset_id", "io_type"]
                c.execute(_insert_ignoring(c, job_io, keys), edges)
        self.job_updates.flush(c)
        self.flush_runs()

    def lock_rows(self) -> None:
        """Lock every dataset, job and run row the flush changes, table by table in id order.

        The flush writes rows in several statements (one per set of changed columns), so two
        concurrent batches sharing rows would otherwise lock them in different orders and
        deadlock; PostgreSQL finds that only after ``deadlock_timeout`` (1 s), and the batch
        then falls back to one event at a time. ``FOR NO KEY UPDATE`` is the lock an UPDATE
        takes anyway, and unlike ``FOR UPDATE`` it does not wait for the key-share locks that
        other batches' foreign keys (a new run of a job, a version of a dataset) hold.
        """
        wanted = (
            (datasets, self.dataset_updates.ids() | self.column_lineage.keys()),
            (jobs, self.job_updates.ids() | self.latest_runs.keys() | self.job_io.keys()),
            (runs, self.run_updates.ids()),
        )
        for table, ids in wanted:
            for chunk in _chunks(ids):
                self.c.execute(_LOCK_ROWS[table.name], {"ids": chunk})

    def insert_new_runs(self) -> None:
        new = {uuid_: run for uuid_, run in self.runs.items() if run.id is None}
        if not new:
            return
        stmt = _insert_ignoring(self.c, runs, ["uuid"], ["uuid", "id"])
        rows = [new[u].values for u in sorted(new)]
        created = {r.uuid: r.id for r in self.c.execute(stmt, rows)}
        if len(created) != len(new):
            raise RunRace(sorted(new.keys() - created.keys())[0])
        for uuid_, run in new.items():
            run.id = created[uuid_]

    def flush_runs(self) -> None:
        c = self.c
        if self.latest_runs:
            latest = [self.latest_runs[j] for j in sorted(self.latest_runs)]
            c.execute(_UPDATE_LATEST_RUN, latest)
        self.run_updates.flush(c)
        new_io: list[dict[str, Any]] = []
        changed_io: list[dict[str, Any]] = []
        for run in self.runs.values():
            assert run.id is not None
            for slot in sorted(run.new_io):
                io = run.io[slot]
                new_io.append(
                    {
                        "run_id": run.id,
                        "dataset_id": slot[0],
                        "io_type": slot[1],
                        "dataset_version_uuid": io.version_uuid,
                        "facets": io.facets,
                    }
                )
            for slot in sorted(run.changed_io - run.new_io):
                io = run.io[slot]
                changed_io.append(
                    {
                        "r_id": run.id,
                        "d_id": slot[0],
                        "io": slot[1],
                        "version": io.version_uuid,
                        "facets": io.facets,
                    }
                )
        if changed_io:
            c.execute(_UPDATE_RUN_IO, changed_io)
        if new_io:
            c.execute(_insert_ignoring(c, run_io, ["run_id", "dataset_id", "io_type"]), new_io)
