"""Column lineage kept across processes, on SQLite and PostgreSQL.

Specification: a query traced once is read back from the metadata database (the next process
does not trace it again), exactly as traced; another SQL text or other input columns is another
entry; a query that cannot be traced raises and stores nothing.
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


def _entries(database: Database) -> int:
    with database.read() as connection:
        return int(
            connection.execute(select(func.count()).select_from(column_lineage_cache)).scalar_one()
        )


def test_a_traced_query_is_read_back_instead_of_traced_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = stored_column_lineage(database, SQL, SCHEMAS)
    assert traced == tracer.column_lineage(SQL, SCHEMAS)
    assert _entries(database) == 1

    def no_tracing(sql: str, schemas: object) -> None:
        raise AssertionError("traced again")

    monkeypatch.setattr(tracer, "column_lineage", no_tracing)
    assert stored_column_lineage(database, SQL, SCHEMAS) == traced
    assert _entries(database) == 1


def test_other_sql_or_other_input_columns_are_other_entries(database: Database) -> None:
    stored_column_lineage(database, SQL, SCHEMAS)
    stored_column_lineage(database, SQL + " ORDER BY 1", SCHEMAS)
    stored_column_lineage(database, SQL, {"staging.orders": ["id", "amount"]})
    assert _entries(database) == 3
    assert cache_key(SQL, SCHEMAS) != cache_key(SQL, {"staging.orders": ["amount", "id", "note"]})


def test_a_query_that_cannot_be_traced_raises_and_stores_nothing(database: Database) -> None:
    with pytest.raises(ValueError):
        stored_column_lineage(database, "SELECT x FROM staging.missing", SCHEMAS)
    assert _entries(database) == 0
