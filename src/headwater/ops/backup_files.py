"""Which files an Iceberg table's metadata file needs, read through a local `FileIO`.

The same walk decides what a backup copies (reading the live warehouse) and checks that an
archive holds it all (reading the archive's own copies), so the two cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from pyiceberg.io import FileIO, InputFile, InputStream, OutputFile
from pyiceberg.manifest import DataFileContent, read_manifest_list
from pyiceberg.serializers import FromInputFile
from pyiceberg.table.metadata import TableMetadata

from headwater.lake import summary_rows
from headwater.ops.backup_archive import BackupError, MemberKind, TableState


class MissingFileError(BackupError):
    def __init__(self, location: str) -> None:
        super().__init__(f"{location} is needed but missing")
        self.location = location


class _LocalInput(InputFile):
    def __init__(self, location: str, path: Path) -> None:
        super().__init__(location)
        self.path = path

    def __len__(self) -> int:
        return self.path.stat().st_size

    def exists(self) -> bool:
        return self.path.is_file()

    def open(self, seekable: bool = True) -> InputStream:
        try:
            stream: IO[bytes] = self.path.open("rb")
        except FileNotFoundError:
            raise MissingFileError(self.location) from None
        return cast(InputStream, stream)


class LocalIO(FileIO):
    """Reads each location from the local path ``resolve`` gives for it; never writes."""

    def __init__(self, resolve: Callable[[str], Path]) -> None:
        super().__init__()
        self.resolve = resolve

    def new_input(self, location: str) -> InputFile:
        return _LocalInput(location, self.resolve(location))

    def new_output(self, location: str) -> OutputFile:
        raise BackupError(f"{location}: the backup's file reader cannot write")

    def delete(self, location: str | InputFile | OutputFile) -> None:
        raise BackupError(f"{location}: the backup's file reader cannot delete")


@dataclass(frozen=True, slots=True)
class TableFile:
    """A file a table needs; ``size`` as the metadata records it, when it does."""

    location: str
    kind: MemberKind
    size: int | None


@dataclass(frozen=True, slots=True)
class TableWalk:
    state: TableState
    files: tuple[TableFile, ...]

    @property
    def optional(self) -> tuple[TableFile, ...]:
        """Files kept when present but needed by no read (earlier metadata files)."""
        return tuple(f for f in self.files if f.kind == MemberKind.PREVIOUS_METADATA)


def walk_table(name: str, metadata_location: str, io: FileIO) -> TableWalk:
    """Every file ``metadata_location`` refers to: the metadata file itself, the earlier ones
    it lists, statistics, and each snapshot's manifest list, manifests, data and delete files
    (all snapshots, so that time travel works after a restore).

    Raises `MissingFileError` for a needed file that cannot be read.
    """
    metadata: TableMetadata = FromInputFile.table_metadata(io.new_input(metadata_location))
    found: dict[str, TableFile] = {}

    def add(location: str, kind: MemberKind, size: int | None = None) -> None:
        found.setdefault(location, TableFile(location, kind, size))

    add(metadata_location, MemberKind.METADATA)
    for entry in metadata.metadata_log:
        add(entry.metadata_file, MemberKind.PREVIOUS_METADATA)
    for stats in (*metadata.statistics, *metadata.partition_statistics):
        add(stats.statistics_path, MemberKind.STATISTICS)
    read: set[str] = set()
    for snapshot in metadata.snapshots:
        add(snapshot.manifest_list, MemberKind.MANIFEST_LIST)
        # Not `snapshot.manifests(io)`: PyIceberg caches that by path alone, and a
        # verification must read the archive's copy, not what an earlier read remembered.
        for manifest in read_manifest_list(io.new_input(snapshot.manifest_list)):
            add(manifest.manifest_path, MemberKind.MANIFEST, manifest.manifest_length)
            if manifest.manifest_path in read:
                continue
            read.add(manifest.manifest_path)
            for live in manifest.fetch_manifest_entry(io, discard_deleted=True):
                data = live.data_file
                kind = (
                    MemberKind.DATA if data.content == DataFileContent.DATA else MemberKind.DELETES
                )
                add(data.file_path, kind, data.file_size_in_bytes)
    current = metadata.current_snapshot()
    summary = current.summary.additional_properties if current and current.summary else {}
    state = TableState(
        name=name,
        location=metadata.location,
        metadata_location=metadata_location,
        snapshot_id=current.snapshot_id if current else None,
        rows=summary_rows(summary),
        snapshots=len(metadata.snapshots),
    )
    return TableWalk(state, tuple(found.values()))


def files_under(root: Path, limit: int = 3) -> tuple[int, list[str]]:
    """How many regular files are under ``root``, and the first ``limit`` of them."""
    count, first = 0, list[str]()
    for folder, _dirs, names in os.walk(root):
        for file_name in names:
            count += 1
            if len(first) < limit:
                first.append(os.path.join(folder, file_name))
    return count, sorted(first)
