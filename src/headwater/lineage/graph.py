"""``GET /api/v1/lineage``: the job/dataset graph around one node, in Marquez's shape.

The walk is breadth-first over ``job_io`` (the current edges), one indexed query per level in
each direction, so its cost follows the size of the answer, not of the store. ``depth`` counts
job hops from the start node as in Marquez; ``direction`` restricts the walk to upstream or
downstream (Marquez always walks both ways); ``max_nodes`` caps the answer, and ``truncated``
says when it was cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Text, select, type_coerce

from headwater.db.schema import datasets, job_io, jobs
from headwater.lineage import read, shapes
from headwater.lineage.nodes import resolve

Direction = Literal["upstream", "downstream", "both"]
CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


class _Deleted:
    """Which jobs and datasets met on the walk are soft-deleted, asked by primary key once
    per node. (Joining ``jobs`` and ``datasets`` into every edge query instead let PostgreSQL
    pick a full scan of ``jobs`` per query whenever its statistics lagged behind a bulk load.)
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.known: dict[tuple[str, int], bool] = {}

    def filter(self, edges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        met = {"job": {e[0] for e in edges}, "dataset": {e[1] for e in edges}}
        for kind, table in (("job", jobs), ("dataset", datasets)):
            unknown = {i for i in met[kind] if (kind, i) not in self.known}
            for chunk in _chunks(sorted(unknown)):
                deleted = set(
                    self.connection.execute(
                        select(table.c.id).where(table.c.id.in_(chunk), table.c.is_deleted)
                    ).scalars()
                )
                self.known.update(((kind, i), i in deleted) for i in chunk)
        return [
            e for e in edges if not self.known[("job", e[0])] and not self.known[("dataset", e[1])]
        ]


def _edges(
    connection: Connection, column: Any, ids: set[int], deleted: _Deleted
) -> list[tuple[int, int, str]]:
    """Current edges touching ``ids``; an edge to a soft-deleted job or dataset is not walked."""
    rows: list[tuple[int, int, str]] = []
    for chunk in _chunks(sorted(ids)):
        rows.extend(
            (r.job_id, r.dataset_id, r.io_type)
            for r in connection.execute(
                select(job_io.c.job_id, job_io.c.dataset_id, job_io.c.io_type).where(
                    column.in_(chunk)
                )
            )
        )
    return deleted.filter(rows)


@dataclass
class _Walk:
    max_nodes: int
    jobs: dict[int, None] = field(default_factory=dict)  # insertion-ordered sets
    datasets: dict[int, None] = field(default_factory=dict)
    edges: set[tuple[int, int, str]] = field(default_factory=set)
    truncated: bool = False

    def size(self) -> int:
        return len(self.jobs) + len(self.datasets)

    def add(self, bucket: dict[int, None], node: int) -> bool:
        if node in bucket:
            return True
        if self.size() >= self.max_nodes:
            self.truncated = True
            return False
        bucket[node] = None
        return True


def _allowed(io_type: str, direction: Direction, from_dataset: bool) -> bool:
    """Whether an edge may be followed: upstream goes dataset -> writer -> its inputs."""
    if direction == "both":
        return True
    if direction == "upstream":
        return io_type == ("OUTPUT" if from_dataset else "INPUT")
    return io_type == ("INPUT" if from_dataset else "OUTPUT")


def walk(
    connection: Connection, node_id: str, depth: int, direction: Direction, max_nodes: int
) -> _Walk:
    start = resolve(connection, node_id)
    state = _Walk(max_nodes=max_nodes)
    deleted = _Deleted(connection)
    if start.kind == "job":
        state.add(state.jobs, start.id)
        frontier_jobs = {start.id}
    else:
        state.add(state.datasets, start.id)
        frontier_jobs = set()
        for job_id, dataset_id, io_type in _edges(
            connection, job_io.c.dataset_id, {start.id}, deleted
        ):
            if _allowed(io_type, direction, from_dataset=True) and state.add(state.jobs, job_id):
                state.edges.add((job_id, dataset_id, io_type))
                frontier_jobs.add(job_id)
    level = 0
    while frontier_jobs and not state.truncated:
        new_datasets: set[int] = set()
        for job_id, dataset_id, io_type in _edges(
            connection, job_io.c.job_id, frontier_jobs, deleted
        ):
            if not _allowed(io_type, direction, from_dataset=False):
                continue
            fresh = dataset_id not in state.datasets
            if state.add(state.datasets, dataset_id):
                state.edges.add((job_id, dataset_id, io_type))
                if fresh:
                    new_datasets.add(dataset_id)
        level += 1
        if level > depth or not new_datasets:
            break
        frontier_jobs = set()
        for job_id, dataset_id, io_type in _edges(
            connection, job_io.c.dataset_id, new_datasets, deleted
        ):
            if not _allowed(io_type, direction, from_dataset=True):
                continue
            fresh = job_id not in state.jobs
            if state.add(state.jobs, job_id):
                state.edges.add((job_id, dataset_id, io_type))
                if fresh:
                    frontier_jobs.add(job_id)
    return state


def _fetch(connection: Connection, table: Any, ids: Sequence[int]) -> list[Any]:
    """The rows behind graph nodes, without ``facets``: nodes do not show them (as in
    Marquez), and decoding them dominated the cost of a large graph."""
    columns: list[Any] = [c for c in table.c if c.name not in ("facets", "fields")]
    if "fields" in table.c:
        # Kept as text: `shapes.fields_with_tags` passes it through undecoded.
        columns.append(type_coerce(table.c.fields, Text).label("fields"))
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend(
            connection.execute(
                select(*columns).where(table.c.id.in_(chunk), table.c.is_deleted.is_(False))
            ).all()
        )
    return rows


def lineage_graph(
    connection: Connection,
    node_id: str,
    *,
    depth: int,
    direction: Direction = "both",
    max_nodes: int,
) -> dict[str, Any]:
    state = walk(connection, node_id, depth, direction, max_nodes)
    dataset_rows = _fetch(connection, datasets, list(state.datasets))
    job_rows = _fetch(connection, jobs, list(state.jobs))
    ns_names = read.namespace_names(
        connection, {r.namespace_id for r in [*dataset_rows, *job_rows]}
    )
    ids: dict[tuple[str, int], str] = {}
    for r in dataset_rows:
        ids[("dataset", r.id)] = shapes.node_id("dataset", ns_names[r.namespace_id], r.name)
    for r in job_rows:
        ids[("job", r.id)] = shapes.node_id("job", ns_names[r.namespace_id], r.name)

    in_edges: dict[str, list[dict[str, str]]] = {node: [] for node in ids.values()}
    out_edges: dict[str, list[dict[str, str]]] = {node: [] for node in ids.values()}
    for job_id, dataset_id, io_type in sorted(state.edges):
        job_node, dataset_node = ids.get(("job", job_id)), ids.get(("dataset", dataset_id))
        if job_node is None or dataset_node is None:
            continue  # one end was soft-deleted
        origin, destination = (
            (dataset_node, job_node) if io_type == "INPUT" else (job_node, dataset_node)
        )
        edge = {"origin": origin, "destination": destination}
        out_edges[origin].append(edge)
        in_edges[destination].append(edge)

    graph: list[dict[str, Any]] = []
    for data in read.render_datasets(connection, dataset_rows, ns_names, with_facets=False):
        node = shapes.node_id("dataset", data["namespace"], data["name"])
        graph.append(_node(node, "DATASET", data, in_edges, out_edges))
    for data in read.render_jobs(connection, job_rows, with_facets=False):
        node = shapes.node_id("job", data["namespace"], data["name"])
        graph.append(_node(node, "JOB", data, in_edges, out_edges))
    graph.sort(key=lambda n: str(n["id"]))  # Marquez answers a set sorted by node id
    return {"graph": graph, "truncated": state.truncated, "maxNodes": max_nodes}


def _node(
    node: str,
    kind: str,
    data: dict[str, Any],
    in_edges: dict[str, list[dict[str, str]]],
    out_edges: dict[str, list[dict[str, str]]],
) -> dict[str, Any]:
    return {
        "id": node,
        "type": kind,
        "data": data,
        "inEdges": in_edges[node],
        "outEdges": out_edges[node],
    }
