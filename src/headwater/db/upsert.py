"""Dialect-neutral INSERT ... ON CONFLICT, which SQLite and PostgreSQL both support."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``on_conflict_do_*`` for the connection's backend."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert rows, skipping those whose ``keys`` already exist."""
    if rows:
        stmt = insert_for(connection, table).on_conflict_do_nothing(index_elements=list(keys))
        connection.execute(stmt, list(rows))
