"""The backup archive format: one gzip-compressed tar whose first member is ``manifest.json``.

::

    manifest.json                          what follows, with each member's size and SHA-256
    database/headwater.db                  SQLite: an online-backup copy (rollback journal mode)
    database/headwater.pgdump              PostgreSQL: ``pg_dump --format=custom`` of one schema
    tables/<layer.table>/<path>            each file the copied catalog's tables need, at
                                           ``<path>`` under the table's location

The manifest comes first so that a restore knows what it will write, and where, before it
writes anything, and can check each member while it streams past (see ``docs/backup.md``).
gzip rather than zstd: it is in the standard library, and most bytes are Parquet files that
are compressed already, so a stronger codec would gain little.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import orjson

from headwater import audit
from headwater.errors import BadRequestError, HeadwaterError

FORMAT = "headwater-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/headwater.db"
PG_DUMP_MEMBER = "database/headwater.pgdump"
TABLES_PREFIX = "tables/"
CHUNK = 1 << 20
# gzip level 6 (zlib's default) instead of tarfile's 9. On the demo store (14 MB, most of it
# the SQLite copy) level 9 took twice as long for 0.2 % less; level 1 a third less time for
# 1.7 % more. Parquet files, compressed already, shrink by under 10 % at any level.
COMPRESSLEVEL = 6
# The manifest's own SHA-256, in its tar header (a PAX record): the manifest lists every
# other member's checksum but cannot list its own.
MANIFEST_DIGEST = "HEADWATER.sha256"

Progress = Callable[[str, int, int | None], None]
"""Told ``(stage, bytes done, bytes in all or None if unknown)`` as long work advances."""


def no_progress(_stage: str, _done: int, _total: int | None) -> None:
    return None


def counter(progress: Progress, stage: str, total: int | None) -> Callable[[int], None]:
    """A callback told each increment of ``stage``, reporting the running sum."""
    done = 0
    progress(stage, 0, total)

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress(stage, done, total)

    return advance


class BackupError(HeadwaterError):
    """A backup or restore could not be done (a tool is missing, the store is damaged...)."""


class ArchiveError(BackupError):
    """The archive is damaged or is not a headwater backup; ``member`` names where."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(f"{member}: {message}")
        self.member = member


class RestoreRefusedError(BadRequestError):
    """The restore target is not empty (or otherwise unusable); ``field`` names which."""


class MemberKind(StrEnum):
    DATABASE = "database"
    METADATA = "metadata"
    PREVIOUS_METADATA = "previous-metadata"
    MANIFEST_LIST = "manifest-list"
    MANIFEST = "manifest"
    STATISTICS = "statistics"
    DELETES = "deletes"
    DATA = "data"


# What a verification must read back from the archive to walk a table's files; the rest
# (data and delete files) only has to be present with the right checksum.
WALKED_KINDS = {MemberKind.METADATA, MemberKind.MANIFEST_LIST, MemberKind.MANIFEST}


@dataclass(frozen=True, slots=True)
class Member:
    """One archived file: ``location`` is where a table file was (and goes back to)."""

    name: str
    kind: MemberKind
    size: int
    sha256: str
    table: str | None = None
    location: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": str(self.kind),
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.location is not None:
            data["table"] = self.table
            data["location"] = self.location
        return data


@dataclass(frozen=True, slots=True)
class ExpectedFile:
    """A data file a backup without data files expects to find at its location."""

    location: str
    size: int
    table: str

    def as_json(self) -> dict[str, Any]:
        return {"location": self.location, "size": self.size, "table": self.table}


@dataclass(frozen=True, slots=True)
class TableState:
    """A table as the copied catalog had it."""

    name: str
    location: str
    metadata_location: str
    snapshot_id: int | None
    rows: int
    snapshots: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "location": self.location,
            "metadata_location": self.metadata_location,
            "snapshot_id": self.snapshot_id,
            "rows": self.rows,
            "snapshots": self.snapshots,
        }


