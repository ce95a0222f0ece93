"""What happened to a table since a snapshot: the basis of incremental reads.

An incremental consumer remembers the last snapshot of each input it read (its watermark).
The snapshots after it are told apart by operation and by the properties headwater writes:

- ``append`` snapshots carry new rows: they are read;
- snapshots marked ``headwater.maintenance`` (compaction and other rewrites that change files,
  not data) are skipped, never re-read as new data;
- snapshots of a headwater ``merge`` (an upsert: a delete snapshot whose position delete files
  remove the old versions of updated rows, then an append of the new versions) change
  existing rows;
- anything else (delete, overwrite, a rollback past the watermark) rewrote the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot

MAINTENANCE_PROPERTY = "headwater.maintenance"
OPERATION_PROPERTY = "headwater.operation"
RUN_PROPERTY = "headwater.run-id"


@dataclass(frozen=True, slots=True)
class Changes:
    """The snapshots of a table after ``since`` (exclusive) up to ``until`` (inclusive)."""

    since: int | None
    until: int | None
    # Ranges (from exclusive, to inclusive) of consecutive append snapshots to read.
    append_ranges: tuple[tuple[int | None, int], ...] = ()
    merged: tuple[int, ...] = ()  # snapshots of upserts: existing rows were updated
    rewritten: tuple[int, ...] = ()  # deletes and overwrites
    maintenance: tuple[int, ...] = ()
    # True when ``since`` is not an ancestor of the current snapshot (a rollback past it).
    lost_watermark: bool = False
    # How many runs merged into the table: from two on, the appended rows can hold a version
    # of a row that a later merge replaced.
    merge_runs: int = 0


def ancestry(table: Table) -> list[Snapshot]:
    """The current snapshot and its ancestors, newest first."""
    chain: list[Snapshot] = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return chain


def _properties(snapshot: Snapshot) -> dict[str, str]:
    return dict(snapshot.summary.additional_properties) if snapshot.summary else {}


def changes_since(table: Table, since: int | None) -> Changes:
    """Classify every snapshot after ``since`` on the current branch."""
    chain = ancestry(table)
    until = chain[0].snapshot_id if chain else None
    newer: list[Snapshot] = []
    found = since is None
    for snapshot in chain:
        if snapshot.snapshot_id == since:
            found = True
            break
        newer.append(snapshot)
    if not found:
        return Changes(since=since, until=until, lost_watermark=True)
    ranges: list[tuple[int | None, int]] = []
    merged: list[int] = []
    rewritten: list[int] = []
    maintenance: list[int] = []
    start: int | None = since
    end: int | None = None
    merge_runs: set[str | None] = set()
    for snapshot in reversed(newer):
        properties = _properties(snapshot)
        if properties.get(OPERATION_PROPERTY) == "merge":
            merge_runs.add(properties.get(RUN_PROPERTY))
        operation = snapshot.summary.operation if snapshot.summary else None
        is_append = operation == Operation.APPEND
        if MAINTENANCE_PROPERTY in properties:
            maintenance.append(snapshot.snapshot_id)
        elif properties.get(OPERATION_PROPERTY) == "merge" and not is_append:
            merged.append(snapshot.snapshot_id)
        elif not is_append:
            rewritten.append(snapshot.snapshot_id)
        if is_append and MAINTENANCE_PROPERTY not in properties:
            end = snapshot.snapshot_id
            continue
        if end is not None:
            ranges.append((start, end))
        start, end = snapshot.snapshot_id, None
    if end is not None:
        ranges.append((start, end))
    return Changes(
        since=since,
        until=until,
        append_ranges=tuple(ranges),
        merged=tuple(merged),
        rewritten=tuple(rewritten),
        maintenance=tuple(maintenance),
        merge_runs=len(merge_runs),
    )
