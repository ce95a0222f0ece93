"""SQLite writers queue on a lock file: the next one takes over as soon as the lock is free,
across processes, and a writer that cannot get in says the database is busy."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from headwater.db import Database, upgrade
from headwater.db.writer_lock import WriterLock
from headwater.errors import DatabaseBusyError


def hold_the_write_lock(url: str, seconds: float, started: Any) -> None:
    database = Database(url)
    with database.write() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        started.set()
        time.sleep(seconds)
    database.dispose()


def test_a_writer_waiting_on_another_process_gets_in_as_soon_as_it_commits(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/lock.db"
    upgrade(Database(url))
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    holder = context.Process(target=hold_the_write_lock, args=(url, 1.0, started))
    holder.start()
    assert started.wait(timeout=60)
    began = time.monotonic()
    database = Database(url)
    with database.write() as connection:
        waited = time.monotonic() - began
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
    holder.join(timeout=30)
    database.dispose()

    assert holder.exitcode == 0
    assert 0.3 < waited < 20, waited  # it waited for the holder (how promptly: the benchmark)


def test_a_writer_that_cannot_get_the_lock_in_time_is_told_the_database_is_busy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.writer-lock"
    holder, waiter = WriterLock(path, timeout_s=5), WriterLock(path, timeout_s=0.2)
    with holder.held(), pytest.raises(DatabaseBusyError, match="database is busy"), waiter.held():
        pass
    with waiter.held():  # free again
        pass
