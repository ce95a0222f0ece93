"""Backup and restore of a whole store: the metadata DB, the Iceberg catalog and its files.

**Consistency.** The catalog lives in the metadata DB, so one copy of the DB is one
consistent state of everything: lineage, audit, pipeline state and each table's current
metadata file. The warehouse files are copied after the DB, and only those reachable from
the metadata files the *copied* catalog points at. Iceberg never rewrites a file, so a
commit that lands after the DB copy only adds files the copy does not refer to; the files
it does refer to are still there, unchanged, when they are read (expiry and orphan removal
of files the copy needs, while the backup runs, are the one race: `write_archive` then
fails rather than archive a gap).

**Audit.** A fresh signed checkpoint is stored before the copy, so the copy holds a
checkpoint covering its log. The ``backup.create`` entry is written after the archive is
complete, not before the copy: it records the archive's SHA-256, which exists only then,
and a backup that fails leaves no entry claiming it exists. A restored store's log therefore
ends where the copy was taken; its ``backup.restore`` entry names the archive.

See ``docs/backup.md``.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from headwater import __version__, audit
from headwater.config import Settings
from headwater.db import Database, ensure_migrated
from headwater.errors import BadRequestError
from headwater.lake import local_path, warehouse_uri
from headwater.ops.backup_archive import (
    PG_DUMP_MEMBER,
    SQLITE_MEMBER,
    WALKED_KINDS,
    ArchiveError,
    ArchiveReader,
    BackupError,
    BackupManifest,
    ExpectedFile,
    Member,
    MemberKind,
    Progress,
    counter,
    file_sha256,
    member_name,
    no_progress,
    open_source,
    removed_while_copying,
    write_archive,
)
from headwater.ops.backup_database import (
    StoreState,
    copy_sqlite,
    dump_state_database,
    read_state,
    sqlite_integrity,
    sqlite_reader,
)
from headwater.ops.backup_files import LocalIO, MissingFileError, TableWalk, walk_table
from headwater.ops.backup_pg import dump_schema, list_dump
from headwater.ops.backup_restore import RestoreResult, restore_backup

__all__ = [
    "BackupResult",
    "Problem",
    "RestoreResult",
    "VerifyResult",
    "create_backup",
    "restore_backup",
    "verify_backup",
]


def live_path(location: str) -> Path:
    """The local path of a warehouse file; object storage is refused, naming the file."""
    try:
        return Path(local_path(location))
    except ValueError:
        raise BackupError(
            f"{location}: only a local warehouse (file://) can be backed up yet; for object "
            "storage use the bucket's own versioning or replication (docs/backup.md)"
        ) from None


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A backup written: its manifest, and the archive's size and SHA-256 (the
    ``backup.create`` audit entry records them too)."""

    manifest: BackupManifest
    path: Path
    bytes: int
    sha256: str
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "archive": str(self.path),
            "archive_bytes": self.bytes,
            "archive_sha256": self.sha256,
            "seconds": round(self.seconds, 3),
            **self.manifest.summary(),
        }


@dataclass(frozen=True, slots=True)
class _DatabaseCopy:
    path: Path
    member: str
    schema: str | None
    state: StoreState


def _copy_database(database: Database, scratch: Path) -> _DatabaseCopy:
    if database.backend == "sqlite":
        source = make_url(database.url).database
        if not source or source == ":memory:":
            raise BadRequestError("an in-memory database cannot be backed up", "database_url")
        copy = scratch / "headwater.db"
        copy_sqlite(Path(source), copy)
        with sqlite_reader(copy) as engine, engine.connect() as connection:
            return _DatabaseCopy(copy, SQLITE_MEMBER, None, read_state(connection))
    copy = scratch / "headwater.pgdump"
    with database.write_engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # The facts are read in the very snapshot pg_dump copies: one moment for both.
            snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            schema = str(connection.execute(text("SELECT current_schema()")).scalar_one())
            state = read_state(connection)
            dump_schema(database.url, schema, snapshot, copy)
    return _DatabaseCopy(copy, PG_DUMP_MEMBER, schema, state)


