"""Merge-on-read: Iceberg position delete files, written and committed.

An upsert that replaces a few rows of a large table should not rewrite the files holding
them (copy-on-write). Iceberg's answer is a position delete file: rows ``(file_path, pos)``
naming the rows of a data file that are no longer in the table. Readers (PyIceberg, Spark,
Trino, and headwater's own DuckDB views in ``headwater.pipeline.scan``) apply them.

PyIceberg 0.12 reads position deletes but cannot write them, so this module does: one
Parquet delete file per data file (*file-scoped*: its ``file_path`` bounds are equal, which
tells every reader which data file it applies to), a delete manifest, and a snapshot adding
it, through PyIceberg's own snapshot producer. A full overwrite of the table then removes the
delete files with the data files they refer to (`drop_delete_files`).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.typedef import Record

# The reserved field ids of a position delete file's columns (Iceberg spec, "Position
# Delete Files").
FILE_PATH_ID = 2147483546
POS_ID = 2147483545
POSITIONS = pa.schema(
    [
        pa.field(
            "file_path",
            pa.string(),
            nullable=False,
            metadata={"PARQUET:field_id": str(FILE_PATH_ID)},
        ),
        pa.field("pos", pa.int64(), nullable=False, metadata={"PARQUET:field_id": str(POS_ID)}),
    ]
)


class _DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of delete files (PyIceberg's writer only writes data manifests)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def _long(value: int) -> bytes:
    return struct.pack("<q", value)


def write_position_deletes(table: Table, data_file_path: str, positions: pa.Array) -> DataFile:
    """Write one file-scoped position delete file for ``data_file_path`` (its path exactly as
    the manifest has it): the rows at ``positions`` of that data file are deleted."""
    positions = pc.unique(positions.cast(pa.int64())).sort()
    count = len(positions)
    rows = pa.table([pa.array([data_file_path] * count, pa.string()), positions], schema=POSITIONS)
    location = table.location_provider().new_data_location(f"{uuid.uuid4()}-deletes.parquet")
    output = table.io.new_output(location)
    with output.create(overwrite=True) as stream:
        pq.write_table(rows, stream, compression="zstd")
    size = len(table.io.new_input(location))
    path = data_file_path.encode()
    return DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=location,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=count,
        file_size_in_bytes=size,
        lower_bounds={FILE_PATH_ID: path, POS_ID: _long(positions[0].as_py())},
        upper_bounds={FILE_PATH_ID: path, POS_ID: _long(positions[-1].as_py())},
        null_value_counts={FILE_PATH_ID: 0, POS_ID: 0},
        value_counts={FILE_PATH_ID: count, POS_ID: count},
        spec_id=table.metadata.default_spec_id,
        sort_order_id=None,
        equality_ids=None,
        key_metadata=None,
    )


def file_scoped(delete: DataFile) -> bool:
    """Does position delete file ``delete`` name rows of a single data file (its ``file_path``
    bounds are equal, as in the files headwater writes)?"""
    lower = (delete.lower_bounds or {}).get(FILE_PATH_ID)
    return lower is not None and lower == (delete.upper_bounds or {}).get(FILE_PATH_ID)


def _summary(verb: str, files: Iterable[DataFile]) -> dict[str, str]:
    """Snapshot summary counts (``verb``: added or removed) for delete files, which
    PyIceberg's collector leaves out for a producer it does not know; it still adds them to
    the table's totals."""
    files = list(files)
    if not files:
        return {}
    return {
        f"{verb}-delete-files": str(len(files)),
        f"{verb}-position-delete-files": str(len(files)),
        f"{verb}-position-deletes": str(sum(f.record_count for f in files)),
        f"{verb}-files-size": str(sum(f.file_size_in_bytes for f in files)),
    }


class _DeleteFilesProducer(_FastAppendFiles):
    """A snapshot that adds and/or removes delete files and keeps every other manifest.

    Added files go to a new delete manifest; removed ones are written again with status
    DELETED (as Iceberg records any removal), and the manifests that held them are dropped.
    """

    def __init__(
        self,
        transaction: Transaction,
        table: Table,
        added: list[DataFile],
        removed: list[ManifestEntry],
        properties: dict[str, str],
    ) -> None:
        summary = {
            **_summary("added", added),
            **_summary("removed", [entry.data_file for entry in removed]),
        }
        super().__init__(
            operation=Operation.DELETE,
            transaction=transaction,
            io=table.io,
            snapshot_properties={**properties, **summary},
        )
        self._added_deletes = added
        self._removed_deletes = removed

    def _existing_manifests(self) -> list[ManifestFile]:
        manifests = super()._existing_manifests()
        if self._removed_deletes:
            manifests = [m for m in manifests if m.content != ManifestContent.DELETES]
        return manifests

    def _manifests(self) -> list[ManifestFile]:
        manifests = super()._manifests()
        entries = [
            ManifestEntry.from_args(
                status=ManifestEntryStatus.ADDED,
                snapshot_id=self.snapshot_id,
                sequence_number=None,
                file_sequence_number=None,
                data_file=data_file,
            )
            for data_file in self._added_deletes
        ] + [
            ManifestEntry.from_args(
                status=ManifestEntryStatus.DELETED,
                snapshot_id=self.snapshot_id,
                sequence_number=entry.sequence_number,
                file_sequence_number=entry.file_sequence_number,
                data_file=entry.data_file,
            )
            for entry in self._removed_deletes
        ]
        if not entries:
            return manifests
        writer = _DeleteManifestWriter(
            spec=self._transaction.table_metadata.spec(),
            schema=self.schema(),
            output_file=self.new_manifest_output(),
            snapshot_id=self.snapshot_id,
            avro_compression=self._compression,
        )
        with writer:
            for entry in entries:
                writer.add_entry(entry)
        return [writer.to_manifest_file(), *manifests]


def add_delete_files(
    transaction: Transaction, table: Table, files: list[DataFile], properties: dict[str, str]
) -> None:
    """Commit ``files`` (position delete files) in ``transaction`` as one ``delete`` snapshot."""
    _DeleteFilesProducer(transaction, table, files, [], properties).commit()


def live_delete_entries(table: Table) -> list[ManifestEntry]:
    """The delete files of the table's current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None or (
        snapshot.summary is not None and snapshot.summary.get("total-delete-files") == "0"
    ):
        return []  # without reading a manifest
    return [
        entry
        for manifest in snapshot.manifests(table.io)
        if manifest.content == ManifestContent.DELETES
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    ]


def drop_delete_files(
    transaction: Transaction, table: Table, entries: list[ManifestEntry], properties: dict[str, str]
) -> None:
    """Remove delete files ``entries`` in ``transaction`` (after their data files were
    overwritten: they refer to files no longer in the table)."""
    if entries:
        _DeleteFilesProducer(transaction, table, [], entries, properties).commit()
