"""Pieces of DuckDB SQL built from values: quoted identifiers and literals."""

from __future__ import annotations

from typing import Any

from sqlglot import exp


def identifier(name: str) -> str:
    """``name`` as a quoted DuckDB identifier, whatever characters it holds."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(value: Any) -> str:
    """``value`` (a string, number, boolean or None) as a DuckDB literal."""
    return exp.convert(value).sql("duckdb")
