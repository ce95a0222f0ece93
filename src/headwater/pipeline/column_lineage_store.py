"""Column lineage remembered across processes, in the metadata database.

Tracing a model's SQL with sqlglot costs tens of milliseconds a model (more for large marts),
and every ``headwater run`` is a new process, so the in-process cache of `column_lineage` does
not help a scheduled pipeline. The result depends only on the SQL, the input columns and the
tracer itself, so it is stored under a hash of the three; a changed model, an evolved input or
a new headwater or sqlglot gives a new key, and an entry is never stale, only unused.

The SQL traced is built from its sources (a model's SQL with its views written in), which
costs a sqlglot parse and print of each: the key is made of the sources, and the SQL is built
only when there is something to trace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from headwater.db import Database
from headwater.db.schema import column_lineage_cache
from headwater.db.upsert import insert_ignore
from headwater.pipeline import column_lineage as tracer
from headwater.pipeline.column_lineage import ColumnLineage, InputField


@cache
def _tracer_version() -> str:
    """Changes whenever the tracing code or sqlglot does."""
    source = Path(tracer.__file__).read_bytes()
    return hashlib.sha256(source + version("sqlglot").encode()).hexdigest()


def cache_key(sources: Sequence[str], schemas: Mapping[str, Sequence[str]]) -> str:
    """The key of the SQL built from ``sources`` traced over ``schemas`` (input column order
    counts: ``*``)."""
    text = json.dumps(
        [_tracer_version(), list(sources), sorted((t, list(c)) for t, c in schemas.items())]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _fields(items: tuple[InputField, ...]) -> list[list[str]]:
    return [[f.table, f.column, f.type, f.subtype, f.description] for f in items]


def _unfields(items: list[list[str]]) -> tuple[InputField, ...]:
    return tuple(InputField(*item) for item in items)


def encode(lineage: ColumnLineage) -> dict[str, Any]:
    return {
        "fields": [[name, _fields(items)] for name, items in lineage.fields.items()],
        "dataset": _fields(lineage.dataset),
    }


def decode(document: dict[str, Any]) -> ColumnLineage:
    return ColumnLineage(
        fields={name: _unfields(items) for name, items in document["fields"]},
        dataset=_unfields(document["dataset"]),
    )


def stored_column_lineage(
    database: Database,
    sources: Sequence[str],
    schemas: Mapping[str, Sequence[str]],
    sql: Callable[[], str],
) -> ColumnLineage:
    """`column_lineage` of the SQL ``sql()`` builds from ``sources``, from the store when it
    was traced before (then ``sql`` is not called).

    Raises ``ValueError`` like `column_lineage` (failures are not stored). The store is an
    optimisation: if it cannot be read or written, the lineage is traced and returned anyway.
    """
    key = cache_key(sources, schemas)
    try:
        with database.read() as connection:
            stored = connection.execute(
                select(column_lineage_cache.c.lineage).where(column_lineage_cache.c.key == key)
            ).scalar()
    except SQLAlchemyError:
        stored = None
    if stored is not None:
        return decode(stored)
    lineage = tracer.column_lineage(sql(), schemas)
    row = {"key": key, "lineage": encode(lineage), "created_at": datetime.now(UTC)}
    try:
        with database.write() as connection:
            insert_ignore(connection, column_lineage_cache, [row], ["key"])
    except SQLAlchemyError:
        pass  # traced anyway; the next run traces again
    return lineage
