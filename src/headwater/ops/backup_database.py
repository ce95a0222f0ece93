"""The metadata database side of a backup: consistent copies, and what a copy says.

A copy is read back for the facts the manifest records and verification re-checks: the
migration revision, the catalog's pointers (each table's current metadata file) and the
audit log. A PostgreSQL dump is read without a server: its rows of those tables come out of
``pg_restore --data-only`` into a scratch SQLite file, where the same queries run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    column,
    create_engine,
    inspect,
    select,
    table,
)
from sqlalchemy.pool import NullPool

from headwater import audit
from headwater.db import schema
from headwater.ops.backup_archive import ArchiveError, BackupError
from headwater.ops.backup_pg import STATE_TABLES, dump_rows

_ICEBERG_TABLES = table(
    "iceberg_tables",
    column("catalog_name"),
    column("table_namespace"),
    column("table_name"),
    column("metadata_location"),
)
_ALEMBIC = table("alembic_version", column("version_num"))


@dataclass(frozen=True, slots=True)
class StoreState:
    """What a database (or a copy of one) holds that a backup must agree with."""

    revision: str | None
    tables: tuple[tuple[str, str], ...]  # (layer.table, current metadata file)
    log_size: int


def read_state(connection: Connection) -> StoreState:
    names = set(inspect(connection).get_table_names())
    revision = None
    if "alembic_version" in names:
        revision = connection.execute(select(_ALEMBIC.c.version_num)).scalar()
    pointers: list[tuple[str, str]] = []
    if "iceberg_tables" in names:
        rows = connection.execute(
            select(
                _ICEBERG_TABLES.c.table_namespace,
                _ICEBERG_TABLES.c.table_name,
                _ICEBERG_TABLES.c.metadata_location,
            ).order_by(_ICEBERG_TABLES.c.table_namespace, _ICEBERG_TABLES.c.table_name)
        )
        pointers = [(f"{ns}.{name}", location) for ns, name, location in rows if location]
    log_size = audit.log_size(connection) if "audit_log" in names else 0
    return StoreState(revision, tuple(pointers), log_size)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


@contextmanager
def sqlite_reader(path: Path) -> Iterator[Engine]:
    """A read-only engine on the SQLite file ``path`` (never creating it)."""
    engine = create_engine("sqlite://", creator=lambda: _read_only(path), poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a live SQLite database with SQLite's online backup API.

    In one step (``pages=-1``): one read transaction, so the copy is the database as of one
    moment even while writers commit (WAL lets them go on); in several steps, any write
    would restart the copy. The copy is switched to a rollback journal, so that it is one
    self-contained file (headwater switches it back to WAL when it opens it).
    """
    reader = _read_only(source)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer, pages=-1)
        writer.execute("PRAGMA journal_mode=DELETE")
    finally:
        writer.close()
        reader.close()


def sqlite_tables(path: Path) -> list[str]:
    """The tables in the SQLite file ``path`` (none if it does not exist).

    Raises `BackupError` if it is not a SQLite database.
    """
    if not path.exists():
        return []
    try:
        connection = _read_only(path)
        try:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
    return [str(name) for (name,) in rows]


def sqlite_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check``'s complaints about the file (none: intact)."""
    try:
        connection = _read_only(path)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def dump_state_database(dump: Path, dumped_schema: str, target: Path) -> None:
    """Write the dump's rows of the tables verification reads into a new SQLite file.

    The audit tables get headwater's own definitions, so that `audit.verify_log` reads them
    as it reads a store; the catalog and migration tables only the columns read here.
    """
    metadata = MetaData()
    audit_log = schema.audit_log.to_metadata(metadata)
    checkpoints = schema.audit_checkpoints.to_metadata(metadata)
    iceberg = Table(
        "iceberg_tables",
        metadata,
        *(Column(c.name, String) for c in _ICEBERG_TABLES.c),
    )
    alembic = Table("alembic_version", metadata, Column("version_num", String))
    by_name = {t.name: t for t in (audit_log, checkpoints, iceberg, alembic)}
    assert set(by_name) == set(STATE_TABLES)
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            batch: dict[str, list[dict[str, object]]] = {name: [] for name in by_name}
            for name, row in dump_rows(dump, dumped_schema, STATE_TABLES):
                wanted = by_name[name]
                batch[name].append(
                    {
                        key: int(value)
                        if value is not None and isinstance(wanted.c[key].type, Integer)
                        else value
                        for key, value in row.items()
                        if key in wanted.c
                    }
                )
                if len(batch[name]) >= 10_000:
                    connection.execute(wanted.insert(), batch[name])
                    batch[name] = []
            for name, rows in batch.items():
                if rows:
                    connection.execute(by_name[name].insert(), rows)
    except KeyError as exc:
        raise ArchiveError("database", f"the dump has rows of an unexpected table {exc}") from exc
    finally:
        engine.dispose()
