"""What a model run reads: for each input, whole or only what was appended since its watermark.

An input is read incrementally when the model is incremental, the input is in its
``incremental_on`` (default: every input), and the model has a watermark for it. Views are
never stored: a model reading a view reads the view's own inputs whole, through it.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.lake import Changes, Lake, TableFiles, changes_since
from headwater.pipeline.project import Model


class InputRewrittenError(Exception):
    """An incremental input changed other than by appends since the watermark."""


@dataclass(frozen=True, slots=True)
class InputRead:
    table: str
    location: str
    snapshot_id: int | None  # the input's snapshot this run reads up to
    since: int | None  # the watermark (exclusive) of an incremental read
    incremental: bool
    files: TableFiles
    # An incremental read over several merges: keep only the rows still in the table.
    current_only: bool = False

    @property
    def rows(self) -> int:
        return self.files.rows


def _rewrite_reason(table: str, changes: Changes, model: Model) -> str | None:
    if changes.lost_watermark:
        return (
            f"{table}: snapshot {changes.since} is no longer in its history (rolled back past it)"
        )
    if changes.rewritten:
        return f"{table} was rewritten (snapshot {changes.rewritten[0]} deleted or overwrote rows)"
    if changes.merged and model.config.materialized == "append":
        # The appended rows of a merge are new versions of existing rows; appending them
        # again would count those rows twice.
        return f"{table} was merged into (snapshot {changes.merged[0]} updated rows)"
    return None


def plan_reads(
    lake: Lake,
    model: Model,
    inputs: tuple[str, ...],
    incremental_on: frozenset[str],
    watermarks: dict[str, int],
    full: bool,
) -> tuple[list[InputRead], str | None]:
    """The reads of one run of ``model`` and, if an incremental input was rewritten, why.

    ``full`` reads every input whole. When a rewrite is found the caller decides (the model's
    ``on_input_rewrite``) and calls again with ``full=True``.
    """
    reads: list[InputRead] = []
    for name in inputs:
        table = lake.load(name)
        if table is None:
            raise InputRewrittenError(f"input {name} does not exist yet")
        current = table.current_snapshot()
        snapshot_id = current.snapshot_id if current else None
        incremental = (
            not full and model.config.incremental and name in incremental_on and name in watermarks
        )
        if incremental:
            changes = changes_since(table, watermarks[name])
            reason = _rewrite_reason(name, changes, model)
            if reason is not None:
                return [], reason
            files = lake.appended_files(table, changes)
            current_only = changes.merge_runs > 1
        else:
            files = lake.files(table, snapshot_id)
            current_only = False
        reads.append(
            InputRead(
                table=name,
                location=table.location(),
                snapshot_id=snapshot_id,
                since=watermarks.get(name) if incremental else None,
                incremental=incremental,
                files=files,
                current_only=current_only,
            )
        )
    return reads, None