@dataclass(frozen=True, slots=True)
class BackupManifest:
    """What an archive holds: ``manifest.json``."""

    backup_id: str
    created_at: str
    headwater_version: str
    backend: str
    schema: str | None  # PostgreSQL: the schema that was dumped
    migration_revision: str | None
    warehouse: str
    includes_data: bool
    tables: tuple[TableState, ...]
    members: tuple[Member, ...]
    expected_files: tuple[ExpectedFile, ...]
    audit_log_size: int
    checkpoint: audit.Checkpoint

    @property
    def database_member(self) -> Member:
        return next(m for m in self.members if m.kind == MemberKind.DATABASE)

    @property
    def file_members(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.kind != MemberKind.DATABASE)

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.members)

    def summary(self) -> dict[str, Any]:
        """The facts worth an audit entry or a line of output (no file lists)."""
        return {
            "backup_id": self.backup_id,
            "created_at": self.created_at,
            "backend": self.backend,
            "migration_revision": self.migration_revision,
            "includes_data": self.includes_data,
            "tables": len(self.tables),
            "rows": sum(t.rows for t in self.tables),
            "files": len(self.file_members),
            "files_expected_at_location": len(self.expected_files),
            "bytes": self.total_bytes,
            "audit_log_size": self.audit_log_size,
            "checkpoint_tree_size": self.checkpoint.tree_size,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backup_id": self.backup_id,
            "created_at": self.created_at,
            "headwater_version": self.headwater_version,
            "backend": self.backend,
            "schema": self.schema,
            "migration_revision": self.migration_revision,
            "warehouse": self.warehouse,
            "includes_data": self.includes_data,
            "tables": [t.as_json() for t in self.tables],
            "members": [m.as_json() for m in self.members],
            "expected_files": [f.as_json() for f in self.expected_files],
            "audit": {"log_size": self.audit_log_size, "checkpoint": self.checkpoint.as_json()},
        }

    @classmethod
    def from_json(cls, data: Any) -> BackupManifest:
        """Read a manifest, naming the first missing or malformed field."""
        top = _Fields(data, MANIFEST)
        if top.text("format") != FORMAT:
            raise ArchiveError(MANIFEST, f"format is not {FORMAT!r}: not a headwater backup")
        version = top.integer("format_version")
        if version != FORMAT_VERSION:
            raise ArchiveError(
                MANIFEST,
                f"format_version {version} is not {FORMAT_VERSION}: made by another headwater "
                "version; use that version to verify or restore it",
            )
        backend = top.text("backend")
        if backend not in ("sqlite", "postgresql"):
            raise ArchiveError(f"{MANIFEST}.backend", f"unknown backend {backend!r}")
        tables = tuple(
            TableState(
                t.text("name"),
                t.text("location"),
                t.text("metadata_location"),
                t.optional_integer("snapshot_id"),
                t.integer("rows"),
                t.integer("snapshots"),
            )
            for t in top.items("tables")
        )
        members = tuple(_member(m) for m in top.items("members"))
        expected = tuple(
            ExpectedFile(f.text("location"), f.integer("size"), f.text("table"))
            for f in top.items("expected_files")
        )
        audit_fields = top.child("audit")
        try:
            checkpoint = audit.Checkpoint.from_json(
                audit_fields.raw("checkpoint"), f"{MANIFEST}.audit.checkpoint"
            )
        except BadRequestError as exc:
            raise ArchiveError(exc.field or MANIFEST, exc.message) from exc
        manifest = cls(
            backup_id=top.text("backup_id"),
            created_at=top.text("created_at"),
            headwater_version=top.text("headwater_version"),
            backend=backend,
            schema=top.optional_text("schema"),
            migration_revision=top.optional_text("migration_revision"),
            warehouse=top.text("warehouse"),
            includes_data=top.flag("includes_data"),
            tables=tables,
            members=members,
            expected_files=expected,
            audit_log_size=audit_fields.integer("log_size"),
            checkpoint=checkpoint,
        )
        _check_members(manifest)
        return manifest


