"""One run of a project at a time.

Two concurrent runs of the same project would read the same new rows from the same watermarks
and, after Iceberg refused one of their commits as a conflict, the retry would append them a
second time. So a run holds a lock for its whole duration: a session advisory lock on
PostgreSQL, an ``flock`` on a file beside the SQLite database. Both die with the process that
holds them, so a killed run never leaves a stale lock behind.
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

from headwater.db import Database
from headwater.errors import HeadwaterError


class RunInProgressError(HeadwaterError):
    status = 409


def _key(project: str) -> int:
    digest = hashlib.sha256(f"headwater.pipeline:{project}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def project_lock(database: Database, project: str) -> Iterator[None]:
    """Hold the run lock of ``project``; `RunInProgressError` at once if another run has it."""
    busy = RunInProgressError(
        f"another run of project {project} is in progress; wait for it to finish "
        "(headwater runs list shows it)"
    )
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        path = Path(
            f"{url.database}.pipeline-{hashlib.sha256(project.encode()).hexdigest()[:12]}.lock"
        )
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            yield
        finally:
            os.close(descriptor)  # closing releases the lock
        return
    with database.write_engine.connect() as connection:
        # Advisory locks are database-wide; installs in different schemas must not collide.
        schema = connection.execute(text("SELECT current_schema()")).scalar()
        key = _key(f"{schema}:{project}")
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        held = bool(taken.scalar())
        connection.commit()  # the lock is the session's: hold no transaction open meanwhile
        if not held:
            raise busy
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()
