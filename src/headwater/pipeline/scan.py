"""DuckDB over Iceberg data files: a connection per model run, and views over file sets.

Every name a model's SQL can read is a view here: ``<layer>.<table>`` (what the run reads of
an input), ``whole.<layer>.<table>`` (an input whole) and the engine's own ``hw_target.*``.
"""

from __future__ import annotations

import duckdb

from headwater.lake import TableFiles, data_paths
from headwater.pipeline.project import LAYERS
from headwater.pipeline.sqltext import identifier, literal

WHOLE = "whole"  # the DuckDB catalog holding every input whole


def connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"ATTACH ':memory:' AS {WHOLE}")
    for layer in (*LAYERS, "hw_target"):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    for layer in LAYERS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {WHOLE}.{layer}")
    return connection


def register(connection: duckdb.DuckDBPyConnection, name: str, files: TableFiles) -> None:
    """Make ``name`` (``layer.table``) a DuckDB view over ``files``.

    DuckDB's own Parquet reader scans the files lazily, in parallel, with projection and
    filter pushdown; counts, minima and maxima come from the files' statistics and joins
    prune row groups. The view has the Iceberg schema's columns in its order: a column
    missing from every file (added after they were written) is NULL, and files written
    before a type was widened are read as the wider type.
    """
    connection.register("hw_schema", files.schema.empty_table())
    wanted = connection.execute("DESCRIBE hw_schema").fetchall()
    connection.unregister("hw_schema")
    paths = data_paths(files)
    if not paths:
        nulls = ", ".join(
            f"CAST(NULL AS {kind}) AS {identifier(column)}" for column, kind, *_ in wanted
        )
        connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {nulls} WHERE FALSE")
        return
    source = f"read_parquet([{', '.join(map(literal, paths))}], union_by_name = true)"
    present = dict(
        (row[0], row[1])
        for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    )
    columns = []
    for column, duckdb_type, *_ in wanted:
        quoted = identifier(column)
        if column not in present:
            columns.append(f"CAST(NULL AS {duckdb_type}) AS {quoted}")
        elif present[column] != duckdb_type:
            columns.append(f"CAST({quoted} AS {duckdb_type}) AS {quoted}")
        else:
            columns.append(quoted)
    connection.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT {', '.join(columns)} FROM {source}"
    )
