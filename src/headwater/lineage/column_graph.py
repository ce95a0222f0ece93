"""``GET /api/v1/column-lineage``: field-level lineage in Marquez's shape.

Starts from one field (``datasetField:ns:name:field``) or every field of a dataset
(``dataset:ns:name``), walks upstream through ``column_lineage`` (and downstream too with
``withDownstream=true``) ``depth`` hops, one indexed query per hop and direction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from headwater.db import only_pairs, pair_in
from headwater.db.schema import column_lineage, datasets, namespaces
from headwater.errors import BadRequestError, NotFoundError
from headwater.lineage.nodes import resolve

FieldKey = tuple[int, str]  # (dataset id, field name)
CHUNK = 400


def _rows(connection: Connection, side: str, keys: set[FieldKey]) -> list[Any]:
    """Edges whose ``side`` end is in ``keys``; one leading to a soft-deleted dataset is skipped."""
    dataset_col = column_lineage.c[f"{side}_dataset_id"]
    field_col = column_lineage.c[f"{side}_field"]
    other = column_lineage.c["input_dataset_id" if side == "output" else "output_dataset_id"]
    ordered = sorted(keys)
    result: list[Any] = []
    for i in range(0, len(ordered), CHUNK):
        chunk = set(ordered[i : i + CHUNK])
        rows = connection.execute(
            select(column_lineage)
            .join(datasets, datasets.c.id == other)
            .where(pair_in(dataset_col, field_col, chunk), datasets.c.is_deleted.is_(False))
        )
        result.extend(
            only_pairs(
                rows, chunk, lambda r: (r._mapping[dataset_col.name], r._mapping[field_col.name])
            )
        )
    return result


def _field_known(connection: Connection, dataset_id: int, field: str) -> bool:
    """In the dataset's schema, or an end of some column-lineage edge."""
    schema = connection.execute(select(datasets.c.fields).where(datasets.c.id == dataset_id))
    if any(f["name"] == field for f in schema.scalar_one()):
        return True
    cl = column_lineage.c
    edge = select(cl.id).where(
        ((cl.output_dataset_id == dataset_id) & (cl.output_field == field))
        | ((cl.input_dataset_id == dataset_id) & (cl.input_field == field))
    )
    return connection.execute(edge.limit(1)).first() is not None


def _start_fields(connection: Connection, dataset_id: int, field: str | None) -> set[FieldKey]:
    if field is not None:
        return {(dataset_id, field)}
    schema = connection.execute(select(datasets.c.fields).where(datasets.c.id == dataset_id))
    keys = {(dataset_id, f["name"]) for f in schema.scalar_one()}
    lineage_fields = connection.execute(
        select(column_lineage.c.output_field).where(
            column_lineage.c.output_dataset_id == dataset_id
        )
    ).scalars()
    keys.update((dataset_id, f) for f in lineage_fields)
    return keys


def _walk(
    connection: Connection, start: set[FieldKey], depth: int, side: str, seen: dict[int, Any]
) -> set[FieldKey]:
    """Follow edges from ``start``: side="output" goes upstream, side="input" downstream."""
    visited = set(start)
    frontier = set(start)
    other = "input" if side == "output" else "output"
    for _ in range(depth):
        if not frontier:
            break
        next_frontier: set[FieldKey] = set()
        for row in _rows(connection, side, frontier):
            seen[row.id] = row
            key = (row._mapping[f"{other}_dataset_id"], row._mapping[f"{other}_field"])
            if key not in visited:
                visited.add(key)
                next_frontier.add(key)
        frontier = next_frontier
    return visited


def _dataset_info(connection: Connection, ids: Iterable[int]) -> dict[int, Any]:
    rows = connection.execute(
        select(datasets.c.id, datasets.c.name, datasets.c.fields, namespaces.c.name.label("ns"))
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(datasets.c.id.in_(set(ids)))
    )
    return {r.id: r for r in rows}


def column_lineage_graph(
    connection: Connection, node_id: str, *, depth: int, with_downstream: bool
) -> dict[str, Any]:
    if node_id.startswith("job:"):
        raise BadRequestError(
            f"{node_id!r} is a job; column lineage starts from dataset:... or datasetField:...",
            "nodeId",
        )
    start_ref = resolve(connection, node_id, allow_field=True)
    if start_ref.field is not None and not _field_known(connection, start_ref.id, start_ref.field):
        raise NotFoundError("field", f"{start_ref.namespace}:{start_ref.name}:{start_ref.field}")
    start = _start_fields(connection, start_ref.id, start_ref.field)
    edges: dict[int, Any] = {}
    nodes = _walk(connection, start, depth, "output", edges)
    if with_downstream:
        nodes |= _walk(connection, start, depth, "input", edges)
    # Edges whose both ends are in the graph; an edge found at the last hop may point outside.
    kept = [
        e
        for e in edges.values()
        if (e.input_dataset_id, e.input_field) in nodes
        and (e.output_dataset_id, e.output_field) in nodes
    ]
    info = _dataset_info(connection, {d for d, _ in nodes})

    def node_name(key: FieldKey) -> str:
        ds = info[key[0]]
        return f"datasetField:{ds.ns}:{ds.name}:{key[1]}"

    inputs_of: dict[FieldKey, list[Any]] = {}
    for e in kept:
        inputs_of.setdefault((e.output_dataset_id, e.output_field), []).append(e)
    in_edges: dict[FieldKey, list[dict[str, str]]] = {k: [] for k in nodes}
    out_edges: dict[FieldKey, list[dict[str, str]]] = {k: [] for k in nodes}
    for e in sorted(kept, key=lambda e: e.id):
        src, dst = (e.input_dataset_id, e.input_field), (e.output_dataset_id, e.output_field)
        edge = {"origin": node_name(src), "destination": node_name(dst)}
        out_edges[src].append(edge)
        in_edges[dst].append(edge)

    graph = []
    for key in sorted(nodes, key=node_name):
        ds = info[key[0]]
        field_types = {f["name"]: f.get("type") for f in ds.fields}
        upstream = inputs_of.get(key, [])
        main = upstream[0] if upstream else None
        graph.append(
            {
                "id": node_name(key),
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": ds.ns,
                    "dataset": ds.name,
                    "field": key[1],
                    "fieldType": field_types.get(key[1]),
                    "transformationDescription": main.transformation_description if main else None,
                    "transformationType": main.transformation_type if main else None,
                    "inputFields": [
                        {
                            "namespace": info[e.input_dataset_id].ns,
                            "dataset": info[e.input_dataset_id].name,
                            "field": e.input_field,
                            "transformationDescription": e.transformation_description,
                            "transformationType": e.transformation_type,
                            "transformationSubtype": e.transformation_subtype,
                            "transformations": e.transformations,
                        }
                        for e in upstream
                    ],
                },
                "inEdges": in_edges[key],
                "outEdges": out_edges[key],
            }
        )
    return {"graph": graph}
