"""Table maintenance: compaction, snapshot expiry with file deletion, orphan files, history.

PyIceberg 0.12 has none of compaction, file deletion after expiry, or orphan removal; these
are built from its own parts (scans of chosen files, its writer, its snapshot producers), so
the result is an ordinary Iceberg table any engine reads.

Every rewrite is marked with ``headwater.maintenance`` so incremental readers skip it
(`headwater.lake.changes`): compacted rows are old rows in new files, not new data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pyarrow import fs
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import EMPTY_DICT

from headwater.lake.changes import MAINTENANCE_PROPERTY, ancestry
from headwater.lake.deletes import FILE_PATH_ID, drop_delete_files, file_scoped, live_delete_entries
from headwater.lake.sorting import sorted_rows
from headwater.lake.transaction import transaction

TARGET_FILE_BYTES = 128 * 2**20
# A file under this share of the target is "small": worth rewriting with others.
SMALL_SHARE = 0.75
TARGET_SIZE_PROPERTY = "write.target-file-size-bytes"


@dataclass(frozen=True, slots=True)
class CompactionPlan:
    """The files a compaction would rewrite, in groups that each become one file or more."""

    table: str
    snapshot_id: int | None
    target_bytes: int
    files_before: int
    groups: tuple[tuple[FileScanTask, ...], ...]

    @property
    def files(self) -> list[FileScanTask]:
        return [task for group in self.groups for task in group]

    @property
    def input_bytes(self) -> int:
        return sum(task.file.file_size_in_bytes for task in self.files)

    @property
    def delete_files(self) -> int:
        return sum(len(task.delete_files) for task in self.files)

    @property
    def expected_files(self) -> int:
        return sum(
            max(1, math.ceil(sum(t.file.file_size_in_bytes for t in g) / self.target_bytes))
            for g in self.groups
        )

    @property
    def files_after(self) -> int:
        return self.files_before - len(self.files) + self.expected_files


class _ReplaceFiles(_OverwriteFiles):
    """A ``replace`` snapshot: Iceberg's operation for files rewritten with the same rows,
    which other engines' incremental readers skip as headwater's do. PyIceberg computes
    totals only for append, overwrite and delete; a replace's are an overwrite's."""

    def _summary(self, snapshot_properties: dict[str, str] = EMPTY_DICT) -> Summary:
        self._operation = Operation.OVERWRITE
        try:
            summary = super()._summary(snapshot_properties)
        finally:
            self._operation = Operation.REPLACE
        return Summary(operation=Operation.REPLACE, **summary.additional_properties)


def _sort_columns(table: Table) -> list[str]:
    schema = table.schema()
    return [
        schema.find_column_name(f.source_id) or ""
        for f in table.sort_order().fields
        if isinstance(f.transform, IdentityTransform)
    ]


def plan_compaction(
    table: Table, name: str, tasks: Sequence[FileScanTask], target_bytes: int
) -> CompactionPlan:
    """Group the small files (and any carrying position deletes) of the current snapshot.

    A group is files of one partition whose sizes add up to about ``target_bytes``; a group
    of a single small file without deletes gains nothing and is left alone. Files with a
    delete file from another engine (one that may name rows of several files) are left
    alone too: removing it could resurrect rows of files not rewritten.
    """
    snapshot = table.current_snapshot()
    candidates: dict[tuple[int, str], list[FileScanTask]] = {}
    for task in tasks:
        small = task.file.file_size_in_bytes < target_bytes * SMALL_SHARE
        if not (small or task.delete_files):
            continue
        if not all(file_scoped(delete) for delete in task.delete_files):
            continue
        key = (task.file.spec_id, repr(task.file.partition))
        candidates.setdefault(key, []).append(task)
    groups: list[tuple[FileScanTask, ...]] = []
    for found in candidates.values():
        found.sort(key=lambda t: t.file.file_path)  # oldest paths are not oldest data: stable
        group: list[FileScanTask] = []
        size = 0
        for task in found:
            group.append(task)
            size += task.file.file_size_in_bytes
            if size >= target_bytes:
                groups.append(tuple(group))
                group, size = [], 0
        if group:
            groups.append(tuple(group))
    worth = tuple(g for g in groups if len(g) > 1 or g[0].delete_files)
    return CompactionPlan(
        table=name,
        snapshot_id=snapshot.snapshot_id if snapshot else None,
        target_bytes=target_bytes,
        files_before=len(tasks),
        groups=worth,
    )


def compact(
    table: Table,
    plan: CompactionPlan,
    properties: dict[str, str],
    before_commit: Callable[[], None] | None = None,
) -> int | None:
    """Rewrite ``plan``'s groups into target-size files in one commit; the new current
    snapshot id (None when there was nothing to do).

    The commit is a ``replace`` snapshot (files swapped, rows unchanged), followed in the same
    commit by the removal of the position delete files the rewritten rows no longer need.
    It fails, changing nothing, if the table changed since ``plan`` was made.
    """
    if not plan.groups:
        return None
    marked = {**properties, MAINTENANCE_PROPERTY: "compact"}
    metadata = table.metadata.model_copy(
        update={
            "properties": {
                **table.metadata.properties,
                TARGET_SIZE_PROPERTY: str(plan.target_bytes),
            }
        }
    )
    columns = [c for c in _sort_columns(table) if c]
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    written: list[DataFile] = []
    for group in plan.groups:
        rows = sorted_rows(scan.to_table(group), columns)
        written.extend(_dataframe_to_data_files(metadata, rows, table.io))
    rewritten = {task.file.file_path for task in plan.files}
    stale_deletes = [
        entry
        for entry in live_delete_entries(table)
        if (entry.data_file.lower_bounds or {}).get(FILE_PATH_ID, b"").decode() in rewritten
    ]
    if before_commit is not None:
        before_commit()
    with transaction(table) as staged:
        producer = _ReplaceFiles(
            operation=Operation.REPLACE,
            transaction=staged,
            io=table.io,
            snapshot_properties=marked,
        )
        with producer:
            for task in plan.files:
                producer.delete_data_file(task.file)
            for data_file in written:
                producer.append_data_file(data_file)
        drop_delete_files(staged, table, stale_deletes, marked)
    table.refresh()
    current = table.current_snapshot()
    return current.snapshot_id if current else None


@dataclass(frozen=True, slots=True)
class ExpiryPlan:
    table: str
    expire: tuple[int, ...]
    kept: int
    protected: dict[int, str] = field(default_factory=dict)  # snapshot -> why it is kept
    files: tuple[str, ...] = ()  # referenced only by expired snapshots: deleted with them


def referenced_files(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    """Every manifest list, manifest, data and delete file the snapshots refer to."""
    found: set[str] = set()
    read: set[str] = set()
    for snapshot in snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            found.add(manifest.manifest_path)
            if manifest.manifest_path in read:
                continue
            read.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                found.add(entry.data_file.file_path)
    return found


def plan_expiry(
    table: Table,
    name: str,
    older_than: datetime,
    retain_last: int,
    watermarks: Iterable[int] = (),
    keep_latest_with: Iterable[str] = (),
) -> ExpiryPlan:
    """Which snapshots to expire: committed before ``older_than``, except

    - the ``retain_last`` newest ancestors of the current snapshot (the current one always);
    - every ancestor from the oldest incremental watermark on this table up to the current
      snapshot: an incremental reader finds what is new by walking back to its watermark,
      and a gap would make it rebuild from scratch;
    - for each property in ``keep_latest_with``, the newest snapshot carrying it (state kept
      in snapshot properties, such as a pulled source's high-water mark).
    """
    chain = ancestry(table)
    protected: dict[int, str] = {}
    for snapshot in chain[: max(retain_last, 1)]:
        protected[snapshot.snapshot_id] = "among the newest kept (--retain-last)"
    marks = set(watermarks)
    positions = [i for i, s in enumerate(chain) if s.snapshot_id in marks]
    if positions:
        for snapshot in chain[: max(positions) + 1]:
            protected.setdefault(snapshot.snapshot_id, "an incremental reader's watermark needs it")
    by_time = sorted(table.snapshots(), key=lambda s: s.timestamp_ms, reverse=True)
    for key in keep_latest_with:
        holder = next(
            (
                s
                for s in by_time
                if s.summary is not None and key in s.summary.additional_properties
            ),
            None,
        )
        if holder is not None:
            protected.setdefault(holder.snapshot_id, f"holds the latest {key}")
    cutoff_ms = int(older_than.timestamp() * 1000)
    expire = tuple(
        s.snapshot_id
        for s in table.snapshots()
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
    )
    expired = [s for s in table.snapshots() if s.snapshot_id in expire]
    kept = [s for s in table.snapshots() if s.snapshot_id not in expire]
    files = referenced_files(table, expired) - referenced_files(table, kept) if expire else set()
    return ExpiryPlan(
        table=name,
        expire=expire,
        kept=len(kept),
        protected=protected,
        files=tuple(sorted(files)),
    )


def expire(table: Table, plan: ExpiryPlan, after_commit: Callable[[], None] | None = None) -> int:
    """Remove ``plan``'s snapshots from the metadata, then delete the files only they
    referenced; how many files were deleted. A crash between the two leaves orphan files
    (found by `find_orphans`), never a snapshot missing its files."""
    if not plan.expire:
        return 0
    table.maintenance.expire_snapshots().by_ids(list(plan.expire)).commit()
    if after_commit is not None:
        after_commit()
    for path in plan.files:
        table.io.delete(path)
    return len(plan.files)


@dataclass(frozen=True, slots=True)
class Orphan:
    path: str
    size: int
    modified: datetime


def find_orphans(table: Table, older_than: datetime) -> list[Orphan]:
    """Files under the table's location that no snapshot or metadata file refers to and that
    were last changed before ``older_than`` (newer ones may be a write still in progress)."""
    reachable = referenced_files(table, table.snapshots())
    if table.metadata_location:
        reachable.add(table.metadata_location)
    reachable.update(entry.metadata_file for entry in table.metadata.metadata_log)
    reachable.update(s.statistics_path for s in table.metadata.statistics)
    filesystem, root = fs.FileSystem.from_uri(table.location())
    prefix = table.location()[: len(table.location()) - len(root)] if root else ""
    found: list[Orphan] = []
    for info in filesystem.get_file_info(
        fs.FileSelector(root, recursive=True, allow_not_found=True)
    ):
        if info.type != fs.FileType.File or info.mtime is None:
            continue
        uri = f"{prefix}{info.path}" if prefix else info.path
        if uri in reachable or info.path in reachable or info.mtime >= older_than:
            continue
        found.append(Orphan(uri, int(info.size or 0), info.mtime))
    return sorted(found, key=lambda o: o.path)


def delete_orphans(table: Table, orphans: Sequence[Orphan]) -> int:
    for orphan in orphans:
        table.io.delete(orphan.path)
    return len(orphans)
