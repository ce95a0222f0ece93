"""Pulled source: files dropped in a folder, each landed once in its raw table.

A raw table declared with ``files:`` reads the files of a folder::

    tables:
      pos_orders:
        files:
          folder: drop/pos_orders   # relative to the project, or absolute
          format: csv               # csv | jsonl | parquet; default: each file's extension
        columns: ...

Each file is landed once, by its content (SHA-256): a file copied in again, or renamed, is
not landed twice; a changed file is a new one. A file is one Iceberg append to the table (the
declared columns, then ``_hw_file``, ``_hw_line`` and ``_hw_batch_id``) whose snapshot carries
the file's hash; after it, the file is recorded with its rejected rows, and audited, in one
database transaction. A lander killed in between is found out by the next, as for webhooks:
the snapshot names a hash the database does not know, and the file is recorded without being
written again.

Rows that do not convert go to ``ingest_file_rejects`` with their line and the reason (CSV:
the line of the file, the header being line 1; JSON lines: the line). A file that cannot be
read, or whose CSV header lacks a declared column, is refused whole, recorded as such with the
reason, and not tried again until its content changes.
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.table import Table
from sqlalchemy import Connection, select

from headwater import audit
from headwater.db import Database, named_lock
from headwater.db.schema import ingest_file_rejects, ingest_files
from headwater.errors import ConfigError
from headwater.faults import fault_point
from headwater.ingest.landing import BATCH_PROPERTY
from headwater.ingest.payloads import schema_mismatch
from headwater.ingest.raw import ProjectLike, audit_node, pull_blocks, raw_table
from headwater.lake import Lake

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
FILE_PROPERTY = "headwater.ingest.file-sha256"
FILE_COLUMNS = pa.schema(
    [
        pa.field("_hw_file", pa.string()),
        pa.field("_hw_line", pa.int64()),
        pa.field("_hw_batch_id", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class FileSource:
    table: str  # raw.<table>
    schema: pa.Schema  # the declared columns
    folder: Path
    format: Format | None  # None: by each file's extension
    namespace: str  # the project's OpenLineage namespace


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    reason: str
    content: str


@dataclass(frozen=True, slots=True)
class LandedFile:
    table: str
    path: str
    sha256: str
    status: str  # landed | refused
    rows: int
    rejected: int
    snapshot_id: int | None
    batch_id: str
    reason: str | None = None
    recovered: bool = False


def file_sources(project: ProjectLike) -> list[FileSource]:
    """The raw tables of ``project`` that read a folder; `ConfigError` names file and key."""
    found = []
    for name, table, block, key in pull_blocks(project, "files", {"folder", "format"}):
        folder = block.get("folder")
        if not isinstance(folder, str) or not folder.strip():
            raise ConfigError(f"{key}.folder", "is required: the folder to read")
        kind = block.get("format")
        if kind is not None and kind not in FORMATS:
            raise ConfigError(f"{key}.format", f"must be one of {', '.join(FORMATS)}")
        path = Path(folder)
        found.append(
            FileSource(
                table=name,
                schema=table.schema,
                folder=path if path.is_absolute() else project.root / path,
                format=kind,
                namespace=project.namespace,
            )
        )
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _convert(text: str, data_type: pa.DataType) -> Any:
    """A CSV field as ``data_type``; `ValueError` when it is not one. Empty is NULL."""
    if text == "":
        return None
    if pa.types.is_string(data_type):
        return text
    if pa.types.is_integer(data_type):
        return int(text)
    if pa.types.is_floating(data_type):
        return float(text)
    if pa.types.is_boolean(data_type):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if pa.types.is_decimal(data_type):
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise ValueError(text) from None
    if pa.types.is_date(data_type):
        return date.fromisoformat(text)
    if pa.types.is_timestamp(data_type):
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"type {data_type} cannot be read from text")


def json_value(value: Any, data_type: pa.DataType) -> Any:
    """A JSON value that `schema_mismatch` accepted, as ``data_type`` (timestamps, dates and
    decimals come as text)."""
    if value is None:
        return None
    if isinstance(value, str) and not pa.types.is_string(data_type):
        return _convert(value, data_type)
    return float(value) if pa.types.is_floating(data_type) else value


class RefusedFileError(Exception):
    """The whole file cannot be landed; the message says why."""


def _csv_rows(path: Path, schema: pa.Schema) -> Iterator[tuple[int, dict[str, Any] | Reject]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [name for name in schema.names if name not in header]
        if missing:
            raise RefusedFileError(f"the header has no column {missing[0]!r} (line 1)")
        for record in reader:
            line = reader.line_num
            if None in record:  # more fields than the header
                yield line, Reject(line, "more fields than the header", _csv_line(record))
                continue
            row: dict[str, Any] = {}
            try:
                for field in schema:
                    text = record[field.name]
                    try:
                        row[field.name] = _convert(text or "", field.type)
                    except ValueError:
                        problem = f"{field.name}: cannot read {text!r} as {field.type}"
                        raise ValueError(problem) from None
            except ValueError as exc:
                yield line, Reject(line, str(exc), _csv_line(record))
                continue
            yield line, row


def _csv_line(record: Mapping[str | None, Any]) -> str:
    out = io.StringIO()
    values = [v for k, v in record.items() if k is not None]
    extra = record.get(None) or []
    csv.writer(out).writerow([*values, *extra])
    return out.getvalue().rstrip("\r\n")


def _jsonl_rows(path: Path, schema: pa.Schema) -> Iterator[tuple[int, dict[str, Any] | Reject]]:
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text.strip():
                continue
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield line, Reject(line, "not valid JSON", text)
                continue
            if not isinstance(payload, dict):
                yield line, Reject(line, "not a JSON object", text)
                continue
            problem = schema_mismatch(payload, schema)
            if problem is None:
                try:
                    row = {f.name: json_value(payload.get(f.name), f.type) for f in schema}
                except ValueError as exc:
                    problem = f"cannot read a value: {exc}"
            if problem is not None:
                yield line, Reject(line, problem, text)
                continue
            yield line, row


def read_file(path: Path, kind: Format, schema: pa.Schema) -> tuple[pa.Table, list[Reject]]:
    """The rows of a file that convert to ``schema`` (with their line), and those that do not;
    `RefusedFileError` when the file as a whole cannot be read."""
    if kind == "parquet":
        try:
            data = pq.read_table(path)
            missing = [name for name in schema.names if name not in data.column_names]
            if missing:
                raise RefusedFileError(f"the file has no column {missing[0]!r}")
            data = data.select(schema.names).cast(schema)
        except (pa.ArrowException, OSError) as exc:
            raise RefusedFileError(f"not a readable Parquet file of these columns: {exc}") from None
        lines = pa.array(range(1, data.num_rows + 1), pa.int64())
        return data.append_column("_hw_line", lines), []
    rows: list[dict[str, Any]] = []
    lines_: list[int] = []
    rejects: list[Reject] = []
    reader = _csv_rows if kind == "csv" else _jsonl_rows
    try:
        for line, item in reader(path, schema):
            if isinstance(item, Reject):
                rejects.append(item)
            else:
                rows.append(item)
                lines_.append(line)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RefusedFileError(f"cannot be read as {kind}: {exc}") from None
    columns = {f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}
    columns["_hw_line"] = pa.array(lines_, pa.int64())
    return pa.table(columns), rejects


def _known(connection: Connection, table: str) -> set[str]:
    query = select(ingest_files.c.sha256).where(ingest_files.c.table_name == table)
    return set(connection.execute(query).scalars())


def _committed(table: Table) -> dict[str, tuple[int, str]]:
    """sha256 -> (snapshot id, batch id) of every file landing commit in the table's history."""
    found = {}
    for snapshot in table.metadata.snapshots:
        properties = snapshot.summary.additional_properties if snapshot.summary else {}
        digest = properties.get(FILE_PROPERTY)
        if digest:
            found[digest] = (snapshot.snapshot_id, properties.get(BATCH_PROPERTY, ""))
    return found


