"""Column lineage kept across processes, on SQLite and PostgreSQL.

Specification: a query traced once is read back from the metadata database (the next process
does not trace it again, nor build the SQL), exactly as traced; other sources or other input
columns are another entry; a query that cannot be traced raises and stores nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from headwater.db import Database
from headwater.db.schema import column_lineage_cache
from headwater.pipeline import column_lineage as tracer
from headwater.pipeline.column_lineage_store import cache_key, stored_column_lineage

SQL = "SELECT o.id, sum(o.amount) AS total FROM staging.orders AS o GROUP BY o.id"
SCHEMAS = {"staging.orders": ["id", "amount", "note"]}


def _stored(database: Database, sql: str, schemas: dict[str, list[str]]) -> tracer.ColumnLineage:
    """The lineage of ``sql`` built from itself alone (a model reading no view)."""
    return stored_column_lineage(database, [sql], schemas, lambda: sql)


def _entries(database: Database) -> int:
    with database.read() as connection:
        return int(
            connection.execute(select(func.count()).select_from(column_lineage_cache)).scalar_one()
        )


def test_a_traced_query_is_read_back_instead_of_traced_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = _stored(database, SQL, SCHEMAS)
    assert traced == tracer.column_lineage(SQL, SCHEMAS)
    assert _entries(database) == 1

    def no_tracing(sql: str, schemas: object) -> None:
        raise AssertionError("traced again")

    def no_building() -> str:
        raise AssertionError("the SQL was built again")

    monkeypatch.setattr(tracer, "column_lineage", no_tracing)
    assert stored_column_lineage(database, [SQL], SCHEMAS, no_building) == traced
    assert _entries(database) == 1


def test_other_sql_or_other_input_columns_are_other_entries(database: Database) -> None:
    _stored(database, SQL, SCHEMAS)
    _stored(database, SQL + " ORDER BY 1", SCHEMAS)
    _stored(database, SQL, {"staging.orders": ["id", "amount"]})
    # The same model over a view whose SQL changed builds other SQL: another entry.
    stored_column_lineage(database, [SQL, "staging.v", "SELECT 1 AS id"], SCHEMAS, lambda: SQL)
    assert _entries(database) == 4
    reordered = {"staging.orders": ["amount", "id", "note"]}
    assert cache_key([SQL], SCHEMAS) != cache_key([SQL], reordered)


def test_a_query_that_cannot_be_traced_raises_and_stores_nothing(database: Database) -> None:
    with pytest.raises(ValueError):
        _stored(database, "SELECT x FROM staging.missing", SCHEMAS)
    assert _entries(database) == 0
