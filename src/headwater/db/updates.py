"""Many row updates written as few statements.

Changes are collected per primary key (later changes to a row override earlier ones) and
written with one ``executemany`` per distinct set of changed columns, rows in primary-key
order so that concurrent writers lock rows in the same order (PostgreSQL deadlocks otherwise).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, Update, bindparam, update


@cache
def _statement(table: Table, columns: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns})
    )


class RowUpdates:
    """Pending ``UPDATE``s of one table whose primary key is ``id``."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._rows: dict[int, dict[str, Any]] = {}

    def add(self, row_id: int, changes: dict[str, Any]) -> None:
        self._rows.setdefault(row_id, {}).update(changes)

    def ids(self) -> set[int]:
        return set(self._rows)

    def flush(self, connection: Connection) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row_id in sorted(self._rows):
            changes = self._rows[row_id]
            columns = tuple(sorted(changes))
            params = {f"v_{name}": changes[name] for name in columns}
            params["row_id"] = row_id
            groups.setdefault(columns, []).append(params)
        for columns, rows in groups.items():
            connection.execute(_statement(self.table, columns), rows)
        self._rows.clear()
