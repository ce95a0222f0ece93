"""The warehouse: Iceberg tables in a SQL catalog that lives in the metadata database.

The catalog is PyIceberg's SQL catalog on the same database as everything else (SQLite file
or PostgreSQL schema), so one backup holds the catalog with the lineage and audit state that
refers to its snapshots. Data and metadata files go to the warehouse location.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.manifest import DataFileContent, FileFormat
from pyiceberg.table import CommitTableResponse, FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableRequirement, TableUpdate
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from headwater.lake.changes import Changes
from headwater.lake.deletes import drop_delete_files, file_scoped, live_delete_entries
from headwater.lake.transaction import transaction
from headwater.lake.types import nullable_schema

CATALOG_NAME = "headwater"
# Waiting for the SQLite write lock instead of failing at once: pipeline threads commit to the
# catalog while the metadata writer may hold the lock.
SQLITE_BUSY_SECONDS = 30
PLANNED_SNAPSHOTS = 256  # file lists and parsed metadata files kept per Lake
# Row groups of at most 32,768 rows instead of PyIceberg's 1,048,576: readers (DuckDB's
# included) scan a file one row group per thread and skip row groups by their min/max or by
# row position, so a million-row file written as one row group is read by one core with
# nothing to skip. Smaller groups skip finer: a merge re-reading the rows of 4 matched keys
# in a million-row table reads 4 x 32,768 rows, not 4 x 131,072 (measured: a full scan costs
# the same at either size, the file is 10 % larger).
ROW_GROUP_ROWS = 32_768
TABLE_DEFAULTS = {"write.parquet.row-group-limit": str(ROW_GROUP_ROWS)}


class SchemaConflictError(ValueError):
    """A model's result changed a column's type in a way Iceberg cannot evolve to."""


@dataclass(frozen=True, slots=True)
class TableFiles:
    """The data files of one read of a table, with their row count from the metadata."""

    tasks: tuple[FileScanTask, ...]
    schema: pa.Schema

    @property
    def rows(self) -> int:
        # A delete file of headwater's is file-scoped (it names rows of one data file, each
        # once), so its record count is the rows it removes from that file. Another engine's
        # delete file may name rows of several files: the count is then too low.
        return sum(
            task.file.record_count - sum(delete.record_count for delete in task.delete_files)
            for task in self.tasks
        )

    @property
    def exact_rows(self) -> int | None:
        """`rows` when the metadata makes it exact (every delete file is file-scoped)."""
        scoped = all(file_scoped(delete) for task in self.tasks for delete in task.delete_files)
        return self.rows if scoped else None

    @property
    def bytes(self) -> int:
        return sum(task.file.file_size_in_bytes for task in self.tasks)


def warehouse_uri(location: str | Path) -> str:
    """A warehouse location as a URI: local paths become absolute ``file://`` URIs."""
    text = str(location)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).expanduser().resolve().as_uri()


