"""One SQLite writer at a time across threads and processes, handed over without oversleeping.

SQLite lets one transaction write at a time. A writer that finds the database locked sleeps in
SQLite's busy handler for 1, 2, 5, ... up to 100 ms between tries, so with several server
processes (``headwater serve --workers 2``) the lock sat unused while the next writer slept,
and two workers ingested little more than one. Writers therefore queue on an advisory lock file
next to the database first: a thread of this process waits on a ``threading.Lock``, another
process polls ``flock`` every millisecond or two, and each takes over as soon as the lock is
free. SQLite's own locking stays in force underneath (``BEGIN IMMEDIATE`` and its busy
timeout) for anything that writes without this lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headwater.errors import DatabaseBusyError

POLL_S = 0.002


class WriterLock:
    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # A descriptor inherited over fork shares its lock with the parent: open our own.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout_s
        if not self._thread_lock.acquire(timeout=self.timeout_s):
            raise DatabaseBusyError(self._busy())
        try:
            fd = self._file()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DatabaseBusyError(self._busy()) from None
                    time.sleep(POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _busy(self) -> str:
        return f"the database is busy: no write slot within {self.timeout_s:.0f} s; retry later"
