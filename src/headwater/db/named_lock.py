"""Locks held by one process at a time, by name, that die with the process holding them.

A session advisory lock on PostgreSQL, an ``flock`` on a file beside the SQLite database. A
killed holder never leaves a stale lock behind: the server ends its session, the kernel closes
its file. Used for what must never run twice at once: a pipeline run of one project, the
landing of one ingest topic.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from headwater.db.engine import Database


def _key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def named_lock(database: Database, name: str) -> Iterator[bool]:
    """Try to take the lock ``name`` without waiting; yields whether this process holds it."""
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        descriptor = os.open(Path(f"{url.database}.lock-{digest}"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # closing releases the lock
        return
    with database.write_engine.connect() as connection:
        # Advisory locks are database-wide; installs in different schemas must not collide.
        schema = connection.execute(text("SELECT current_schema()")).scalar()
        key = _key(f"{schema}:{name}")
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        held = bool(taken.scalar())
        connection.commit()  # the lock is the session's: hold no transaction open meanwhile
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
