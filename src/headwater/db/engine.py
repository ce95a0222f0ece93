"""Engines for the metadata DB, tuned per backend.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process crashes, one fsync
per checkpoint; ``write(durable=True)`` syncs its own commit), writers queue on a lock file (see `headwater.db.writer_lock`) and writes start
with ``BEGIN IMMEDIATE``: two writers that both began with a
read would otherwise deadlock on the lock upgrade, which a busy timeout cannot resolve. Reads
use a separate engine whose transactions begin deferred, so readers never wait for a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from headwater.db.writer_lock import WriterLock
from headwater.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The metadata DB: ``write()`` and ``read()`` each yield a connection in a transaction."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        try:
            backend = make_url(url).get_backend_name()
        except Exception as exc:  # SQLAlchemy raises ArgumentError for unparseable URLs
            raise ConfigError("HEADWATER_DATABASE_URL", f"not a database URL: {exc}") from exc
        self.backend = backend
        self.writer_lock: WriterLock | None = None
        if backend == "sqlite":
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
            database = make_url(url).database
            if database and database != ":memory:":
                lock_path = Path(f"{database}.writer-lock")
                self.writer_lock = WriterLock(lock_path, SQLITE_BUSY_TIMEOUT_MS / 1000)
        elif backend == "postgresql":
            self.write_engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.read_engine = self.write_engine
        else:
            raise ConfigError("HEADWATER_DATABASE_URL", f"unsupported backend {backend!r}")

    @contextmanager
    def write(self, *, durable: bool = False) -> Iterator[Connection]:
        """A write transaction. ``durable``: on SQLite its commit is synced to disk before it
        returns (``synchronous=FULL``), so it survives a power cut, not only a process crash;
        a PostgreSQL commit always is."""
        if self.writer_lock is None:
            with self.write_engine.begin() as connection:
                yield connection
            return
        with self.writer_lock.held(), self.write_engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None  # a checked-out connection always has its driver's
            if durable:
                raw.execute("PRAGMA synchronous=FULL")
            try:
                with connection.begin():
                    yield connection
            finally:
                if durable:
                    raw.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def single_use_engine(url: str) -> Engine:
    """An engine without a pool, for one-off work such as migrations."""
    return create_engine(url, poolclass=NullPool)
