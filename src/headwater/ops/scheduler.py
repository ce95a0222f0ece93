"""The built-in scheduler: runs each schedule at its cron times, never two runs of one at once.

Each due time (a *slot*) is claimed by inserting its row into ``schedule_runs``; the row is
unique per schedule and slot, so of several schedulers (one per ``headwater up``) exactly one
runs it. A run also holds the schedule's named lock while it works: a slot that comes round
while the previous run is still going is recorded as skipped, not started beside it. And a
pipeline run holds its project's lock, so two schedules of one project never overlap either.

Slots missed while no scheduler ran are handled by each schedule's ``missed`` setting (see
`headwater.ops.schedules`). A scheduler's first start misses nothing: it begins with the next
slot.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from headwater import logs
from headwater.config import Settings
from headwater.db import Database, aggregate_time, named_lock
from headwater.db.schema import schedule_runs
from headwater.lake import Lake
from headwater.ops.alert_rules import AlertConfig
from headwater.ops.health import SCHEDULER, HealthTargets
from headwater.ops.heartbeat import Heartbeat
from headwater.ops.schedules import Schedule
from headwater.ops.signals import ErrorRate

log = logging.getLogger("headwater.scheduler")

# A slot handled later than this after its time is a missed one (the scheduler was down or
# busy), not an on-time run.
LATE_AFTER = timedelta(seconds=60)
MISSED_COUNT_CAP = 10_000
TICK_S = 1.0


@dataclass
class Context:
    """What schedules run against. ``open_lake`` gives each run its own catalog connection."""

    settings: Settings
    database: Database
    open_lake: Callable[[], Lake]
    targets: HealthTargets
    alerts: AlertConfig
    error_rate: ErrorRate | None = None


Runner = Callable[[Schedule, Context, str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    schedule: str
    kind: str
    slot: datetime
    trigger: str
    status: str  # completed, failed, skipped
    details: dict[str, Any] = field(default_factory=dict)


def _instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(
    database: Database,
    schedule: Schedule,
    slot: datetime,
    trigger: str,
    status: str,
    details: dict[str, Any],
) -> int | None:
    """Insert the slot's row; None when another scheduler has it already."""
    now = datetime.now(UTC)
    try:
        with database.write() as connection:
            result = connection.execute(
                schedule_runs.insert().values(
                    schedule=schedule.name,
                    kind=schedule.kind,
                    slot=slot,
                    trigger=trigger,
                    status=status,
                    instance=_instance(),
                    started_at=now,
                    ended_at=None if status == "running" else now,
                    details=details,
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key else None
    except IntegrityError:
        return None


def _finish(database: Database, row_id: int, status: str, details: dict[str, Any]) -> None:
    with database.write() as connection:
        connection.execute(
            update(schedule_runs)
            .where(schedule_runs.c.id == row_id)
            .values(status=status, ended_at=datetime.now(UTC), details=details)
        )


@contextmanager
def _held(database: Database, schedule: Schedule) -> Iterator[bool]:
    with named_lock(database, f"headwater.schedule:{schedule.name}") as held:
        yield held


def run_schedule(
    schedule: Schedule,
    context: Context,
    runners: Mapping[str, Runner],
    *,
    slot: datetime,
    trigger: str,
    details: dict[str, Any] | None = None,
) -> ScheduleRun | None:
    """Claim ``slot`` and run the schedule; None when another scheduler claimed it."""
    database = context.database
    details = dict(details or {})
    row_id = _claim(database, schedule, slot, trigger, "running", details)
    if row_id is None:
        return None
    actor = f"scheduler:{schedule.name}" if trigger != "manual" else f"trigger:{schedule.name}"
    with logs.bound(schedule=schedule.name, trigger=trigger), _held(database, schedule) as held:
        if not held:
            details["reason"] = "the previous run of this schedule is still going"
            _finish(database, row_id, "skipped", details)
            return ScheduleRun(schedule.name, schedule.kind, slot, trigger, "skipped", details)
        try:
            outcome = runners[schedule.kind](schedule, context, actor)
            status = str(outcome.pop("status", "completed"))
            details.update(outcome)
        except Exception as exc:  # a failed run is recorded and reported, never the loop's end
            log.exception("schedule %s failed", schedule.name)
            status, details["error"] = "failed", f"{type(exc).__name__}: {exc}"
            if getattr(exc, "status", None) == 409:
                status = "skipped"  # another run of the same project held its lock
        _finish(database, row_id, status, details)
    log.info("schedule %s %s: %s", schedule.name, trigger, status)
    return ScheduleRun(schedule.name, schedule.kind, slot, trigger, status, details)


def last_slots(database: Database) -> dict[str, datetime]:
    with database.read() as connection:
        rows = connection.execute(
            select(schedule_runs.c.schedule, func.max(schedule_runs.c.slot))
            .where(schedule_runs.c.trigger != "manual")
            .group_by(schedule_runs.c.schedule)
        )
        return {name: aggregate_time(slot) for name, slot in rows}


def _missed_between(schedule: Schedule, after: datetime, before: datetime) -> int:
    """Slots strictly between ``after`` and ``before`` (capped)."""
    count = 0
    iterator = croniter(schedule.cron, after)
    while count < MISSED_COUNT_CAP:
        slot = iterator.get_next(datetime)
        if slot >= before:
            break
        count += 1
    return count


class Scheduler:
    """Ticks once a second: for each schedule whose latest slot is newer than the last one
    handled, decides whether to run it (on time, or as a catch-up) or record it skipped."""

    def __init__(
        self,
        context: Context,
        schedules: tuple[Schedule, ...],
        runners: Mapping[str, Runner],
        *,
        workers: int = 4,
        now: datetime | None = None,
    ) -> None:
        self.context = context
        self.schedules = schedules
        self.runners = runners
        self.started_at = now or datetime.now(UTC)
        self.last = last_slots(context.database)
        self.running: dict[str, Future[ScheduleRun | None]] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="headwater-schedule")

    def tick(self, now: datetime) -> list[Future[ScheduleRun | None]]:
        started = []
        for schedule in self.schedules:
            slot = schedule.slot_at_or_before(now)
            last = self.last.get(schedule.name)
            if last is None and slot <= self.started_at:
                self.last[schedule.name] = slot  # before the first start: nothing was missed
                continue
            if last is not None and slot <= last:
                continue
            self.last[schedule.name] = slot
            missed = _missed_between(schedule, last, slot) if last is not None else 0
            on_time = now - slot <= LATE_AFTER and missed == 0
            details: dict[str, Any] = {"missed": missed} if missed else {}
            if on_time:
                trigger = "schedule"
            elif schedule.missed == "skip":
                details["reason"] = (
                    f"{'late' if not missed else f'{missed} slot(s) missed'}; missed: skip"
                )
                _claim(self.context.database, schedule, slot, "catch-up", "skipped", details)
                continue
            else:
                trigger = "catch-up"
            current = self.running.get(schedule.name)
            if current is not None and not current.done():
                details["reason"] = "the previous run of this schedule is still going"
                _claim(self.context.database, schedule, slot, trigger, "skipped", details)
                continue
            future = self.pool.submit(
                run_schedule,
                schedule,
                self.context,
                self.runners,
                slot=slot,
                trigger=trigger,
                details=details,
            )
            self.running[schedule.name] = future
            started.append(future)
        return started

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, beating as the scheduler; wait for runs in progress."""
        with Heartbeat(
            self.context.database, SCHEDULER, {"schedules": [s.name for s in self.schedules]}
        ) as beat:
            while not stop.is_set():
                try:
                    self.tick(datetime.now(UTC))
                except Exception:  # an outage of the database must not end the scheduler
                    log.exception("scheduler tick failed")
                beat()
                stop.wait(TICK_S)
        self.pool.shutdown(wait=True)