def _record(
    connection: Connection, landed: LandedFile, rejects: list[Reject], actor: str, node: str
) -> None:
    file_id = connection.execute(
        ingest_files.insert().returning(ingest_files.c.id),
        {
            "table_name": landed.table,
            "path": landed.path,
            "sha256": landed.sha256,
            "status": landed.status,
            "rows": landed.rows,
            "rejected": landed.rejected,
            "snapshot_id": landed.snapshot_id,
            "reason": landed.reason,
            "landed_at": datetime.now(UTC),
        },
    ).scalar_one()
    if rejects:
        connection.execute(
            ingest_file_rejects.insert(),
            [
                {"file_id": file_id, "line": r.line, "reason": r.reason, "content": r.content}
                for r in rejects
            ],
        )
    details = {
        "table": landed.table,
        "file": landed.path,
        "sha256": landed.sha256,
        "status": landed.status,
        "rows": landed.rows,
        "rejected": landed.rejected,
        "snapshot": landed.snapshot_id,
        "reason": landed.reason,
        "recovered": landed.recovered,
    }
    action = "ingest.file.refuse" if landed.status == "refused" else "ingest.file.land"
    refs = [f"run:{landed.batch_id}"]
    audit.append(connection, audit.AuditRecord(action, node, actor, details, refs))