def _missing(table: str, location: str) -> BackupError:
    return BackupError(
        f"table {table} needs {location}, which is not in the warehouse: the table is damaged "
        "(restore it from an earlier backup), or an expiry removed it while the backup ran "
        "(back up again)"
    )


def _walk_tables(state: StoreState) -> list[TableWalk]:
    io = LocalIO(live_path)
    walks = []
    for name, location in state.tables:
        try:
            walks.append(walk_table(name, location, io))
        except MissingFileError as exc:
            raise _missing(name, exc.location) from exc
    return walks


@dataclass(frozen=True, slots=True)
class _Planned:
    """A file to archive: its member name, and where it is now."""

    name: str
    kind: MemberKind
    table: str | None
    location: str | None
    path: Path


def _plan_members(
    copy: _DatabaseCopy, walks: list[TableWalk], include_data: bool
) -> tuple[list[_Planned], list[ExpectedFile]]:
    """Every file to archive, the database copy first; and the data files left out."""
    archived = [_Planned(copy.member, MemberKind.DATABASE, None, None, copy.path)]
    expected: list[ExpectedFile] = []
    for walk in walks:
        state = walk.state
        for wanted in walk.files:
            path = live_path(wanted.location)
            if wanted.kind == MemberKind.PREVIOUS_METADATA and not path.is_file():
                continue  # earlier metadata files may be cleaned up; no read needs them
            if not path.is_file():
                raise _missing(state.name, wanted.location)
            if wanted.kind == MemberKind.DATA and not include_data:
                size = _size(path, wanted.location)
                expected.append(ExpectedFile(wanted.location, size, state.name))
                continue
            name = member_name(state.name, state.location, wanted.location)
            archived.append(_Planned(name, wanted.kind, state.name, wanted.location, path))
    return archived, expected


def _size(path: Path, location: str) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise removed_while_copying(location) from None


def _checksummed(planned: list[_Planned], progress: Progress) -> list[Member]:
    """The manifest's entry of each file: its size and SHA-256, read now (and checked again
    as it is archived)."""
    total = sum(_size(p.path, p.location or p.name) for p in planned)
    advance = counter(progress, "checksumming", total)
    members = []
    for plan in planned:
        with open_source(plan.path, plan.location) as stream:
            size = os.fstat(stream.fileno()).st_size
            digest = file_sha256(stream, advance)
        members.append(Member(plan.name, plan.kind, size, digest, plan.table, plan.location))
    return members