def _member(fields: _Fields) -> Member:
    kind_text = fields.text("kind")
    try:
        kind = MemberKind(kind_text)
    except ValueError:
        raise ArchiveError(f"{fields.where}.kind", f"unknown kind {kind_text!r}") from None
    sha = fields.text("sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ArchiveError(f"{fields.where}.sha256", "is not a SHA-256 in hex")
    if kind == MemberKind.DATABASE:
        return Member(fields.text("name"), kind, fields.integer("size"), sha)
    return Member(
        fields.text("name"),
        kind,
        fields.integer("size"),
        sha,
        fields.text("table"),
        fields.text("location"),
    )


def _check_members(manifest: BackupManifest) -> None:
    """Every member name is unique and safe, and names the location it goes back to: a
    restore writes nowhere but under the recorded table locations."""
    database = [m for m in manifest.members if m.kind == MemberKind.DATABASE]
    wanted = SQLITE_MEMBER if manifest.backend == "sqlite" else PG_DUMP_MEMBER
    if [m.name for m in database] != [wanted]:
        raise ArchiveError(f"{MANIFEST}.members", f"must hold exactly one database, {wanted}")
    if manifest.backend == "postgresql" and not manifest.schema:
        raise ArchiveError(f"{MANIFEST}.schema", "a PostgreSQL backup must name its schema")
    locations = {t.name: t.location for t in manifest.tables}
    seen: set[str] = set()
    for member in manifest.file_members:
        if member.name in seen or member.name == MANIFEST:
            raise ArchiveError(f"{MANIFEST}.members", f"{member.name} is listed twice")
        seen.add(member.name)
        table, location = member.table or "", member.location or ""
        if table not in locations:
            raise ArchiveError(member.name, f"belongs to table {table!r}, which is not listed")
        if member_name(table, locations[table], location) != member.name:
            raise ArchiveError(
                member.name, f"does not match its location {location} under {locations[table]}"
            )


def member_name(table: str, table_location: str, location: str) -> str:
    """The archive name of a table's file: ``tables/<table>/<path under its location>``.

    Raises `BackupError` for a file outside its table's location, or a path that could
    escape it (``..``): a restore must write nowhere else.
    """
    root = table_location.rstrip("/") + "/"
    relative = location[len(root) :] if location.startswith(root) else ""
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") for part in parts) or "/" in table:
        raise BackupError(
            f"{location} is not a plain path under its table's location {table_location}; "
            "headwater backs up only files inside each table's location"
        )
    return f"{TABLES_PREFIX}{table}/{relative}"


class _Fields:
    """A JSON object whose fields are read with their type checked and named on error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ArchiveError(where, "must be a JSON object")
        self.data: dict[str, Any] = data
        self.where = where

    def raw(self, name: str) -> Any:
        if name not in self.data:
            raise ArchiveError(f"{self.where}.{name}", "is missing")
        return self.data[name]

    def _typed(self, name: str, kind: type | tuple[type, ...], label: str) -> Any:
        value = self.raw(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ArchiveError(f"{self.where}.{name}", f"must be {label}")
        return value

    def text(self, name: str) -> str:
        value: str = self._typed(name, str, "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self.raw(name) is None else self.text(name)

    def integer(self, name: str, *, signed: bool = False) -> int:
        value: int = self._typed(name, int, "an integer")
        if value < 0 and not signed:
            raise ArchiveError(f"{self.where}.{name}", "must not be negative")
        return value

    def optional_integer(self, name: str) -> int | None:
        """A signed integer or null (a snapshot id)."""
        return None if self.raw(name) is None else self.integer(name, signed=True)

    def flag(self, name: str) -> bool:
        value: bool = self._typed(name, bool, "true or false")
        return value

    def child(self, name: str) -> _Fields:
        return _Fields(self.raw(name), f"{self.where}.{name}")

    def items(self, name: str) -> list[_Fields]:
        values = self._typed(name, list, "a list")
        return [_Fields(value, f"{self.where}.{name}[{i}]") for i, value in enumerate(values)]


class HashingReader:
    """Reads a binary stream, hashing and counting what passes (for `tarfile.addfile`)."""

    def __init__(self, stream: IO[bytes], progress: Callable[[int], None] | None) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        self.bytes += len(data)
        if self.progress is not None:
            self.progress(len(data))
        return data


class HashingWriter:
    """Writes to a binary stream, hashing and counting what passes: the archive's own
    SHA-256, which the audit entry of its creation records."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.bytes += len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()


def file_sha256(stream: IO[bytes], progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return digest.hexdigest()


# What reading a damaged or truncated gzip tar raises.
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def _tar_info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


def write_archive(
    path: Path,
    manifest: BackupManifest,
    sources: Mapping[str, Path],
    progress: Callable[[int], None],
) -> tuple[int, str]:
    """Write the archive to ``path`` (through ``<path>.partial``, renamed once complete and on
    disk, so a crash never leaves a file that looks like a whole archive); its size and
    SHA-256. Each member is hashed again as it is copied: a file that changed since the
    manifest was made is refused rather than archived under a wrong checksum."""
    partial = path.with_name(f"{path.name}.partial")
    mtime = datetime.fromisoformat(manifest.created_at).timestamp()
    document = orjson.dumps(manifest.as_json(), option=orjson.OPT_INDENT_2)
    try:
        with partial.open("wb") as raw:
            out = HashingWriter(raw)
            with tarfile.open(
                fileobj=cast("IO[bytes]", out),  # tarfile only writes to it, through gzip
                mode="w:gz",
                compresslevel=COMPRESSLEVEL,
                format=tarfile.PAX_FORMAT,
            ) as tar:
                info = _tar_info(MANIFEST, len(document), mtime)
                info.pax_headers = {MANIFEST_DIGEST: hashlib.sha256(document).hexdigest()}
                tar.addfile(info, io.BytesIO(document))
                for member in manifest.members:
                    with open_source(sources[member.name], member.location) as stream:
                        reader = HashingReader(stream, progress)
                        tar.addfile(_tar_info(member.name, member.size, mtime), reader)
                    if reader.digest.hexdigest() != member.sha256:
                        raise BackupError(
                            f"{member.location or member.name} changed while it was being "
                            "backed up: Iceberg files are never rewritten, so something outside "
                            "headwater changed it; back up again"
                        )
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return out.bytes, out.digest.hexdigest()


def removed_while_copying(location: str) -> BackupError:
    return BackupError(
        f"{location} was removed while the backup ran (a snapshot expiry or an orphan "
        "clean-up at the same time?); back up again"
    )


def open_source(path: Path, location: str | None) -> IO[bytes]:
    """Open a file to archive; one removed since the catalog was copied is a `BackupError`."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise removed_while_copying(location or str(path)) from None


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class MemberStream:
    """One member as it streams past: read it (or not), then `finish` checks its size and
    checksum against the manifest."""

    def __init__(
        self,
        member: Member,
        stream: IO[bytes],
        tar_size: int,
        report: Report,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.member = member
        self._stream = stream
        self._tar_size = tar_size
        self._report = report
        self._progress = progress
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.ok: bool | None = None  # once finished: whether size and checksum matched

    def read(self, size: int = CHUNK) -> bytes:
        try:
            data = self._stream.read(size)
        except READ_ERRORS as exc:
            raise ArchiveError(
                self.member.name, f"the archive is truncated or damaged inside this member ({exc})"
            ) from exc
        self._digest.update(data)
        self._bytes += len(data)
        if self._progress is not None:
            self._progress(len(data))
        return data

    def finish(self) -> bool:
        """Read what is left and check the member; False (reported) if it does not match."""
        if self.ok is not None:
            return self.ok
        while self.read():
            pass
        self.ok = False
        if self._tar_size != self.member.size or self._bytes != self.member.size:
            self._report(
                self.member.name, f"is {self._bytes} bytes, the manifest says {self.member.size}"
            )
        elif self._digest.hexdigest() != self.member.sha256:
            self._report(
                self.member.name, "checksum does not match the manifest: changed or damaged"
            )
        else:
            self.ok = True
        return self.ok


Report = Callable[[str, str], None]
"""Told ``(member or field, message)`` of each problem an archive reader finds."""


def raise_problem(where: str, message: str) -> None:
    raise ArchiveError(where, message)


class ArchiveReader:
    """Streams an archive once, front to back: `manifest` first, then `members`, each
    checked against it; `sha256` is the whole file's once the members have been read.

    ``report`` decides what a mismatch does: raise (a restore) or collect (a verification).
    A truncated or unreadable archive always raises `ArchiveError`, naming the member it
    was in or the last one read.
    """

    def __init__(self, path: Path, report: Report = raise_problem) -> None:
        self.path = path
        self._report = report
        self._raw = path.open("rb")
        self._hashing = HashingReader(self._raw, progress=None)
        # Told the bytes of members as they are read; set once the manifest gives the total.
        self.progress: Callable[[int], None] | None = None
        try:
            try:
                # A stream ("r|"), read once front to back: no seeking, nothing held in memory.
                self._tar = tarfile.open(fileobj=cast("IO[bytes]", self._hashing), mode="r|gz")  # noqa: SIM115
            except READ_ERRORS as exc:
                raise ArchiveError(
                    MANIFEST, f"not a headwater backup (not a gzip tar: {exc})"
                ) from exc
            self.manifest = self._read_manifest()
        except BaseException:
            self._raw.close()
            raise
        self.good: set[str] = set()  # members read whose size and checksum matched

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._raw.close()

    def _read_manifest(self) -> BackupManifest:
        try:
            info = self._tar.next()
            if info is None or info.name != MANIFEST:
                raise ArchiveError(
                    MANIFEST, "is not the archive's first member: not a headwater backup"
                )
            stream = self._tar.extractfile(info)
            document = stream.read() if stream is not None else b""
        except READ_ERRORS as exc:
            raise ArchiveError(MANIFEST, f"cannot be read: not a headwater backup ({exc})") from exc
        digest = info.pax_headers.get(MANIFEST_DIGEST)
        if digest != hashlib.sha256(document).hexdigest():
            raise ArchiveError(MANIFEST, "checksum does not match: changed or damaged")
        try:
            data = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(MANIFEST, f"is not JSON: {exc}") from exc
        return BackupManifest.from_json(data)

    def members(self) -> Iterator[MemberStream]:
        """Each member in archive order; a member the manifest does not list, or lists but
        the archive lacks, is reported."""
        listed = {m.name: m for m in self.manifest.members}
        done: set[str] = set()
        last = MANIFEST
        while True:
            try:
                info = self._tar.next()
            except READ_ERRORS as exc:
                raise ArchiveError(
                    last, f"the archive is truncated or damaged after this member ({exc})"
                ) from exc
            if info is None:
                break
            member = listed.get(info.name)
            stream = self._tar.extractfile(info) if info.isfile() else None
            if member is None or stream is None:
                self._report(info.name, "is not a file the manifest lists")
                continue
            if info.name in done:
                self._report(info.name, "is in the archive twice")
                continue
            checked = MemberStream(member, stream, info.size, self._report, self.progress)
            yield checked
            if checked.finish():
                self.good.add(member.name)
            done.add(member.name)
            last = member.name
        for member in self.manifest.members:
            if member.name not in done:
                self._report(member.name, "is listed in the manifest but missing from the archive")
        # The rest of the file (tar padding, gzip trailer), so that `sha256` covers all of it.
        while self._hashing.read(CHUNK):
            pass

    @property
    def sha256(self) -> str:
        return self._hashing.digest.hexdigest()
