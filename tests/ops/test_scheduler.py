"""The scheduler: each slot runs once whatever the number of schedulers, never beside a run
of the same schedule still going; missed slots run once or are skipped as configured; a
first start misses nothing. Time is injected: no test waits for a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from headwater.config import load_settings
from headwater.db import Database
from headwater.db.schema import schedule_runs
from headwater.errors import ConfigError
from headwater.lake import Lake
from headwater.ops import HealthTargets, Schedule, Scheduler, SchedulerContext, run_schedule
from headwater.ops.alert_rules import parse_alerts
from headwater.ops.schedules import DEFAULT_SCHEDULES, parse_schedules
from headwater.pipeline import RunInProgressError

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVERY_5 = Schedule("every5", "alerts", "*/5 * * * *")


class Calls:
    def __init__(self, block: threading.Event | None = None) -> None:
        self.slots: list[str] = []
        self.block = block

    def runner(self, schedule: Schedule, context: SchedulerContext, actor: str) -> dict[str, Any]:
        self.slots.append(actor)
        if self.block is not None:
            self.block.wait(10)
        return {"ran": True}


@pytest.fixture
def context(database: Database, lake: Lake, tmp_path: Path) -> SchedulerContext:
    targets = HealthTargets(database, lambda: lake, lake.warehouse, tmp_path, 0)
    settings = load_settings(database_url=database.url, home=tmp_path)
    return SchedulerContext(settings, database, lambda: lake, targets, parse_alerts({}))


def rows(database: Database) -> list[Any]:
    with database.read() as connection:
        return list(
            connection.execute(
                select(schedule_runs).order_by(schedule_runs.c.slot, schedule_runs.c.id)
            )
        )


def scheduler(
    context: SchedulerContext,
    runner: Callable[..., dict[str, Any]],
    *schedules: Schedule,
    now: datetime = T0,
) -> Scheduler:
    return Scheduler(context, schedules or (EVERY_5,), {"alerts": runner}, now=now)


def settle(futures: list[Any]) -> list[Any]:
    return [f.result(timeout=30) for f in futures]


def test_a_first_start_misses_nothing_and_runs_each_slot_once(
    context: SchedulerContext, database: Database
) -> None:
    calls = Calls()
    s = scheduler(context, calls.runner, now=T0 + timedelta(minutes=2))
    assert s.tick(T0 + timedelta(minutes=2)) == []  # the 12:00 slot was before the start
    assert s.tick(T0 + timedelta(minutes=4, seconds=59)) == []
    done = settle(s.tick(T0 + timedelta(minutes=5, seconds=1)))
    assert [(r.status, r.trigger, r.slot) for r in done] == [
        ("completed", "schedule", T0 + timedelta(minutes=5))
    ]
    assert s.tick(T0 + timedelta(minutes=5, seconds=30)) == []  # the same slot: not again
    assert calls.slots == ["scheduler:every5"]
    assert [r.status for r in rows(database)] == ["completed"]


def test_two_schedulers_run_a_slot_once(context: SchedulerContext, database: Database) -> None:
    calls = Calls()
    first, second = scheduler(context, calls.runner), scheduler(context, calls.runner)
    at = T0 + timedelta(minutes=5, seconds=2)
    results = settle(first.tick(at)) + settle(second.tick(at))
    assert next(r for r in results if r is not None).status == "completed"
    assert results.count(None) == 1, "the second scheduler found the slot claimed"
    assert len(calls.slots) == 1 and len(rows(database)) == 1


def test_missed_slots_run_once_as_a_catch_up_by_default(
    context: SchedulerContext, database: Database
) -> None:
    calls = Calls()
    settle(scheduler(context, calls.runner).tick(T0 + timedelta(minutes=5, seconds=1)))
    # The scheduler was down from 12:05 to 12:31: 12:10 ... 12:25 and 12:30 passed.
    restarted = scheduler(context, calls.runner, now=T0 + timedelta(minutes=31))
    done = settle(restarted.tick(T0 + timedelta(minutes=31)))
    assert [(r.trigger, r.slot, r.details["missed"]) for r in done] == [
        ("catch-up", T0 + timedelta(minutes=30), 4)
    ]
    assert len(calls.slots) == 2


def test_missed_slots_are_recorded_skipped_when_configured(
    context: SchedulerContext, database: Database
) -> None:
    calls = Calls()
    skipping = Schedule("every5", "alerts", "*/5 * * * *", missed="skip")
    settle(scheduler(context, calls.runner, skipping).tick(T0 + timedelta(minutes=5, seconds=1)))
    restarted = scheduler(context, calls.runner, skipping, now=T0 + timedelta(minutes=31))
    assert restarted.tick(T0 + timedelta(minutes=31)) == []
    last = rows(database)[-1]
    assert (last.status, last.slot) == ("skipped", T0 + timedelta(minutes=30))
    assert "4 slot(s) missed" in last.details["reason"]
    done = settle(restarted.tick(T0 + timedelta(minutes=35, seconds=1)))
    assert [r.trigger for r in done] == ["schedule"]


def test_a_slot_that_comes_while_the_last_run_still_goes_is_skipped(
    context: SchedulerContext, database: Database
) -> None:
    release = threading.Event()
    calls = Calls(block=release)
    s = scheduler(context, calls.runner)
    first = s.tick(T0 + timedelta(minutes=5, seconds=1))
    assert s.tick(T0 + timedelta(minutes=10, seconds=1)) == []
    release.set()
    settle(first)
    assert [(r.slot.minute, r.status) for r in rows(database)] == [
        (5, "completed"),
        (10, "skipped"),
    ]
    assert "still going" in rows(database)[1].details["reason"]


def test_a_run_of_the_same_schedule_elsewhere_holds_its_lock(
    context: SchedulerContext, database: Database
) -> None:
    release = threading.Event()
    calls = Calls(block=release)
    runners = {"alerts": calls.runner}
    busy = threading.Thread(
        target=run_schedule,
        args=(EVERY_5, context, runners),
        kwargs={"slot": T0, "trigger": "manual"},
    )
    busy.start()
    try:
        while not calls.slots:
            threading.Event().wait(0.01)
        other = run_schedule(
            EVERY_5, context, runners, slot=T0 + timedelta(seconds=1), trigger="manual"
        )
        assert other is not None and other.status == "skipped"
    finally:
        release.set()
        busy.join()


def test_a_failing_run_is_recorded_with_its_error_and_a_busy_project_as_skipped(
    context: SchedulerContext, database: Database
) -> None:
    def failing(*args: object) -> dict[str, Any]:
        raise ValueError("the source database is down")

    def busy(*args: object) -> dict[str, Any]:
        raise RunInProgressError("another run of project shop is in progress")

    failed = run_schedule(EVERY_5, context, {"alerts": failing}, slot=T0, trigger="manual")
    assert failed is not None and failed.status == "failed"
    assert failed.details["error"] == "ValueError: the source database is down"
    skipped = run_schedule(
        EVERY_5, context, {"alerts": busy}, slot=T0 + timedelta(minutes=1), trigger="manual"
    )
    assert skipped is not None and skipped.status == "skipped"


def test_without_a_schedules_section_alerts_are_evaluated_every_minute() -> None:
    assert parse_schedules(None) == DEFAULT_SCHEDULES
    assert [(s.kind, s.cron) for s in DEFAULT_SCHEDULES] == [("alerts", "* * * * *")]


def test_schedules_are_read_with_their_options() -> None:
    schedules = parse_schedules(
        {
            "pipe": {"run": "pipeline", "cron": "*/5 * * * *", "select": ["layer:staging+"]},
            "compact": {"run": "compact", "cron": "0 3 * * *", "tables": ["raw.*"]},
            "off": {"run": "retention", "cron": "0 5 * * *", "enabled": False},
            "expire": {"run": "expire", "cron": "0 4 * * 0", "older_than": "7d", "missed": "skip"},
        }
    )
    by_name = {s.name: s for s in schedules}
    assert set(by_name) == {"pipe", "compact", "expire"}
    assert by_name["pipe"].select == ("layer:staging+",)
    assert by_name["compact"].covers("raw.orders") and not by_name["compact"].covers("marts.x")
    assert by_name["expire"].older_than == timedelta(days=7) and by_name["expire"].missed == "skip"


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ({"p": {"run": "pipeline", "cron": "61 * * * *"}}, "schedules.p.cron", "not a cron"),
        ({"p": {"run": "dance", "cron": "* * * * *"}}, "schedules.p.run", "must be one of"),
        (
            {"p": {"run": "pipeline", "cron": "* * * * *", "tables": ["x"]}},
            "schedules.p.tables",
            "unknown key",
        ),
        (
            {"p": {"run": "expire", "cron": "* * * * *", "older_than": "soon"}},
            "schedules.p.older_than",
            "duration",
        ),
        (
            {"p": {"run": "expire", "cron": "* * * * *", "retain_last": 0}},
            "schedules.p.retain_last",
            "at least 1",
        ),
        (
            {"p": {"run": "alerts", "cron": "* * * * *", "missed": "maybe"}},
            "schedules.p.missed",
            "run_once or skip",
        ),
        ({"p": "daily"}, "schedules.p", "mapping"),
        (["p"], "schedules", "mapping"),
    ],
)
def test_a_bad_schedule_names_its_field(section: object, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedules(section)
    assert caught.value.setting == field
    assert words in caught.value.reason


def test_a_backup_schedule_writes_an_archive_and_keeps_the_newest(
    context: SchedulerContext, tmp_path: Path
) -> None:
    from headwater.ops import RUNNERS, verify_backup

    (nightly,) = parse_schedules(
        {
            "nightly": {
                "run": "backup",
                "cron": "0 2 * * *",
                "keep": 1,
                "folder": str(tmp_path / "b"),
            }
        }
    )
    first = run_schedule(nightly, context, RUNNERS, slot=T0, trigger="manual")
    second = run_schedule(nightly, context, RUNNERS, slot=T0 + timedelta(days=1), trigger="manual")
    assert first is not None and second is not None
    assert (first.status, second.status) == ("completed", "completed")
    archives = sorted((tmp_path / "b").glob("nightly-*.tar.gz"))
    assert [str(a) for a in archives] == [second.details["archive"]]
    assert second.details["removed"] == [first.details["archive"]]
    assert verify_backup(archives[0]).ok