def _format_of(source: FileSource, path: Path) -> Format | None:
    return source.format or _EXTENSIONS.get(path.suffix.lower())


def land_files(
    database: Database, lake: Lake, source: FileSource, *, actor: str
) -> list[LandedFile] | None:
    """Land every new file of the source's folder, oldest name first; None when another
    process is landing this table."""
    with named_lock(database, f"headwater.ingest.files:{source.table}") as held:
        if not held:
            return None
        if not source.folder.is_dir():
            raise ConfigError(f"{source.table} files.folder", f"{source.folder} is not a folder")
        table = raw_table(lake, source.table, pa.schema([*source.schema, *FILE_COLUMNS]))
        node = audit_node(table)
        with database.read() as connection:
            known = _known(connection, source.table)
        committed = _committed(table)
        landed: list[LandedFile] = []
        for path in sorted(p for p in source.folder.iterdir() if p.is_file()):
            kind = _format_of(source, path)
            if kind is None or path.name.startswith("."):
                continue  # not a data file (or one still being written, by convention)
            digest = _sha256(path)
            if digest in known:
                continue
            known.add(digest)
            landed.append(
                _land_one(database, lake, source, table, path, kind, digest, committed, actor, node)
            )
            table = lake.load(source.table) or table
        return landed


def _land_one(
    database: Database,
    lake: Lake,
    source: FileSource,
    table: Table,
    path: Path,
    kind: Format,
    digest: str,
    committed: Mapping[str, tuple[int, str]],
    actor: str,
    node: str,
) -> LandedFile:
    snapshot_id, batch_id = committed.get(digest, (None, str(uuid.uuid4())))
    shown = str(path)
    try:
        data, rejects = read_file(path, kind, source.schema)
    except RefusedFileError as exc:
        refused = LandedFile(source.table, shown, digest, "refused", 0, 0, None, batch_id, str(exc))
        with database.write() as connection:
            _record(connection, refused, [], actor, node)
        return refused
    recovered = snapshot_id is not None
    if snapshot_id is None:
        data = data.append_column("_hw_file", pa.array([shown] * data.num_rows, pa.string()))
        data = data.append_column("_hw_batch_id", pa.array([batch_id] * data.num_rows, pa.string()))
        ordered = data.select([*source.schema.names, *FILE_COLUMNS.names])
        fault_point("before-append", f"ingest:{source.table}")
        lake.append(
            table,
            ordered.cast(pa.schema([*source.schema, *FILE_COLUMNS])),
            {
                FILE_PROPERTY: digest,
                "headwater.ingest.file": shown,
                BATCH_PROPERTY: batch_id,
            },
        )
        fault_point("after-append", f"ingest:{source.table}")
        current = table.current_snapshot()
        assert current is not None
        snapshot_id = current.snapshot_id
    result = LandedFile(
        source.table,
        shown,
        digest,
        "landed",
        data.num_rows,
        len(rejects),
        snapshot_id,
        batch_id,
        recovered=recovered,
    )
    with database.write() as connection:
        _record(connection, result, rejects, actor, node)
    return result
