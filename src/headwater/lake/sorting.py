"""Sort orders: the order a table's data files are written in, declared in its metadata."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import IdentityTransform


def sorted_rows(data: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``data`` ordered by ``columns``, ascending, NULLs last (the order `declare_sort_order`
    declares)."""
    if not columns or data.num_rows < 2:
        return data
    return data.sort_by([(column, "ascending", "at_end") for column in columns])


def declare_sort_order(table: Table, columns: Sequence[str]) -> list[str]:
    """Make ``columns`` (ascending, NULLs last, identity) the table's sort order, so other
    engines know how its files are written; what changed, as sentences."""
    schema = table.schema()
    wanted = [
        (schema.find_field(column).field_id, SortDirection.ASC, NullOrder.NULLS_LAST)
        for column in columns
    ]
    current = [
        (field.source_id, field.direction, field.null_order)
        for field in table.sort_order().fields
        if isinstance(field.transform, IdentityTransform)
    ]
    if current == wanted and len(table.sort_order().fields) == len(wanted):
        return []
    with table.update_sort_order() as update:
        for column in columns:
            update.asc(column, IdentityTransform(), NullOrder.NULLS_LAST)
    shown = ", ".join(columns) or "none (unsorted)"
    return [f"sort order of {'.'.join(table.name())}: {shown}"]
