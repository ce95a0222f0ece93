"""Read queries behind the Marquez-compatible API: namespaces, sources, datasets, jobs, runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from headwater.db.schema import (
    dataset_field_tags,
    dataset_tags,
    dataset_versions,
    datasets,
    job_io,
    job_tags,
    job_versions,
    jobs,
    lineage_events,
    namespaces,
    run_io,
    runs,
    sources,
    tags,
)
from headwater.errors import NotFoundError
from headwater.lineage import shapes
from headwater.lineage.events import run_uuid_for

LATEST_RUNS = 10


def _page(stmt: Select[Any], limit: int, offset: int) -> Select[Any]:
    return stmt.limit(limit).offset(offset)


def _count(connection: Connection, where: ColumnElement[bool], table: Any) -> int:
    return int(
        connection.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    )


def _by_name(
    connection: Connection, table: Any, where: ColumnElement[bool], limit: int, offset: int
) -> list[Any]:
    """A page of ``table``'s rows (datasets, jobs) by name, then namespace name: across
    namespaces names tie, and a page must not depend on chance.

    The page's ids come first, from the name index (migration 0011), and then only those rows:
    sorting whole rows (a dataset's fields and facets) to keep a hundred read them all."""
    ids = list(
        connection.execute(
            _page(
                select(table.c.id)
                .join(namespaces, namespaces.c.id == table.c.namespace_id)
                .where(where)
                .order_by(table.c.name, namespaces.c.name),
                limit,
                offset,
            )
        ).scalars()
    )
    found = {r.id: r for r in connection.execute(select(table).where(table.c.id.in_(ids)))}
    return [found[i] for i in ids]


# -- namespaces and sources ------------------------------------------------------------------


def namespace_row(connection: Connection, name: str, *, include_hidden: bool = False) -> Any:
    """A namespace by name; a soft-deleted (hidden) one is not found unless asked for."""
    row = connection.execute(select(namespaces).where(namespaces.c.name == name)).first()
    if row is None or (row.is_hidden and not include_hidden):
        raise NotFoundError("namespace", name)
    return row


def list_namespaces(connection: Connection, limit: int, offset: int) -> dict[str, Any]:
    where = namespaces.c.is_hidden.is_(False)
    rows = connection.execute(
        _page(select(namespaces).where(where).order_by(namespaces.c.name), limit, offset)
    )
    return {
        "namespaces": [shapes.namespace(r) for r in rows],
        "totalCount": _count(connection, where, namespaces),
    }


def get_source(connection: Connection, name: str) -> dict[str, Any]:
    row = connection.execute(select(sources).where(sources.c.name == name)).first()
    if row is None:
        raise NotFoundError("source", name)
    return shapes.source(row)


def list_sources(connection: Connection, limit: int, offset: int) -> dict[str, Any]:
    rows = connection.execute(_page(select(sources).order_by(sources.c.name), limit, offset))
    return {
        "sources": [shapes.source(r) for r in rows],
        "totalCount": _count(connection, sources.c.id.is_not(None), sources),
    }


# -- tags ------------------------------------------------------------------------------------


def _tags_by(
    connection: Connection, link: Any, key_column: Any, ids: Sequence[int]
) -> dict[Any, list[str]]:
    result: dict[Any, list[str]] = defaultdict(list)
    if not ids:
        return result
    extra = [link.c.field_name] if "field_name" in link.c else []
    rows = connection.execute(
        select(key_column, *extra, tags.c.name)
        .join(tags, tags.c.id == link.c.tag_id)
        .where(key_column.in_(ids))
    )
    for row in rows:
        key = (row[0], row[1]) if extra else row[0]
        result[key].append(row[-1])
    return result


def list_tags(connection: Connection, limit: int, offset: int) -> dict[str, Any]:
    rows = connection.execute(_page(select(tags).order_by(tags.c.name), limit, offset))
    return {"tags": [{"name": r.name, "description": r.description} for r in rows]}


# -- datasets --------------------------------------------------------------------------------


def dataset_row(connection: Connection, namespace: str, name: str) -> Any:
    ns = namespace_row(connection, namespace)
    row = connection.execute(
        select(datasets).where(datasets.c.namespace_id == ns.id, datasets.c.name == name)
    ).first()
    if row is None or row.is_deleted:
        raise NotFoundError("dataset", f"{namespace}:{name}")
    return row


def render_datasets(
    connection: Connection, rows: Sequence[Any], ns_names: dict[int, str]
) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    dataset_tag_map = _tags_by(connection, dataset_tags, dataset_tags.c.dataset_id, ids)
    field_tag_map = _tags_by(connection, dataset_field_tags, dataset_field_tags.c.dataset_id, ids)
    per_dataset: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for (dataset_id, field), names in field_tag_map.items():
        per_dataset[dataset_id][field] = names
    return [
        shapes.dataset(
            r,
            ns_names[r.namespace_id],
            tags=dataset_tag_map.get(r.id, []),
            field_tags=per_dataset.get(r.id, {}),
        )
        for r in rows
    ]


def namespace_names(connection: Connection, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = connection.execute(
        select(namespaces.c.id, namespaces.c.name).where(namespaces.c.id.in_(wanted))
    )
    return {r.id: r.name for r in rows}


def get_dataset(connection: Connection, namespace: str, name: str) -> dict[str, Any]:
    row = dataset_row(connection, namespace, name)
    return render_datasets(connection, [row], {row.namespace_id: namespace})[0]


def list_datasets(
    connection: Connection, namespace: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """A page of the datasets of ``namespace``, or of every namespace (``None``), by name."""
    where: ColumnElement[bool] = datasets.c.is_deleted.is_(False)
    if namespace is not None:
        where = and_(where, datasets.c.namespace_id == namespace_row(connection, namespace).id)
    rows = _by_name(connection, datasets, where, limit, offset)
    ns_names = namespace_names(connection, (r.namespace_id for r in rows))
    return {
        "datasets": render_datasets(connection, rows, ns_names),
        "totalCount": _count(connection, where, datasets),
    }


def _runs_by_uuid(connection: Connection, uuids: Iterable[str | None]) -> dict[str, Any]:
    """Rendered runs by id."""
    wanted = {u for u in uuids if u}
    if not wanted:
        return {}
    rows = connection.execute(select(runs).where(runs.c.uuid.in_(wanted))).all()
    return {r["id"]: r for r in render_runs(connection, rows)}


def list_dataset_versions(
    connection: Connection, namespace: str, name: str, limit: int, offset: int
) -> dict[str, Any]:
    dataset = dataset_row(connection, namespace, name)
    where = dataset_versions.c.dataset_id == dataset.id
    rows = connection.execute(
        _page(
            select(dataset_versions)
            .where(where)
            .order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc()),
            limit,
            offset,
        )
    ).all()
    by_run = _runs_by_uuid(connection, (r.run_uuid for r in rows))
    return {
        "versions": [
            shapes.dataset_version(r, namespace, name, dataset, by_run.get(r.run_uuid or ""))
            for r in rows
        ],
        "totalCount": _count(connection, where, dataset_versions),
    }


def get_dataset_version(
    connection: Connection, namespace: str, name: str, version: str
) -> dict[str, Any]:
    """A version by its UUID, or by the producer's own version string (e.g. a snapshot id)."""
    dataset = dataset_row(connection, namespace, name)
    row = connection.execute(
        select(dataset_versions)
        .where(
            dataset_versions.c.dataset_id == dataset.id,
            (dataset_versions.c.uuid == version) | (dataset_versions.c.version_facet == version),
        )
        .order_by(dataset_versions.c.created_at.desc())
    ).first()
    if row is None:
        raise NotFoundError("dataset version", f"{namespace}:{name}:{version}")
    by_run = _runs_by_uuid(connection, [row.run_uuid])
    return shapes.dataset_version(row, namespace, name, dataset, by_run.get(row.run_uuid or ""))


# -- runs ------------------------------------------------------------------------------------


def render_runs(connection: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    if not rows:
        return []
    run_ids = [r.id for r in rows]
    io_rows = connection.execute(
        select(
            run_io.c.run_id,
            run_io.c.io_type,
            run_io.c.dataset_version_uuid,
            run_io.c.facets,
            datasets.c.name,
            namespaces.c.name.label("namespace"),
        )
        .join(datasets, datasets.c.id == run_io.c.dataset_id)
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(run_io.c.run_id.in_(run_ids))
        .order_by(namespaces.c.name, datasets.c.name)
    )
    io: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in io_rows:
        io[(r.run_id, r.io_type)].append(
            shapes.dataset_version_ref(r.namespace, r.name, r.dataset_version_uuid, r.facets)
        )
    job_names = {
        r.id: (r.namespace, r.name)
        for r in connection.execute(
            select(jobs.c.id, jobs.c.name, namespaces.c.name.label("namespace"))
            .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
            .where(jobs.c.id.in_({r.job_id for r in rows}))
        )
    }
    return [
        shapes.run(
            r,
            job_namespace=job_names[r.job_id][0],
            job_name=job_names[r.job_id][1],
            inputs=io.get((r.id, "INPUT"), []),
            outputs=io.get((r.id, "OUTPUT"), []),
        )
        for r in rows
    ]


def run_row(connection: Connection, run_id: str) -> Any:
    run_uuid, _ = run_uuid_for(run_id)
    row = connection.execute(select(runs).where(runs.c.uuid == run_uuid)).first()
    if row is None:
        raise NotFoundError("run", run_id)
    return row


def get_run(connection: Connection, run_id: str) -> dict[str, Any]:
    return render_runs(connection, [run_row(connection, run_id)])[0]


def run_facets(connection: Connection, run_id: str, facet_type: str) -> dict[str, Any]:
    """Run facets as merged on the run; job facets as sent by the events of this run."""
    row = run_row(connection, run_id)
    if facet_type == "run":
        return {"runId": row.uuid, "facets": row.facets}
    merged: dict[str, Any] = {}
    payloads = connection.execute(
        select(lineage_events.c.payload)
        .where(lineage_events.c.run_uuid == row.uuid)
        .order_by(lineage_events.c.event_time, lineage_events.c.id)
    ).scalars()
    for payload in payloads:
        merged.update((orjson.loads(payload).get("job") or {}).get("facets") or {})
    return {"runId": row.uuid, "facets": merged}


# -- jobs ------------------------------------------------------------------------------------


def job_row(connection: Connection, namespace: str, name: str) -> Any:
    ns = namespace_row(connection, namespace)
    row = connection.execute(
        select(jobs).where(jobs.c.namespace_id == ns.id, jobs.c.name == name)
    ).first()
    if row is None or row.is_deleted:
        raise NotFoundError("job", f"{namespace}:{name}")
    return row


def job_edges(connection: Connection, job_ids: Sequence[int]) -> dict[tuple[int, str], list[Any]]:
    edges: dict[tuple[int, str], list[Any]] = defaultdict(list)
    if not job_ids:
        return edges
    rows = connection.execute(
        select(job_io.c.job_id, job_io.c.io_type, datasets.c.name, namespaces.c.name.label("ns"))
        .join(datasets, datasets.c.id == job_io.c.dataset_id)
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(job_io.c.job_id.in_(job_ids))
        .order_by(namespaces.c.name, datasets.c.name)
    )
    for r in rows:
        edges[(r.job_id, r.io_type)].append(shapes.dataset_id(r.ns, r.name))
    return edges


def render_jobs(
    connection: Connection,
    rows: Sequence[Any],
    *,
    latest_runs: int = 1,
) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    ns_names = namespace_names(connection, (r.namespace_id for r in rows))
    edges = job_edges(connection, ids)
    tag_map = _tags_by(connection, job_tags, job_tags.c.job_id, ids)
    parent_ids = {r.parent_job_id for r in rows if r.parent_job_id}
    parents = {
        r.id: r
        for r in connection.execute(
            select(jobs.c.id, jobs.c.name, jobs.c.uuid).where(jobs.c.id.in_(parent_ids))
        )
    }
    if latest_runs == 1:
        run_by_uuid = _runs_by_uuid(connection, (r.latest_run_uuid for r in rows))
        recent = {r.id: [run_by_uuid[r.latest_run_uuid]] for r in rows if r.latest_run_uuid}
    else:
        recent = {r.id: list_job_runs_rendered(connection, r.id, latest_runs, 0) for r in rows}
    result = []
    for r in rows:
        parent = parents.get(r.parent_job_id)
        result.append(
            shapes.job(
                r,
                ns_names[r.namespace_id],
                inputs=edges.get((r.id, "INPUT"), []),
                outputs=edges.get((r.id, "OUTPUT"), []),
                parent_name=parent.name if parent else None,
                parent_uuid=parent.uuid if parent else None,
                latest_runs=recent.get(r.id, []),
                tags=tag_map.get(r.id, []),
            )
        )
    return result


def get_job(connection: Connection, namespace: str, name: str) -> dict[str, Any]:
    return render_jobs(connection, [job_row(connection, namespace, name)], latest_runs=LATEST_RUNS)[
        0
    ]


def list_jobs(
    connection: Connection, namespace: str | None, limit: int, offset: int
) -> dict[str, Any]:
    where: ColumnElement[bool] = jobs.c.is_deleted.is_(False)
    if namespace is not None:
        where = and_(where, jobs.c.namespace_id == namespace_row(connection, namespace).id)
    rows = _by_name(connection, jobs, where, limit, offset)
    return {"jobs": render_jobs(connection, rows), "totalCount": _count(connection, where, jobs)}


def list_job_runs_rendered(
    connection: Connection, job_id: int, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = connection.execute(
        _page(
            select(runs)
            .where(runs.c.job_id == job_id)
            .order_by(runs.c.created_at.desc(), runs.c.id.desc()),
            limit,
            offset,
        )
    ).all()
    return render_runs(connection, rows)


def list_job_runs(
    connection: Connection, namespace: str, name: str, limit: int, offset: int
) -> dict[str, Any]:
    job = job_row(connection, namespace, name)
    return {
        "runs": list_job_runs_rendered(connection, job.id, limit, offset),
        "totalCount": _count(connection, runs.c.job_id == job.id, runs),
    }


def _job_version_shape(row: Any, namespace: str, name: str, latest: Any) -> dict[str, Any]:
    return {
        "id": {"namespace": namespace, "name": name, "version": row.uuid},
        "name": name,
        "version": row.uuid,
        "createdAt": shapes.iso(row.created_at),
        "namespace": namespace,
        "inputs": row.inputs,
        "outputs": row.outputs,
        "location": row.location,
        "context": {},
        "latestRun": latest,
        "facets": {},
    }


def list_job_versions(
    connection: Connection, namespace: str, name: str, limit: int, offset: int
) -> dict[str, Any]:
    job = job_row(connection, namespace, name)
    where = job_versions.c.job_id == job.id
    rows = connection.execute(
        _page(
            select(job_versions).where(where).order_by(job_versions.c.created_at.desc()),
            limit,
            offset,
        )
    ).all()
    return {
        "versions": [_job_version_shape(r, namespace, name, None) for r in rows],
        "totalCount": _count(connection, where, job_versions),
    }


def get_job_version(
    connection: Connection, namespace: str, name: str, version: str
) -> dict[str, Any]:
    job = job_row(connection, namespace, name)
    row = connection.execute(
        select(job_versions).where(job_versions.c.job_id == job.id, job_versions.c.uuid == version)
    ).first()
    if row is None:
        raise NotFoundError("job version", f"{namespace}:{name}:{version}")
    latest = connection.execute(
        select(runs)
        .where(runs.c.job_version_uuid == version)
        .order_by(runs.c.created_at.desc())
        .limit(1)
    ).all()
    rendered = render_runs(connection, latest)
    return _job_version_shape(row, namespace, name, rendered[0] if rendered else None)


# -- raw events ------------------------------------------------------------------------------


def list_events(
    connection: Connection,
    *,
    before: Any,
    after: Any,
    descending: bool,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    where: ColumnElement[bool] = lineage_events.c.id.is_not(None)
    if before is not None:
        # Exclusive, as in Marquez (event_time < :before): paging back by the last time works.
        where = and_(where, lineage_events.c.event_time < before)
    if after is not None:
        where = and_(where, lineage_events.c.event_time >= after)
    order = (
        (lineage_events.c.event_time.desc(), lineage_events.c.id.desc())
        if descending
        else (lineage_events.c.event_time.asc(), lineage_events.c.id.asc())
    )
    payloads = connection.execute(
        _page(select(lineage_events.c.payload).where(where).order_by(*order), limit, offset)
    ).scalars()
    return {
        "events": [orjson.Fragment(p) for p in payloads],
        "totalCount": _count(connection, where, lineage_events),
    }
