"""A batch is written as a batch: its cost in statements does not grow with its size, and the
per-event fallback keeps failures and concurrent runs isolated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from headwater.db import Database
from headwater.db.schema import run_io, runs
from headwater.lineage import LineageWriter, validate_event
from headwater.lineage.apply import EventOutcome
from headwater.lineage.events import LineageEvent
from tests.lineage.events_factory import (
    column_lineage_facet,
    dataset,
    input_field,
    new_run_id,
    run_event,
    schema_facet,
)
from tests.lineage.races import race_behind


@contextmanager
def counted_statements(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(database.write_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.write_engine, "before_cursor_execute", count)


def runs_of(jobs: int, first_minute: int) -> list[LineageEvent]:
    """START + COMPLETE of one new run of each job; each reads 2 tables and writes one, with
    its schema and column lineage, as real producers repeat them on every run."""
    events = []
    for j in range(jobs):
        run_id = new_run_id()
        output = dataset(
            f"out_{j}",
            facets={
                "schema": schema_facet("id", "amount"),
                "columnLineage": column_lineage_facet(
                    {"amount": [input_field("warehouse", f"in_{j}_a", "amount")]}
                ),
            },
        )
        inputs = [
            dataset(f"in_{j}_{side}", facets={"schema": schema_facet("id", "amount")})
            for side in ("a", "b")
        ]
        for event_type, minute in (("START", first_minute), ("COMPLETE", first_minute + 1)):
            raw = run_event(
                event_type,
                run_id=run_id,
                job=f"job_{j}",
                minute=minute,
                inputs=inputs,
                outputs=[output],
            )
            events.append(validate_event(raw))
    return events


def test_a_batch_costs_the_same_statements_whatever_its_size(database: Database) -> None:
    writer = LineageWriter(database)
    assert all(o.stored for o in writer.write_batch(runs_of(20, first_minute=0)))

    with counted_statements(database) as small:
        assert all(o.stored for o in writer.write_batch(runs_of(2, first_minute=10)))
    with counted_statements(database) as large:
        assert all(o.stored for o in writer.write_batch(runs_of(20, first_minute=20)))

    assert len(large) == len(small)
    assert len(large) <= 20, large


def test_a_batch_with_a_runs_start_and_complete_stores_one_finished_run(
    database: Database,
) -> None:
    [start, complete] = runs_of(1, first_minute=0)
    outcomes = LineageWriter(database).write_batch([start, complete, start])

    assert outcomes == [EventOutcome(True), EventOutcome(True), EventOutcome(False, True)]
    with database.read() as connection:
        [run] = connection.execute(select(runs)).all()
        assert (run.state, run.started_at, run.ended_at) == (
            "COMPLETED",
            start.event_time,
            complete.event_time,
        )
        assert connection.execute(
            select(run_io.c.io_type).where(run_io.c.run_id == run.id).order_by(run_io.c.io_type)
        ).scalars().all() == ["INPUT", "INPUT", "OUTPUT"]


def test_a_batch_racing_another_writer_for_a_run_loses_no_event(database: Database) -> None:
    """The batch finds the run missing, another transaction creates it first: the batch is
    applied again event by event, and both its events land on the existing run."""
    run_id = new_run_id()
    start = validate_event(run_event("START", run_id=run_id, job="race", inputs=[dataset("a")]))
    complete = validate_event(
        run_event("COMPLETE", run_id=run_id, job="race", minute=1, outputs=[dataset("b")])
    )
    other = validate_event(run_event("START", job="bystander", outputs=[dataset("c")]))
    outcome = race_behind(
        database, start, lambda: LineageWriter(database).write_batch([complete, other])
    )

    assert outcome == [[EventOutcome(stored=True), EventOutcome(stored=True)]]
    with database.read() as connection:
        states = {r.uuid: r.state for r in connection.execute(select(runs.c.uuid, runs.c.state))}
        assert states == {run_id: "COMPLETED", other.run_uuid: "RUNNING"}
