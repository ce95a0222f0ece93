"""Migrations: they build exactly the schema that ``headwater.db.schema`` declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from headwater.db import Database, current_revision, ensure_migrated, head_revision, upgrade
from headwater.db.schema import metadata
from headwater.errors import DatabaseNotReadyError
from tests.conftest import Backend


def test_migrated_database_matches_the_declared_schema(database: Database) -> None:
    with database.write_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database)
    assert current_revision(database) == head_revision()
    ensure_migrated(database)


def test_an_empty_database_is_not_ready_and_says_what_to_run(empty_backend: Backend) -> None:
    database = Database(empty_backend.url)
    with pytest.raises(DatabaseNotReadyError, match="run `headwater db upgrade`"):
        ensure_migrated(database)
    database.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/wal.db")
    with database.read() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    database.dispose()