def create_backup(
    settings: Settings,
    path: Path,
    *,
    include_data: bool,
    progress: Progress | None = None,
    actor: str = "headwater",
) -> BackupResult:
    """Write one archive of the store ``settings`` name: a consistent copy of the metadata
    DB, every metadata file its catalog needs and, with ``include_data``, the data files.

    Raises `BadRequestError` if ``path`` exists, `BackupError` (or a subclass) if the
    store cannot be copied; never leaves a partial archive at ``path``.
    """
    started = time.monotonic()
    report = progress or no_progress
    path = path.expanduser().absolute()
    if path.exists():
        raise BadRequestError(f"{path} exists already; choose another name", "PATH")
    database = Database(settings.resolved_database_url)
    try:
        ensure_migrated(database)
        configured = settings.audit_signing_key
        key = audit.load_signing_key(
            configured.get_secret_value() if configured else None, settings.home
        )
        with database.write() as connection:
            checkpoint = audit.checkpoint_now(connection, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".headwater-backup-", dir=path.parent) as tmp:
            copied_at = datetime.now(UTC).isoformat(timespec="seconds")
            report("copying database", 0, None)
            copy = _copy_database(database, Path(tmp))
            report("copying database", 1, 1)
            walks = _walk_tables(copy.state)
            planned, expected = _plan_members(copy, walks, include_data)
            members = _checksummed(planned, report)
            manifest = BackupManifest(
                backup_id=uuid.uuid4().hex,
                created_at=copied_at,
                headwater_version=__version__,
                backend=database.backend,
                schema=copy.schema,
                migration_revision=copy.state.revision,
                warehouse=warehouse_uri(settings.resolved_warehouse()),
                includes_data=include_data,
                tables=tuple(walk.state for walk in walks),
                members=tuple(members),
                expected_files=tuple(expected),
                audit_log_size=copy.state.log_size,
                checkpoint=checkpoint,
            )
            written = counter(report, "writing archive", manifest.total_bytes)
            sources = {plan.name: plan.path for plan in planned}
            size, sha256 = write_archive(path, manifest, sources, written)
        details = {**manifest.summary(), "archive": path.name, "archive_bytes": size}
        details["archive_sha256"] = sha256
        with database.write() as connection:
            audit.append(
                connection,
                audit.AuditRecord("backup.create", f"backup:{path.name}", actor, details),
            )
    finally:
        database.dispose()
    return BackupResult(manifest, path, size, sha256, time.monotonic() - started)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with an archive: ``where`` is the member or manifest field."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class VerifyResult:
    """What `verify_backup` checked and found; ``ok`` when nothing is wrong."""

    path: Path
    archive_bytes: int
    archive_sha256: str | None = None
    manifest: BackupManifest | None = None
    members_checked: int = 0
    files_expected: int = 0
    files_expected_missing: list[str] = field(default_factory=list)
    audit: audit.VerifyReport | None = None
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def audit_tampered(self) -> bool:
        """The archived audit log does not verify (the CLI's exit status 3)."""
        return self.audit is not None and not self.audit.ok

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "archive": str(self.path),
            "archive_bytes": self.archive_bytes,
            "archive_sha256": self.archive_sha256,
            "manifest": self.manifest.summary() if self.manifest else None,
            "members_checked": self.members_checked,
            "files_expected_at_location": self.files_expected,
            "files_expected_missing": self.files_expected_missing,
            "audit": self.audit.as_json() if self.audit else None,
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
            "seconds": round(self.seconds, 3),
        }


def verify_backup(path: Path, *, progress: Progress | None = None) -> VerifyResult:
    """Check an archive without restoring it: every member's size and checksum against the
    manifest, that the database copy opens and agrees with the manifest, that every file the
    archived catalog's tables need is in the archive (or, for data files left out, at its
    location with its size), and that the archived audit log verifies against the backup's
    signed checkpoint.

    Raises `BadRequestError` if ``path`` is not a file; every other problem is in the result.
    """
    if not path.is_file():
        raise BadRequestError(f"{path} is not a file", "ARCHIVE")
    started = time.monotonic()
    result = VerifyResult(path, path.stat().st_size)
    try:
        _verify(path, result, progress or no_progress)
    finally:
        result.seconds = time.monotonic() - started
    return result


def _verify(path: Path, result: VerifyResult, progress: Progress) -> None:
    def problem(where: str, message: str) -> None:
        result.problems.append(Problem(where, message))

    with tempfile.TemporaryDirectory(prefix="headwater-verify-") as tmp:
        scratch = Path(tmp)
        extracted: dict[str, Path] = {}
        try:
            with ArchiveReader(path, problem) as reader:
                manifest = result.manifest = reader.manifest
                advance = counter(progress, "verifying", manifest.total_bytes)
                reader.progress = advance
                for index, stream in enumerate(reader.members()):
                    member = stream.member
                    if member.kind in WALKED_KINDS or member.kind == MemberKind.DATABASE:
                        target = scratch / str(index)
                        with target.open("wb") as out:
                            while chunk := stream.read():
                                out.write(chunk)
                        if stream.finish():  # only intact copies are read below
                            extracted[member.location or member.name] = target
                    stream.finish()
                result.members_checked = len(reader.good)
                result.archive_sha256 = reader.sha256
        except ArchiveError as exc:
            problem(exc.member, exc.message.removeprefix(f"{exc.member}: "))
            return
        copy = extracted.get(manifest.database_member.name)
        if copy is None:
            return  # reported already; nothing below can be checked without it
        checked = _check_database(manifest, copy, scratch, problem)
        if checked is None:
            return
        state, readable = checked
        _check_tables(manifest, state, extracted, result, problem)
        _check_audit(manifest, readable, result, problem)


