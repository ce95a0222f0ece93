"""What the dashboard shows about the lineage store: counts, event rate, runs, stale datasets.

Every function takes an open connection and reads only: these are the read side of the store
for the web UI (Marquez has no such endpoints; its UI counts by listing everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from headwater.db.schema import datasets, jobs, lineage_events, namespaces, runs

# The run states Marquez reports; an unfinished run is RUNNING (or NEW before it started).
UNFINISHED_STATES = ("NEW", "RUNNING")
FAILED_STATES = ("FAILED", "ABORTED")


@dataclass(frozen=True, slots=True)
class Counts:
    namespaces: int
    jobs: int
    datasets: int


def counts(connection: Connection) -> Counts:
    """Visible namespaces, and jobs and datasets not soft-deleted."""

    def count(table: Any, where: Any) -> int:
        return int(
            connection.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        )

    return Counts(
        namespaces=count(namespaces, namespaces.c.is_hidden.is_(False)),
        jobs=count(jobs, jobs.c.is_deleted.is_(False)),
        datasets=count(datasets, datasets.c.is_deleted.is_(False)),
    )


def events_per_hour(
    connection: Connection, now: datetime, hours: int
) -> list[tuple[datetime, int]]:
    """Lineage events received in each of the last ``hours`` whole hours up to ``now``
    (oldest first; empty hours are 0). Counted by when headwater received them, not by the
    producer's event time, which may be late or in the future."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours_start = [end - timedelta(hours=hours - i) for i in range(hours)]
    # One count per hour, each over its own range of the received_at index, in one statement:
    # the rows never leave the database, and no row is looked at twice. (One pass with a
    # FILTER per hour compared every row of the day 24 times: for a million events received in
    # a day 1.2 s on SQLite against 25 ms this way, 165 ms against 50-85 on PostgreSQL.)
    received = lineage_events.c.received_at
    counts_by_hour = [
        select(func.count())
        .select_from(lineage_events)
        .where(received >= start, received < start + timedelta(hours=1))
        .scalar_subquery()
        for start in hours_start
    ]
    row = connection.execute(select(*counts_by_hour)).one()
    return [(start, int(n)) for start, n in zip(hours_start, row, strict=True)]


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    namespace: str
    job: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime


def runs_in_state(connection: Connection, states: tuple[str, ...], limit: int) -> list[RunSummary]:
    """The most recently changed runs in one of ``states``, newest first."""
    rows = connection.execute(
        select(
            runs.c.uuid,
            namespaces.c.name,
            jobs.c.name,
            runs.c.state,
            runs.c.started_at,
            runs.c.ended_at,
            runs.c.updated_at,
        )
        .join(jobs, jobs.c.id == runs.c.job_id)
        .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
        .where(runs.c.state.in_(states), jobs.c.is_deleted.is_(False))
        .order_by(runs.c.updated_at.desc(), runs.c.id.desc())
        .limit(limit)
    ).all()
    return [RunSummary(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class StaleDataset:
    namespace: str
    name: str
    last_changed_at: datetime


def stale_datasets(
    connection: Connection, now: datetime, older_than: timedelta, limit: int
) -> list[StaleDataset]:
    """Datasets no run has written for ``older_than``, the longest unchanged first.

    A dataset's last change is when its current version was made (a run wrote it), else when
    its metadata last changed: a dataset only ever read has no versions of its own."""
    changed = func.coalesce(datasets.c.last_modified_at, datasets.c.updated_at)
    rows = connection.execute(
        select(namespaces.c.name, datasets.c.name, changed)
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(datasets.c.is_deleted.is_(False), changed < now - older_than)
        .order_by(changed, datasets.c.id)
        .limit(limit)
    ).all()
    return [StaleDataset(*row) for row in rows]
