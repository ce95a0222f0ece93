"""Data-quality tests, each compiled to a DuckDB query that returns the failing rows.

On an incremental run, row-level tests (not_null, accepted_values, relationships, expression)
check only the rows the run wrote: the rows already in the table passed when they were
written, and checking them again would make every run cost the whole table. ``unique`` counts,
over the whole table, only the values the run wrote; the other table-level tests (row_count,
freshness, custom SQL) check the whole table as written.

Some answers need no query over the table (see `Facts`): ``row_count`` of a stored table is in
its Iceberg metadata; ``unique`` on the key an incremental merge wrote by holds by construction
(the merge refuses duplicate incoming keys and replaces every existing row of a key it writes);
the row-level tests and ``unique`` have nothing to check when a run wrote no rows; and
``freshness`` passes when the new rows alone are fresh enough, as they are in the table. The
stored query of such a test says how it was answered and still checks the table when run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb

from headwater.pipeline.declarations import TestSpec
from headwater.pipeline.sqltext import identifier, literal
from headwater.pipeline.state import TestOutcome

SAMPLE_ROWS = 5
ROW_LEVEL = frozenset({"not_null", "accepted_values", "relationships", "expression"})


@dataclass(frozen=True, slots=True)
class Facts:
    """What a run knows about the table it tests without reading it."""

    rows: int | None = None  # its row count, from Iceberg metadata (`TableFiles.exact_rows`)
    # The unique_key of the incremental merge this run wrote (only then: a full refresh
    # overwrites with whatever the model computed).
    merged_by: tuple[str, ...] = ()
    written: int | None = None  # how many rows the new rows relation holds, when known


def failing_rows_query(test: TestSpec, table: str, new_rows: str | None) -> str:
    """The query returning the rows that make ``test`` fail, over the DuckDB relation
    ``table`` (the whole table) or, for row-level tests, ``new_rows`` when given."""
    target = new_rows if new_rows is not None and test.kind in ROW_LEVEL else table
    column = identifier(test.column) if test.column else ""
    params = test.params
    if test.kind == "not_null":
        return f"SELECT * FROM {target} WHERE {column} IS NULL"
    if test.kind == "accepted_values":
        values = ", ".join(literal(value) for value in params["values"])
        return f"SELECT * FROM {target} WHERE {column} IS NOT NULL AND {column} NOT IN ({values})"
    if test.kind == "relationships":
        parent = identifier(params["field"])
        # The parent's matching keys are found by probing the (usually small) child rows with
        # the parent's key column, so the parent table is scanned once and never hashed.
        return (
            f"SELECT * FROM {target} AS child WHERE child.{column} IS NOT NULL AND "
            f"child.{column} NOT IN (SELECT parent.{parent} FROM {params['to']} AS parent "
            f"SEMI JOIN {target} AS probe ON parent.{parent} = probe.{column})"
        )
    if test.kind == "expression":
        return f"SELECT * FROM {target} WHERE NOT COALESCE(({params['expression']}), FALSE)"
    if test.kind == "unique":
        # The rows already in the table were unique among themselves when written: only a
        # value this run wrote can be duplicated now, so on an incremental run only those
        # values are counted (over the whole table).
        only_new = (
            f" AND {column} IN (SELECT {column} FROM {new_rows})" if new_rows is not None else ""
        )
        return (
            f"SELECT {column}, count(*) AS occurrences FROM {target} "
            f"WHERE {column} IS NOT NULL{only_new} GROUP BY {column} HAVING count(*) > 1"
        )
    if test.kind == "row_count":
        bounds = []
        if params.get("min") is not None:
            bounds.append(f"count(*) >= {int(params['min'])}")
        if params.get("max") is not None:
            bounds.append(f"count(*) <= {int(params['max'])}")
        condition = " AND ".join(bounds) or "TRUE"
        return f"SELECT count(*) AS row_count FROM {target} HAVING NOT ({condition})"
    if test.kind == "freshness":
        seconds = int(test.max_age.total_seconds())
        latest = f"max({column})::TIMESTAMPTZ"
        return (
            f"SELECT {latest} AS latest FROM {target} HAVING {latest} IS NULL OR "
            f"{latest} < now() - to_seconds({seconds})"
        )
    if test.kind == "sql":
        return f"SELECT * FROM ({params['sql']}) AS custom"
    raise AssertionError(f"unknown test kind {test.kind}")  # parse_tests admits no other


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def run_tests(
    connection: duckdb.DuckDBPyConnection,
    model: str,
    tests: Sequence[TestSpec],
    table: str,
    new_rows: str | None = None,
    facts: Facts | None = None,
) -> list[TestOutcome]:
    """Run ``tests`` and say how each went; a test whose query fails has status ``error``."""
    facts = facts or Facts()
    outcomes = []
    for test in tests:
        query = failing_rows_query(test, table, new_rows)
        known = _known(test, query, facts, new_rows is not None)
        if known is not None:
            count, sample, query = known
        elif test.kind == "freshness" and new_rows is not None:
            # The new rows are in the table: if they are fresh enough, so is the table.
            fresh = failing_rows_query(test, new_rows, None)
            count, sample = _failing(connection, fresh)
            if count == 0:
                query = fresh
            else:
                count, sample = _failing(connection, query)
        else:
            count, sample = _failing(connection, query)
        if count < 0:
            status = "error"
            count = 0
        else:
            status = "pass" if count == 0 else ("fail" if test.severity == "error" else "warn")
        outcomes.append(
            TestOutcome(
                name=test.name,
                severity=test.severity,
                status=status,
                failures=count,
                sample=[_json_safe(row) for row in sample],
                query=query,
                model=model,
            )
        )
    return outcomes


def _known(
    test: TestSpec, query: str, facts: Facts, incremental: bool
) -> tuple[int, list[dict[str, Any]], str] | None:
    """(failing rows, sample, query as answered) of a test the facts answer, else None."""
    if test.kind == "row_count" and facts.rows is not None:
        low, high = test.params.get("min"), test.params.get("max")
        ok = (low is None or facts.rows >= int(low)) and (high is None or facts.rows <= int(high))
        note = f"-- answered from Iceberg metadata: {facts.rows} rows\n"
        return (0, [], note + query) if ok else (1, [{"row_count": facts.rows}], note + query)
    if incremental and facts.written == 0 and (test.kind in ROW_LEVEL or test.kind == "unique"):
        # These check only the rows this run wrote, and it wrote none.
        return 0, [], "-- no rows written: nothing to check\n" + query
    if test.kind == "unique" and incremental and facts.merged_by == (test.column,):
        note = (
            f"-- holds by construction: this run merged by unique_key {test.column}, which "
            "leaves each key it wrote in exactly one row\n"
        )
        return 0, [], note + query
    return None


def _failing(connection: duckdb.DuckDBPyConnection, query: str) -> tuple[int, list[dict[str, Any]]]:
    """How many rows ``query`` returns (-1 when it fails) and the first few (or the error)."""
    try:
        # One pass: the first rows with the total count beside each.
        rows = (
            connection.sql(
                f"SELECT *, count(*) OVER () AS hw_failing FROM ({query}) AS failing "
                f"LIMIT {SAMPLE_ROWS}"
            )
            .to_arrow_table()
            .to_pylist()
        )
    except duckdb.Error as exc:
        return -1, [{"error": str(exc).splitlines()[0]}]
    count = int(rows[0]["hw_failing"]) if rows else 0
    return count, [{k: v for k, v in row.items() if k != "hw_failing"} for row in rows]


def blocking(outcomes: Sequence[TestOutcome]) -> list[TestOutcome]:
    """The outcomes that stop publication: failed or broken ``error`` tests."""
    return [o for o in outcomes if o.severity == "error" and o.status in ("fail", "error")]