def _check_database(
    manifest: BackupManifest, copy: Path, scratch: Path, problem: Callable[[str, str], None]
) -> tuple[StoreState, Path] | None:
    """Open the database copy and check it agrees with the manifest: its state, and a
    SQLite file holding its catalog and audit tables (the copy itself, or rows from the
    dump)."""
    member = manifest.database_member.name
    if manifest.backend == "sqlite":
        complaints = sqlite_integrity(copy)
        if complaints:
            problem(member, f"PRAGMA integrity_check: {'; '.join(complaints[:3])}")
            return None
        readable = copy
    else:
        assert manifest.schema is not None  # the manifest's own check
        try:
            list_dump(copy)
            readable = scratch / "state.db"
            dump_state_database(copy, manifest.schema, readable)
        except BackupError as exc:
            problem(member, exc.message)
            return None
    with sqlite_reader(readable) as engine, engine.connect() as connection:
        state = read_state(connection)
    if state.revision != manifest.migration_revision:
        problem(
            "manifest.json.migration_revision",
            f"is {manifest.migration_revision}, the database copy is at {state.revision}",
        )
    if state.log_size != manifest.audit_log_size:
        problem(
            "manifest.json.audit.log_size",
            f"is {manifest.audit_log_size}, the database copy's log has {state.log_size}",
        )
    listed = {t.name: t.metadata_location for t in manifest.tables}
    if listed != dict(state.tables):
        problem("manifest.json.tables", "do not match the catalog in the database copy")
    return state, readable


def _check_tables(
    manifest: BackupManifest,
    state: StoreState,
    extracted: dict[str, Path],
    result: VerifyResult,
    problem: Callable[[str, str], None],
) -> None:
    """Walk each table from the archive's own (intact) copies: every file it needs is
    archived or, for a data file left out, is at its location. An archived member that is
    damaged or missing was reported already, as itself."""

    def resolve(location: str) -> Path:
        found = extracted.get(location)
        if found is None:
            raise MissingFileError(location)
        return found

    listed = {m.location for m in manifest.file_members}
    expected = {f.location: f for f in manifest.expected_files}
    result.files_expected = len(expected)
    io = LocalIO(resolve)
    for name, location in state.tables:
        try:
            walk = walk_table(name, location, io)
        except MissingFileError as exc:
            if exc.location not in listed:
                problem(f"table {name}", f"{exc.location} is needed but not in the archive")
            continue
        for needed in walk.files:
            if needed.kind == MemberKind.PREVIOUS_METADATA or needed.location in listed:
                continue
            wanted = expected.get(needed.location)
            if needed.kind != MemberKind.DATA or manifest.includes_data or wanted is None:
                problem(f"table {name}", f"{needed.location} is needed but not in the archive")
                continue
            found = live_path(needed.location)
            if not found.is_file() or found.stat().st_size != wanted.size:
                result.files_expected_missing.append(needed.location)
                problem(
                    f"table {name}",
                    f"{needed.location} is not at its location with {wanted.size} bytes "
                    "(this backup holds no data files)",
                )


def _check_audit(
    manifest: BackupManifest,
    readable: Path,
    result: VerifyResult,
    problem: Callable[[str, str], None],
) -> None:
    copy = audit.AuditorCopy(manifest.checkpoint, source="backup's checkpoint")
    with sqlite_reader(readable) as engine, engine.connect() as connection:
        report = audit.verify_log(connection, [copy])
    result.audit = report
    if report.finding is not None:
        finding = report.finding
        problem("audit", f"the archived log is tampered with ({finding.kind}): {finding.message}")
