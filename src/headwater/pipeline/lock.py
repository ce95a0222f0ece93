"""One run of a project at a time.

Two concurrent runs of the same project would read the same new rows from the same watermarks
and, after Iceberg refused one of their commits as a conflict, the retry would append them a
second time. So a run holds a lock for its whole duration (`headwater.db.named_lock`), which
dies with the process that holds it, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from headwater.db import Database, named_lock
from headwater.errors import HeadwaterError


class RunInProgressError(HeadwaterError):
    status = 409


@contextmanager
def project_lock(database: Database, project: str) -> Iterator[None]:
    """Hold the run lock of ``project``; `RunInProgressError` at once if another run has it."""
    with named_lock(database, f"headwater.pipeline:{project}") as held:
        if not held:
            raise RunInProgressError(
                f"another run of project {project} is in progress; wait for it to finish "
                "(headwater runs list shows it)"
            )
        yield