def dataset_id(location: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a table at ``location``: the storage's scheme and
    authority, and the path (OpenLineage's naming for Iceberg tables by location)."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return "file", parsed.path
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def catalog_uri(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        url = url.update_query_dict({"timeout": str(SQLITE_BUSY_SECONDS)})
    return url.render_as_string(hide_password=False)


# Iceberg has no unsigned, 8/16-bit, nanosecond or "large"/"view" variants: write the nearest
# Iceberg type instead of failing on what DuckDB happens to return (e.g. UBIGINT, string_view).
def _iceberg_type(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_unsigned_integer(data_type):
        return pa.int64() if data_type.bit_width >= 32 else pa.int32()
    if pa.types.is_int8(data_type) or pa.types.is_int16(data_type):
        return pa.int32()
    if pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return pa.string()
    if pa.types.is_large_binary(data_type) or pa.types.is_binary_view(data_type):
        return pa.binary()
    if pa.types.is_float16(data_type):
        return pa.float32()
    if pa.types.is_timestamp(data_type) and (data_type.unit != "us" or data_type.tz):
        return pa.timestamp("us", tz="UTC" if data_type.tz else None)
    if pa.types.is_dictionary(data_type):
        return _iceberg_type(data_type.value_type)
    return data_type


def iceberg_compatible(data: pa.Table) -> pa.Table:
    """``data`` cast to types an Iceberg table can hold, every field nullable."""
    target = nullable_schema(
        pa.schema([field.with_type(_iceberg_type(field.type)) for field in data.schema])
    )
    return data if data.schema.equals(target) else data.cast(target)


_WIDENINGS = {
    (pa.int32(), pa.int64()),
    (pa.float32(), pa.float64()),
}


def _compatible(old: pa.DataType, new: pa.DataType) -> bool:
    old, new = _iceberg_type(old), _iceberg_type(new)
    if old.equals(new) or (old, new) in _WIDENINGS:
        return True
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return bool(old.scale == new.scale and new.precision >= old.precision)
    return False


class _Catalog(SqlCatalog):
    """PyIceberg's SQL catalog, parsing each table metadata file once.

    A metadata file is never changed once written (a commit writes a new one), so its parsed
    form can be shared by every `Table` loaded from it; each load still asks the database
    which file is current. Loading is what every model run does for each of its inputs, and a
    table's metadata file grows with its history. A commit remembers the metadata it wrote, so
    the next load of that table parses nothing either. If PyIceberg stops calling these hooks,
    loads are merely slower.
    """

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self._parsed: dict[str, TableMetadata] = {}
        self._parsed_lock = threading.Lock()

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        location = orm_table.metadata_location
        with self._parsed_lock:
            metadata = self._parsed.get(location) if location else None
        if (
            metadata is None
            or not location
            or not orm_table.table_namespace
            or not orm_table.table_name
        ):
            table = super()._convert_orm_to_iceberg(orm_table)
            self._remember(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=(
                *Catalog.identifier_to_tuple(orm_table.table_namespace),
                orm_table.table_name,
            ),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def _remember(self, location: str, metadata: TableMetadata) -> None:
        with self._parsed_lock:
            if len(self._parsed) >= PLANNED_SNAPSHOTS:
                del self._parsed[next(iter(self._parsed))]  # the oldest
            self._parsed[location] = metadata

    def commit_table(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        # The metadata just written is what the next load of the table would parse.
        response = super().commit_table(table, requirements, updates)
        self._remember(response.metadata_location, response.metadata)
        return response


class Lake:
    """Iceberg tables named ``<layer>.<table>``, one Iceberg namespace per layer."""

    def __init__(self, database_url: str, warehouse: str | Path) -> None:
        self.warehouse = warehouse_uri(warehouse)
        if self.warehouse.startswith("file://"):
            Path(urlparse(self.warehouse).path).mkdir(parents=True, exist_ok=True)
        self.catalog = _Catalog(
            CATALOG_NAME, uri=catalog_uri(database_url), warehouse=self.warehouse
        )
        # A snapshot's data files never change, so planning them (reading the manifests) is
        # done once per (table, snapshot, schema): a run plans the same snapshot for the
        # model that wrote it, the models reading it and the tests checking against it.
        self._planned: dict[tuple[str, Hashable, int], TableFiles] = {}
        self._planned_lock = threading.Lock()

    def close(self) -> None:
        self.catalog.engine.dispose()

    def load(self, name: str) -> Table | None:
        try:
            return self.catalog.load_table(name)
        except NoSuchTableError:
            return None

    def table_names(self) -> list[str]:
        names = []
        for namespace in self.catalog.list_namespaces():
            for identifier in self.catalog.list_tables(namespace):
                names.append(".".join(identifier))
        return sorted(names)

    def ensure_namespace(self, layer: str) -> None:
        # A concurrent writer may create it between PyIceberg's check and its insert.
        with contextlib.suppress(NamespaceAlreadyExistsError, IntegrityError):
            self.catalog.create_namespace_if_not_exists(layer)

    def create(self, name: str, schema: pa.Schema, properties: Mapping[str, str] = {}) -> Table:
        self.ensure_namespace(name.split(".", 1)[0])
        return self.catalog.create_table(
            name, schema=nullable_schema(schema), properties={**TABLE_DEFAULTS, **properties}
        )

    def drop(self, name: str) -> None:
        self.catalog.drop_table(name)

    def evolve(self, table: Table, schema: pa.Schema) -> list[str]:
        """Add ``schema``'s new columns and widen types; what changed, as sentences.

        Raises `SchemaConflictError` naming the column and both types for any other change.
        """
        current = table.schema().as_arrow()
        changes: list[str] = []
        for field in schema:
            index = current.get_field_index(field.name)
            if index < 0:
                changes.append(f"added column {field.name} {field.type}")
                continue
            old = _iceberg_type(current.field(index).type)
            if not _compatible(old, field.type):
                raise SchemaConflictError(
                    f"column {field.name} of {'.'.join(table.name())} changed type from "
                    f"{old} to {field.type}; run with --full-refresh to rebuild the table"
                )
            if not old.equals(_iceberg_type(field.type)):
                changes.append(f"widened column {field.name} from {old} to {field.type}")
        if changes:
            with table.update_schema() as update:
                update.union_by_name(nullable_schema(schema))
        return changes

    def _plan(
        self, table: Table, what: Hashable, plan: Callable[[], list[FileScanTask]]
    ) -> TableFiles:
        """``plan()``'s files as `TableFiles`, remembered by (table, ``what``, schema)."""
        schema = table.schema()
        key = (str(table.metadata.table_uuid), what, schema.schema_id)
        with self._planned_lock:
            planned = self._planned.get(key)
        if planned is None:
            planned = TableFiles(tuple(plan()), schema.as_arrow())
            with self._planned_lock:
                if len(self._planned) >= PLANNED_SNAPSHOTS:
                    del self._planned[next(iter(self._planned))]  # the oldest
                self._planned[key] = planned
        return planned

    def files(self, table: Table, snapshot_id: int | None) -> TableFiles:
        """Every data file of ``table`` at ``snapshot_id`` (None: the empty table)."""
        if snapshot_id is None:
            return TableFiles((), table.schema().as_arrow())
        return self._plan(
            table, snapshot_id, lambda: list(table.scan(snapshot_id=snapshot_id).plan_files())
        )

    def appended_files(self, table: Table, changes: Changes) -> TableFiles:
        """The data files the append snapshots in ``changes`` added (skipping maintenance)."""

        def plan() -> list[FileScanTask]:
            tasks: list[FileScanTask] = []
            for since, until in changes.append_ranges:
                scan = table.incremental_append_scan(
                    from_snapshot_id_exclusive=since, to_snapshot_id_inclusive=until
                )
                tasks.extend(scan.plan_files())
            return tasks

        # Several models often read the same input since the same watermark.
        return self._plan(table, changes.append_ranges, plan)

    def rollback(self, table: Table, snapshot_id: int | None) -> None:
        """Make ``snapshot_id`` current again (None: no snapshot, the table as created)."""
        if snapshot_id is None:
            # Iceberg cannot point main at "no snapshot": an empty overwrite is the equivalent.
            self.overwrite(table, pa.Table.from_batches([], schema=table.schema().as_arrow()), {})
            return
        table.manage_snapshots().set_current_snapshot(snapshot_id=snapshot_id).commit()

    def append(self, table: Table, data: pa.Table, properties: dict[str, str]) -> None:
        """Add ``data`` to the table in one commit."""
        with transaction(table) as staged:
            staged.append(data, snapshot_properties=properties)

    def overwrite(self, table: Table, data: pa.Table, properties: dict[str, str]) -> None:
        """Replace the table's rows with ``data`` in one commit."""
        if table.current_snapshot() is None:
            # Nothing to delete: PyIceberg would warn that its delete matched no records.
            self.append(table, data, properties)
            return
        # The delete files refer to the data files being replaced: they go with them.
        delete_files = live_delete_entries(table)
        with warnings.catch_warnings(), transaction(table) as staged:
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            staged.overwrite(data, snapshot_properties=properties)
            drop_delete_files(staged, table, delete_files, properties)

    def snapshot_as_of(self, table: Table, when: datetime) -> int | None:
        snapshot = table.snapshot_as_of_timestamp(int(when.timestamp() * 1000))
        return snapshot.snapshot_id if snapshot else None


def summary_rows(summary: Mapping[str, str]) -> int:
    """A snapshot's row count from its summary: records less position-deleted rows."""
    return int(summary.get("total-records", 0)) - int(summary.get("total-position-deletes", 0))


def position_deletes(files: TableFiles) -> dict[str, list[str]]:
    """The position delete files (paths as the manifests have them) of each data file of
    ``files`` that has any, by the data file's path.

    Equality deletes and deletion vectors (written by other engines) are refused rather than
    read wrong: headwater's readers apply position delete files only.
    """
    deletes: dict[str, list[str]] = {}
    for task in files.tasks:
        for delete in task.delete_files:
            if (
                delete.content != DataFileContent.POSITION_DELETES
                or delete.file_format != FileFormat.PARQUET
            ):
                raise ValueError(
                    f"{delete.file_path}: only Parquet position delete files can be read yet"
                )
            deletes.setdefault(task.file.file_path, []).append(delete.file_path)
    return deletes


def local_path(uri: str) -> str:
    """The path of a ``file://`` URI (or plain path); other schemes are refused."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return parsed.path
    raise ValueError(f"{uri}: only local warehouses can be read yet")
