"""Looking rows up by pairs of columns without a full scan.

SQLite plans a row-value ``(a, b) IN ((..), (..))`` as a scan of the whole index, which makes
every lookup cost the size of the table. ``a IN (..) AND b IN (..)`` is an index search on
SQLite and PostgreSQL alike; it can also match pairs that were not asked for (``a1`` with
``b2``), so callers keep only the rows whose pair they asked for (`only_pairs`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_

Row = TypeVar("Row")


def pair_in(
    first: ColumnElement[Any], second: ColumnElement[Any], pairs: Collection[tuple[Any, Any]]
) -> ColumnElement[bool]:
    """A condition matching at least every ``(first, second)`` pair in ``pairs``."""
    return and_(first.in_({a for a, _ in pairs}), second.in_({b for _, b in pairs}))


def only_pairs(rows: Iterable[Row], pairs: Collection[tuple[Any, Any]], key: Any) -> Sequence[Row]:
    """The rows whose ``key(row)`` is one of ``pairs``."""
    wanted = pairs if isinstance(pairs, set | frozenset | dict) else set(pairs)
    return [row for row in rows if key(row) in wanted]
