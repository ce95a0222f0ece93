"""DuckDB sessions for model runs.

Specification: a thread's model runs share one DuckDB instance, but each run starts with
nothing the previous run defined (views, tables, its ``whole`` catalog); a run that raised
does not hand its connection on.
"""

from __future__ import annotations

import duckdb
import pytest

from headwater.pipeline.scan import session


def _names(connection: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(
        f"{row[0]}.{row[1]}.{row[2]}"
        for row in connection.execute(
            "SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal "
            "UNION ALL SELECT database_name, schema_name, table_name FROM duckdb_tables()"
        ).fetchall()
    )


def test_a_session_starts_empty_on_the_threads_reused_connection() -> None:
    with session() as first:
        first.execute("CREATE VIEW staging.orders AS SELECT 1 AS id")
        first.execute("CREATE VIEW whole.staging.orders AS SELECT 2 AS id")
        first.execute("CREATE TABLE hw_target.scratch AS SELECT 3 AS id")
        assert first.execute("SELECT id FROM staging.orders").fetchall() == [(1,)]
        assert len(_names(first)) == 3
    with session() as second:
        assert second is first  # the same DuckDB instance, not a new one
        assert _names(second) == []
        second.execute("CREATE VIEW staging.orders AS SELECT 4 AS id")
        assert second.execute("SELECT id FROM staging.orders").fetchall() == [(4,)]
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT id FROM whole.staging.orders")


def test_a_session_that_raised_is_not_reused() -> None:
    with pytest.raises(RuntimeError), session() as broken:
        raise RuntimeError("model failed")
    with session() as fresh:
        assert fresh is not broken
        assert fresh.execute("SELECT 1").fetchall() == [(1,)]
