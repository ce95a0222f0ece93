"""Marquez node ids: ``dataset:<ns>:<name>``, ``job:<ns>:<name>``, ``datasetField:<ns>:<name>:<field>``.

Namespaces often hold colons themselves (``postgres://db:5432``), so an id can split more than
one way; every split is tried against the store and the one that names a real dataset or job
wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from headwater.db import only_pairs, pair_in
from headwater.db.schema import datasets, jobs, namespaces
from headwater.errors import BadRequestError, NotFoundError


@dataclass(frozen=True, slots=True)
class NodeRef:
    kind: str  # "dataset" | "job"
    id: int
    namespace: str
    name: str
    field: str | None = None


def _splits(rest: str) -> list[tuple[str, str]]:
    return [
        (rest[:i], rest[i + 1 :])
        for i, ch in enumerate(rest)
        if ch == ":" and 0 < i < len(rest) - 1
    ]


def resolve(connection: Connection, node_id: str, *, allow_field: bool = False) -> NodeRef:
    """Find the dataset, job or dataset field a node id names."""
    kind, sep, rest = node_id.partition(":")
    kinds = {"dataset", "job"} | ({"datasetField"} if allow_field else set())
    if not sep or kind not in kinds:
        raise BadRequestError(
            f"{node_id!r} is not a node id; expected one of "
            + ", ".join(f"{k}:<namespace>:<name>" for k in sorted(kinds)),
            "nodeId",
        )
    field = None
    if kind == "datasetField":
        rest, sep, field = rest.rpartition(":")
        if not sep or not field:
            raise BadRequestError(f"{node_id!r} has no field name", "nodeId")
    table = jobs if kind == "job" else datasets
    candidates = _splits(rest)
    if not candidates:
        raise BadRequestError(f"{node_id!r} must name a namespace and a name", "nodeId")
    found = connection.execute(
        select(table.c.id, namespaces.c.name.label("ns"), table.c.name)
        .join(namespaces, namespaces.c.id == table.c.namespace_id)
        .where(
            pair_in(namespaces.c.name, table.c.name, candidates),
            table.c.is_deleted.is_(False),
        )
    )
    rows = only_pairs(found, set(candidates), lambda r: (r.ns, r.name))
    if not rows:
        raise NotFoundError("job" if kind == "job" else "dataset", rest)
    row = min(rows, key=lambda r: len(r.ns))
    return NodeRef("job" if kind == "job" else "dataset", row.id, row.ns, row.name, field)
