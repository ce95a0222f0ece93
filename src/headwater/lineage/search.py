"""``GET /api/v1/search``: datasets and jobs whose name matches a pattern.

As in Marquez, ``q`` matches anywhere in the name, case-insensitively, with ``%`` and ``_`` as
wildcards. ``sort`` is ``name`` (ascending) or ``updated_at`` (newest first) and really sorts
the merged dataset + job results before ``limit`` applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from headwater.db.schema import datasets, jobs, namespaces
from headwater.lineage import shapes

SearchFilter = Literal["dataset", "job"]
SearchSort = Literal["name", "updated_at"]


def search(
    connection: Connection,
    q: str,
    *,
    filter: SearchFilter | None,
    sort: SearchSort,
    limit: int,
    namespace: str | None,
    before: datetime | None,
    after: datetime | None,
) -> dict[str, Any]:
    pattern = f"%{q.lower()}%"
    results: list[dict[str, Any]] = []
    total = 0
    kinds = [("dataset", datasets), ("job", jobs)]
    for kind, table in kinds:
        if filter is not None and filter != kind:
            continue
        where: ColumnElement[bool] = and_(
            func.lower(table.c.name).like(pattern), table.c.is_deleted.is_(False)
        )
        if namespace is not None:
            where = and_(where, namespaces.c.name == namespace)
        if before is not None:
            where = and_(where, table.c.updated_at < before)
        if after is not None:
            where = and_(where, table.c.updated_at >= after)
        base = select(table.c.name, table.c.updated_at, namespaces.c.name.label("ns")).join(
            namespaces, namespaces.c.id == table.c.namespace_id
        )
        order = (
            (table.c.name, namespaces.c.name)
            if sort == "name"
            else (table.c.updated_at.desc(), table.c.name)
        )
        rows = connection.execute(base.where(where).order_by(*order).limit(limit))
        results.extend(
            {
                "type": kind.upper(),
                "name": r.name,
                "updatedAt": shapes.iso(r.updated_at),
                "namespace": r.ns,
                "nodeId": shapes.node_id(kind, r.ns, r.name),
                "_updated": r.updated_at,
            }
            for r in rows
        )
        count = select(func.count()).select_from(
            table.join(namespaces, namespaces.c.id == table.c.namespace_id)
        )
        total += int(connection.execute(count.where(where)).scalar_one())
    if sort == "name":
        results.sort(key=lambda r: (r["name"], r["namespace"], r["type"]))
    else:
        results.sort(key=lambda r: (-r["_updated"].timestamp(), r["name"]))
    for r in results:
        del r["_updated"]
    return {"totalCount": total, "results": results[:limit]}
