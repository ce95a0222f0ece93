"""DuckDB over Iceberg data files: a connection per model run, and views over file sets.

Every name a model's SQL can read is a view here: ``<layer>.<table>`` (what the run reads of
an input), ``whole.<layer>.<table>`` (an input whole) and the engine's own ``hw_target.*``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from headwater.lake import TableFiles, local_path, position_deletes
from headwater.pipeline.project import LAYERS
from headwater.pipeline.sqltext import identifier, literal

WHOLE = "whole"  # the DuckDB catalog holding every input whole
# Columns a positional read adds: the data file (its path as the manifest has it, for
# position deletes) and the row's position in it.
FILE_COLUMN = "hw_file"
POSITION_COLUMN = "file_row_number"


# Describing a schema or a set of files costs a query each (the files' footers are read);
# data files never change, so each answer is kept (a bounded number of them) per process.
_DESCRIBED = 1024
_described_lock = threading.Lock()
_schema_types: dict[pa.Schema, tuple[tuple[str, str], ...]] = {}
_source_types: dict[str, dict[str, str]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    with _described_lock:
        if len(cache) >= _DESCRIBED:
            del cache[next(iter(cache))]  # the oldest
        cache[key] = value


def _duckdb_types(
    connection: duckdb.DuckDBPyConnection, schema: pa.Schema
) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of an Arrow schema, as DuckDB reads it."""
    known = _schema_types.get(schema)
    if known is None:
        connection.register("hw_schema", schema.empty_table())
        try:
            known = tuple(
                (row[0], row[1]) for row in connection.execute("DESCRIBE hw_schema").fetchall()
            )
        finally:
            connection.unregister("hw_schema")
        _remember(_schema_types, schema, known)
    return known


def _file_types(connection: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """The columns and DuckDB types of a ``read_parquet(...)`` source of immutable files."""
    known = _source_types.get(source)
    if known is None:
        rows = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        known = {row[0]: row[1] for row in rows}
        _remember(_source_types, source, known)
    return known


def _instance() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def connect() -> duckdb.DuckDBPyConnection:
    connection = _instance()
    _namespaces(connection)
    return connection


def _namespaces(connection: duckdb.DuckDBPyConnection) -> None:
    """The layer schemas in the current database, and the `WHOLE` catalog beside it."""
    connection.execute(f"ATTACH ':memory:' AS {WHOLE}")
    for layer in (*LAYERS, "hw_target"):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    for layer in LAYERS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {WHOLE}.{layer}")


_RUN_DATABASE = "hw_run"
_sessions = threading.local()


@contextlib.contextmanager
def session() -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one model run, reusing this thread's DuckDB instance.

    Opening a DuckDB database costs about 30 ms, a run's worth of work for a small model.
    Instead each run gets two in-memory databases of its own on the thread's connection: the
    default one (so ``staging.x`` is this run's view) and `WHOLE`; both are detached after
    the run, with everything defined in them. Data registered from Python (temporary views)
    is unregistered by the code that registers it. A run that raised closes its connection
    rather than trusting what state it is in.
    """
    connection: duckdb.DuckDBPyConnection | None = getattr(_sessions, "connection", None)
    _sessions.connection = None
    if connection is None:
        connection = _instance()
    try:
        connection.execute(f"ATTACH ':memory:' AS {_RUN_DATABASE}")
        connection.execute(f"USE {_RUN_DATABASE}")
        _namespaces(connection)
        yield connection
        connection.execute(f"USE memory; DETACH {_RUN_DATABASE}; DETACH {WHOLE}")
    except BaseException:
        connection.close()
        raise
    _sessions.connection = connection


def register(
    connection: duckdb.DuckDBPyConnection, name: str, files: TableFiles, positions: bool = False
) -> None:
    """Make ``name`` (``layer.table``) a DuckDB view over ``files``.

    DuckDB's own Parquet reader scans the files lazily, in parallel, with projection and
    filter pushdown; counts, minima and maxima come from the files' statistics and joins
    prune row groups. The view has the Iceberg schema's columns in its order: a column
    missing from every file (added after they were written) is NULL, and files written
    before a type was widened are read as the wider type. Rows named by position delete
    files (merge-on-read) are left out. With ``positions``, each row also has `FILE_COLUMN`
    and `POSITION_COLUMN` (see `select_rows`).
    """
    query = select_rows(connection, files, positions)
    connection.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")


def select_rows(
    connection: duckdb.DuckDBPyConnection, files: TableFiles, positions: bool = False
) -> str:
    """A query of the rows of ``files`` as `register` describes; with ``positions``, also
    `FILE_COLUMN` (the data file's Iceberg path) and `POSITION_COLUMN`."""
    wanted = _duckdb_types(connection, files.schema)
    paths = {task.file.file_path: local_path(task.file.file_path) for task in files.tasks}
    if not paths:
        nulls = [f"CAST(NULL AS {kind}) AS {identifier(column)}" for column, kind in wanted]
        if positions:
            nulls += [f"NULL::VARCHAR AS {FILE_COLUMN}", f"NULL::BIGINT AS {POSITION_COLUMN}"]
        return f"SELECT {', '.join(nulls)} WHERE FALSE"
    deletes = position_deletes(files)
    source = f"read_parquet([{', '.join(map(literal, paths.values()))}], union_by_name = true"
    if deletes or positions:
        source += f", filename = {literal(FILE_COLUMN)}, file_row_number = true"
    source += ")"
    present = _file_types(connection, source)
    columns = []
    for column, duckdb_type in wanted:
        quoted = identifier(column)
        if column not in present:
            columns.append(f"CAST(NULL AS {duckdb_type}) AS {quoted}")
        elif present[column] != duckdb_type:
            columns.append(f"CAST(f.{quoted} AS {duckdb_type}) AS {quoted}")
        else:
            columns.append(f"f.{quoted}")
    if positions:
        # The manifest's path, not the local one DuckDB read: position deletes name that.
        uri = " ".join(
            f"WHEN {literal(local)} THEN {literal(path)}" for path, local in paths.items()
        )
        columns += [f"CASE f.{FILE_COLUMN} {uri} END AS {FILE_COLUMN}", f"f.{POSITION_COLUMN}"]
    query = f"SELECT {', '.join(columns)} FROM {source} AS f"
    if deletes:
        delete_files = sorted({local_path(d) for targets in deletes.values() for d in targets})
        targets = ", ".join(
            f"({literal(path)}, {literal(paths[path])})" for path in sorted(deletes)
        )
        query += (
            f" ANTI JOIN (SELECT m.hw_local, d.pos FROM read_parquet("
            f"[{', '.join(map(literal, delete_files))}]) AS d "
            f"JOIN (VALUES {targets}) AS m(hw_path, hw_local) ON d.file_path = m.hw_path) AS x "
            f"ON f.{FILE_COLUMN} = x.hw_local AND f.{POSITION_COLUMN} = x.pos"
        )
    return query
