"""Concurrent writers: events of one run arriving in concurrent requests are all applied."""

from __future__ import annotations

from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import run_io, runs
from headwater.lineage import LineageWriter, validate_event
from headwater.lineage.apply import EventOutcome
from tests.lineage.events_factory import dataset, new_run_id, run_event
from tests.lineage.races import race_behind


def test_a_runs_complete_racing_its_start_is_applied_not_lost(database: Database) -> None:
    """START and COMPLETE of one run in two concurrent transactions: the one that loses the race
    to create the run updates it instead of failing (PostgreSQL: a unique-key conflict)."""
    run_id = new_run_id()
    start = validate_event(run_event("START", run_id=run_id, job="race", inputs=[dataset("a")]))
    complete = validate_event(
        run_event("COMPLETE", run_id=run_id, job="race", minute=1, outputs=[dataset("b")])
    )
    outcome = race_behind(database, start, lambda: LineageWriter(database).write(complete))

    assert outcome == [EventOutcome(stored=True)]
    with database.read() as connection:
        [run] = connection.execute(select(runs).where(runs.c.uuid == run_id)).all()
        assert run.state == "COMPLETED"
        assert connection.execute(
            select(run_io.c.io_type).where(run_io.c.run_id == run.id).order_by(run_io.c.io_type)
        ).scalars().all() == ["INPUT", "OUTPUT"]
