"""Backup and restore of a whole store, on both backends: a round trip leaves every table and
API answer as it was; verification catches damage; a restore refuses a target that is not
empty, and one killed halfway is cleaned up by the next."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import signal
import tarfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from headwater.config import Settings, load_settings
from headwater.db import Database
from headwater.db.schema import audit_log
from headwater.faults import FAULT_VARIABLE
from headwater.lake import Lake
from headwater.ops.backup import create_backup, restore_backup, verify_backup
from headwater.ops.backup_archive import (
    MANIFEST,
    MANIFEST_DIGEST,
    ArchiveReader,
    MemberKind,
    RestoreRefusedError,
)
from headwater.server import create_app
from tests.conftest import PG_URL, Backend, reference_events
from tests.pipeline.projects import append_orders, delivered_project, orders, run_project
from tests.test_cli import headwater

API = "/api/v1"


@dataclass
class Store:
    """A store with history: two pipeline runs (merges leave position deletes) and lineage
    events from outside producers."""

    backend: Backend
    settings: Settings
    warehouse: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "HEADWATER_DATABASE_URL": self.backend.url,
            "HEADWATER_HOME": str(self.home),
            "HEADWATER_WAREHOUSE": str(self.warehouse),
        }


@pytest.fixture
def store(backend: Backend, database: Database, tmp_path: Path) -> Iterator[Store]:
    warehouse = tmp_path / "warehouse"
    lake = Lake(database.url, warehouse)
    project = delivered_project(tmp_path / "project", lake, count=20)
    assert run_project(project, database, lake).status == "COMPLETED"
    append_orders(lake, orders(0, 5, amount="999"))  # re-deliveries: the merge deletes rows
    append_orders(lake, orders(20, 10))
    assert run_project(project, database, lake).status == "COMPLETED"
    staging = lake.load("staging.stg_orders")
    assert staging is not None and staging.current_snapshot() is not None
    summary = staging.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and int(summary.get("total-delete-files", "0")) > 0
    lake.close()
    home = tmp_path / "home"
    settings = load_settings(database_url=backend.url, home=home, warehouse=str(warehouse))
    with TestClient(create_app(settings, database)) as client:
        for folder in ("openlineage-compat/simple_run_event", "openlineage-compat/CLL/events"):
            for _, event in reference_events(folder):
                assert client.post(f"{API}/lineage", json=event).status_code == 201
    yield Store(backend, settings, warehouse, home)


@dataclass
class Target:
    url: str
    home: Path
    warehouse: Path

    @property
    def settings(self) -> Settings:
        return load_settings(database_url=self.url, home=self.home, warehouse=str(self.warehouse))

    @property
    def env(self) -> dict[str, str]:
        return {
            "HEADWATER_DATABASE_URL": self.url,
            "HEADWATER_HOME": str(self.home),
            "HEADWATER_WAREHOUSE": str(self.warehouse),
        }


def source_schema(backend: Backend) -> str:
    options = make_url(backend.url).query["options"]
    assert isinstance(options, str)
    return options.removeprefix("-csearch_path=")


@contextmanager
def empty_target(store: Store, tmp_path: Path, schema: str | None = None) -> Iterator[Target]:
    """A new empty database for a restore: a SQLite file that does not exist yet, or a new
    PostgreSQL database (dropped afterwards) whose search path names ``schema`` (default: the
    source's schema)."""
    home = tmp_path / f"restored-{uuid.uuid4().hex[:6]}"
    if store.backend.name == "sqlite":
        yield Target(f"sqlite:///{home / 'headwater.db'}", home, store.warehouse)
        return
    name = f"hw_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name)
    url = url.update_query_dict(
        {"options": f"-csearch_path={schema or source_schema(store.backend)}"}
    )
    try:
        yield Target(url.render_as_string(hide_password=False), home, store.warehouse)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def table_state(url: str, warehouse: Path) -> dict[str, Any]:
    """Every table's snapshot list, rows now and rows at its first snapshot."""
    lake = Lake(url, warehouse)
    try:
        state: dict[str, Any] = {}
        for name in lake.table_names():
            table = lake.load(name)
            assert table is not None
            snapshots = table.snapshots()
            first = table.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow().to_pylist()
            state[name] = {
                "snapshots": [
                    (s.snapshot_id, s.parent_snapshot_id, s.timestamp_ms, s.manifest_list)
                    for s in snapshots
                ],
                "current": table.current_snapshot().snapshot_id,  # type: ignore[union-attr]
                "rows": sorted(map(repr, table.scan().to_arrow().to_pylist())),
                "first": sorted(map(repr, first)),
            }
        return state
    finally:
        lake.close()


def api_answers(settings: Settings, before: datetime) -> dict[str, Any]:
    """The read API's answers about everything in the store (audit: entries before
    ``before``, so that the backup's and the restore's own entries are left out)."""
    database = Database(settings.resolved_database_url)
    answers: dict[str, Any] = {}
    try:
        with TestClient(create_app(settings, database)) as client:

            def get(path: str, **params: Any) -> Any:
                response = client.get(path, params=params)
                assert response.status_code == 200, (path, response.text)
                answers[f"{path} {sorted(params.items())}"] = response.json()
                return response.json()

            namespaces = get(f"{API}/namespaces")["namespaces"]
            assert len(namespaces) >= 3
            for namespace in namespaces:
                ns = quote(namespace["name"], safe="")
                for job in get(f"{API}/namespaces/{ns}/jobs")["jobs"]:
                    get(f"{API}/namespaces/{ns}/jobs/{quote(job['name'], safe='')}/runs")
                for dataset in get(f"{API}/namespaces/{ns}/datasets")["datasets"]:
                    get(f"{API}/namespaces/{ns}/datasets/{quote(dataset['name'], safe='')}")
                    node = f"dataset:{namespace['name']}:{dataset['name']}"
                    get(f"{API}/lineage", nodeId=node, depth=5)
            get(f"{API}/events/lineage", limit=200)
            log = get(f"{API}/audit", limit=1000, before=before.isoformat())
            assert log["totalCount"] > 10
    finally:
        database.dispose()
    return answers


def test_a_round_trip_restores_every_table_and_api_answer(store: Store, tmp_path: Path) -> None:
    before_backup = datetime.now(UTC)
    tables = table_state(store.backend.url, store.warehouse)
    assert len(tables) == 4
    archive = tmp_path / "backups" / "store.tar.gz"
    created = headwater("backup", "create", str(archive), "--json", env=store.env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    summary = json.loads(created.stdout)
    assert summary["includes_data"] is True and summary["tables"] == 4
    answers = api_answers(store.settings, before_backup)
    assert len(answers) > 30  # namespaces, jobs, runs, datasets, lineage graphs, events, audit
    assert verify_backup(archive).ok

    shutil.rmtree(store.warehouse)  # the restore puts every file back where it was
    with empty_target(store, tmp_path, schema="restored") as target:
        restored = headwater(
            "backup", "restore", str(archive), "--json", env=target.env, cwd=tmp_path
        )
        assert restored.returncode == 0, restored.stderr
        report = json.loads(restored.stdout)
        assert report["migrations"]["ok"] is True and report["audit"]["ok"] is True
        assert report["files_written"] == summary["files"]

        assert table_state(target.url, target.warehouse) == tables
        assert api_answers(target.settings, before_backup) == answers
        verified = headwater("audit", "verify", env=target.env, cwd=tmp_path)
        assert verified.returncode == 0, verified.stderr
        assert "audit log intact" in verified.stdout
        restored_db = Database(target.url)
        with restored_db.read() as connection:
            last = connection.execute(
                select(audit_log.c.action, audit_log.c.target).order_by(audit_log.c.seq.desc())
            ).first()
        restored_db.dispose()
        assert last is not None and tuple(last) == ("backup.restore", "backup:store.tar.gz")


def test_a_commit_after_the_database_copy_is_left_out_and_the_archive_stays_whole(
    store: Store, tmp_path: Path
) -> None:
    """The files archived are those the *copied* catalog needs: a commit landing after the
    copy (here: while the files are being read) adds files the copy does not refer to."""
    lake = Lake(store.backend.url, store.warehouse)
    committed: list[int] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage == "checksumming" and not committed:
            committed.append(append_orders(lake, orders(100, 5)))

    archive = tmp_path / "during-a-commit.tar.gz"
    try:
        manifest = create_backup(
            store.settings, archive, include_data=True, progress=progress
        ).manifest
        live = lake.load("raw.orders")
        assert live is not None
    finally:
        lake.close()
    current = live.current_snapshot()
    assert current is not None and current.snapshot_id == committed[0]
    archived = next(t for t in manifest.tables if t.name == "raw.orders")
    assert archived.snapshot_id == current.parent_snapshot_id
    assert archived.metadata_location != live.metadata_location
    locations = {m.location for m in manifest.file_members}
    assert live.metadata_location not in locations and current.manifest_list not in locations
    assert verify_backup(archive).ok


def data_files(store: Store) -> list[Path]:
    return sorted(
        p for p in store.warehouse.rglob("*.parquet") if not p.name.endswith("-deletes.parquet")
    )


def test_a_backup_without_data_files_restores_where_they_still_are(
    store: Store, tmp_path: Path
) -> None:
    tables = table_state(store.backend.url, store.warehouse)
    archive = tmp_path / "metadata-only.tar.gz"
    result = create_backup(store.settings, archive, include_data=False)
    manifest = result.manifest
    assert not any(m.kind == MemberKind.DATA for m in manifest.members)
    assert any(m.kind == MemberKind.DELETES for m in manifest.members)  # table state
    assert {f.location.removeprefix("file://") for f in manifest.expected_files} == {
        str(p) for p in data_files(store)
    }
    verified = verify_backup(archive)
    assert verified.ok, verified.problems
    assert verified.files_expected == len(manifest.expected_files) > 0

    # The database is lost; the warehouse is intact. Its files are the archive's, or the
    # data it expects: the restore writes the database and leaves the files as they are.
    with empty_target(store, tmp_path) as target:
        restored = restore_backup(archive, target.settings)
        assert restored.files_written == 0
        assert restored.files_in_place == len(manifest.file_members)
        assert restored.audit.ok and restored.migrations_ok
        assert table_state(target.url, target.warehouse) == tables

    missing = data_files(store)[0]
    missing.unlink()
    damaged = verify_backup(archive)
    assert not damaged.ok
    assert damaged.files_expected_missing == [missing.as_uri()]
    assert str(missing) in str(damaged.problems[0])
    with empty_target(store, tmp_path) as target, pytest.raises(RestoreRefusedError) as refused:
        restore_backup(archive, target.settings)
    assert str(missing) in refused.value.message and "HEADWATER_WAREHOUSE" in refused.value.message


def rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy an archive member by member; ``change`` returns a member's new content, or None
    to leave it out."""
    with (
        tarfile.open(source, "r:gz") as old,
        tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as new,
    ):
        for info in old:
            stream = old.extractfile(info)
            assert stream is not None
            changed = change(info.name, stream.read())
            if changed is None:
                continue
            if info.name == MANIFEST:
                info.pax_headers = {MANIFEST_DIGEST: hashlib.sha256(changed).hexdigest()}
            info.size = len(changed)
            new.addfile(info, io.BytesIO(changed))


def flip_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_verify_names_the_member_that_is_damaged_missing_or_cut_short(
    store: Store, tmp_path: Path
) -> None:
    archive = tmp_path / "good.tar.gz"
    manifest = create_backup(store.settings, archive, include_data=True).manifest
    assert verify_backup(archive).ok
    data_member = next(m.name for m in manifest.members if m.kind == MemberKind.DATA)
    database_member = manifest.database_member.name

    for name in (data_member, database_member):
        flipped = tmp_path / "flipped.tar.gz"
        rewrite(
            archive, flipped, lambda member, data, n=name: flip_byte(data) if member == n else data
        )
        result = verify_backup(flipped)
        assert [p.where for p in result.problems] == [name]
        assert "checksum does not match" in result.problems[0].message

    missing = tmp_path / "missing.tar.gz"
    rewrite(archive, missing, lambda member, data: None if member == data_member else data)
    result = verify_backup(missing)
    assert data_member in [p.where for p in result.problems]
    assert "missing from the archive" in str(result.problems)

    truncated = tmp_path / "truncated.tar.gz"
    raw = archive.read_bytes()
    truncated.write_bytes(raw[: len(raw) * 2 // 3])
    result = verify_backup(truncated)
    assert not result.ok
    names = {m.name for m in manifest.members} | {MANIFEST}
    assert result.problems[-1].where in names and "truncated" in result.problems[-1].message

    command = headwater("backup", "verify", str(flipped), env=store.env, cwd=tmp_path)
    assert command.returncode == 1
    assert database_member in command.stderr and "NOT OK" in command.stderr


def test_verify_finds_a_tampered_audit_log_inside_a_resealed_archive(
    store: Store, database: Database, tmp_path: Path
) -> None:
    """Someone rewrote an audit entry in the database copy and fixed up the checksums: the
    archive is consistent, but its log does not match the signed checkpoint."""
    archive = tmp_path / "good.tar.gz"
    manifest = create_backup(store.settings, archive, include_data=False).manifest
    with database.read() as connection:
        entry_hash = connection.execute(
            select(audit_log.c.hash).where(audit_log.c.seq == 3)
        ).scalar_one()
    forged = entry_hash[:-1] + ("0" if entry_hash[-1] != "0" else "1")
    database_member = manifest.database_member.name
    digests: dict[str, str] = {}

    def tamper(member: str, data: bytes) -> bytes:
        if member == MANIFEST:
            document = orjson.loads(data)
            for listed in document["members"]:
                listed["sha256"] = digests.get(listed["name"], listed["sha256"])
            return orjson.dumps(document)
        if member == database_member:
            assert entry_hash.encode() in data
            data = data.replace(entry_hash.encode(), forged.encode(), 1)
            digests[member] = hashlib.sha256(data).hexdigest()
        return data

    # Twice: the first pass computes the database copy's new checksum, the second writes
    # it into the manifest (which comes first in the archive).
    resealed = tmp_path / "resealed.tar.gz"
    rewrite(archive, resealed, tamper)
    rewrite(archive, resealed, tamper)
    result = verify_backup(resealed)
    assert [p.where for p in result.problems] == ["audit"] and result.audit_tampered
    command = headwater("backup", "verify", str(resealed), env=store.env, cwd=tmp_path)
    assert command.returncode == 3, command.stderr
    assert "tampered" in command.stderr


def test_restore_refuses_a_database_or_a_warehouse_that_is_not_empty(
    store: Store, tmp_path: Path
) -> None:
    archive = tmp_path / "store.tar.gz"
    create_backup(store.settings, archive, include_data=True)

    into_itself = headwater("backup", "restore", str(archive), env=store.env, cwd=tmp_path)
    assert into_itself.returncode == 2
    assert "HEADWATER_DATABASE_URL" in into_itself.stderr and "not empty" in into_itself.stderr
    assert "alembic_version" in into_itself.stderr

    with empty_target(store, tmp_path) as target:  # the warehouse still holds the tables
        refused = headwater("backup", "restore", str(archive), env=target.env, cwd=tmp_path)
        assert refused.returncode == 2
        assert "HEADWATER_WAREHOUSE" in refused.stderr and "not empty" in refused.stderr
        assert str(store.warehouse) in refused.stderr
        if target.url.startswith("sqlite"):
            assert not Path(make_url(target.url).database or "").exists()


def test_a_restore_killed_halfway_is_cleaned_up_by_the_next(store: Store, tmp_path: Path) -> None:
    archive = tmp_path / "store.tar.gz"
    create_backup(store.settings, archive, include_data=True)
    with ArchiveReader(archive) as reader:
        members = [m.name for m in reader.manifest.file_members]
    tables = table_state(store.backend.url, store.warehouse)
    shutil.rmtree(store.warehouse)

    with empty_target(store, tmp_path) as target:
        journal = target.home / "backup-restore.journal.json"
        # Killed with half the files written; then with everything loaded but not committed.
        for point in (members[len(members) // 2], "commit"):
            env = {**target.env, FAULT_VARIABLE: f"backup.restore@{point}"}
            killed = headwater("backup", "restore", str(archive), env=env, cwd=tmp_path)
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            assert journal.is_file()
            assert any(store.warehouse.rglob("*.avro"))  # files written, but no store
            assert not target_has_tables(target)

        again = headwater("backup", "restore", str(archive), "--json", env=target.env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert "cleaned up an interrupted restore" in report["notes"][0]
        assert report["audit"]["ok"] is True
        assert not journal.exists()
        assert table_state(target.url, target.warehouse) == tables


def target_has_tables(target: Target) -> bool:
    if target.url.startswith("sqlite"):
        return Path(make_url(target.url).database or "").exists()
    engine = create_engine(target.url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            ).scalar()
        return bool(found)
    finally:
        engine.dispose()
