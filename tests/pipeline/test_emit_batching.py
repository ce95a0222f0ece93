"""Into the local store, a pipeline run's OpenLineage events go in batches.

Specification: the events are stored with `LineageWriter.write_batch`, several in one
transaction, at most once per `FLUSH_INTERVAL_S` and at the end of the run; every event is
stored, in the order it was emitted, by the time the run returns; a quiet spell does not hold
events back longer than the interval; a batch that cannot be written counts its events as
undelivered and never fails the run; events that fail for a transient reason are tried again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attr
import pytest
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import lineage_events
from headwater.lake import Lake
from headwater.lineage import LineageEvent, LineageWriter, client
from headwater.lineage.apply import EventOutcome
from headwater.lineage.client import LocalStoreTransport, make_client
from headwater.pipeline import build_graph, emit, load_project
from headwater.pipeline.emit import LineageEmitter
from tests.pipeline.projects import (
    delivered_project,
    run_project,
)

EVENTS_PER_RUN = 10  # pipeline, three models and the tests of marts.totals: a START and an end


@pytest.fixture
def project_dir(tmp_path: Path, lake: Lake) -> Path:
    return delivered_project(tmp_path / "project", lake)


def _stored(database: Database) -> list[tuple[str | None, str | None, str | None]]:
    """(job, event type, run) of every stored event, in the order they were stored."""
    with database.read() as connection:
        rows = connection.execute(
            select(
                lineage_events.c.job_name, lineage_events.c.event_type, lineage_events.c.run_uuid
            ).order_by(lineage_events.c.id)
        )
        return [(row.job_name, row.event_type, row.run_uuid) for row in rows]


class _Spy:
    """What the emitter sent into the local store, and the batches it was written in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emitted: list[tuple[str | None, str | None, str | None]] = []
        self.batches: list[int] = []
        emit_event = LocalStoreTransport.emit
        write_batch = LineageWriter.write_batch

        def spy_emit(transport: LocalStoreTransport, event: Any) -> None:
            raw = Serde.to_dict(event)
            self.emitted.append((raw["job"]["name"], raw["eventType"], raw["run"]["runId"]))
            emit_event(transport, event)

        def spy_write_batch(
            writer: LineageWriter, events: Sequence[LineageEvent], actor: str = "anonymous"
        ) -> list[EventOutcome]:
            self.batches.append(len(events))
            return write_batch(writer, events, actor)

        def no_single_writes(*_args: Any, **_kwargs: Any) -> None:
            raise AssertionError("events are written in batches")

        monkeypatch.setattr(LocalStoreTransport, "emit", spy_emit)
        monkeypatch.setattr(LineageWriter, "write_batch", spy_write_batch)
        monkeypatch.setattr(LineageWriter, "write", no_single_writes)


@pytest.mark.parametrize("interval", [0.0, 0.05, 60.0])
def test_every_event_is_stored_in_the_order_emitted(
    monkeypatch: pytest.MonkeyPatch,
    project_dir: Path,
    database: Database,
    lake: Lake,
    interval: float,
) -> None:
    monkeypatch.setattr(emit, "FLUSH_INTERVAL_S", interval)
    spy = _Spy(monkeypatch)
    result = run_project(project_dir, database, lake)
    assert (result.status, result.undelivered_events) == ("COMPLETED", 0)
    assert len(spy.emitted) == EVENTS_PER_RUN
    assert _stored(database) == spy.emitted
    assert sum(spy.batches) == EVENTS_PER_RUN
    if interval == 60.0:
        assert spy.batches == [EVENTS_PER_RUN]  # all of them at the end of the run
    else:
        assert len(spy.batches) > 1  # while the run goes on


def test_a_quiet_spell_does_not_hold_events_back(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    monkeypatch.setattr(emit, "FLUSH_INTERVAL_S", 0.05)
    project = load_project(project_dir)
    emitter = LineageEmitter(
        database,
        make_client(database, "tester"),
        project,
        build_graph(project),
        str(uuid.uuid4()),
        datetime.now(UTC),
        lake.warehouse,
    )
    try:
        emitter.pipeline_event(RunState.START)
        deadline = time.monotonic() + 10
        while not _stored(database) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [kind for _, kind, _ in _stored(database)] == ["START"]  # before `close`
        emitter.pipeline_event(RunState.COMPLETE)
    finally:
        emitter.close()
    assert [kind for _, kind, _ in _stored(database)] == ["START", "COMPLETE"]
    assert emitter.undelivered == 0


def test_a_batch_that_cannot_be_written_is_counted_not_raised(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> list[EventOutcome]:
        raise RuntimeError("the lineage store is gone")

    monkeypatch.setattr(emit, "FLUSH_INTERVAL_S", 0.0)
    monkeypatch.setattr(LineageWriter, "write_batch", broken)
    result = run_project(project_dir, database, lake)
    assert result.status == "COMPLETED"
    assert result.undelivered_events == EVENTS_PER_RUN
    assert _stored(database) == []


def _is_test(event: LineageEvent) -> bool:
    return (event.job_name or "").endswith(".tests")


def test_events_the_store_refuses_are_counted_and_the_others_stored(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    write_batch = LineageWriter.write_batch

    def refuse_tests(
        writer: LineageWriter, events: Sequence[LineageEvent], actor: str = "anonymous"
    ) -> list[EventOutcome]:
        stored = iter(write_batch(writer, [e for e in events if not _is_test(e)], actor))
        return [
            EventOutcome(False, reason="refused") if _is_test(e) else next(stored) for e in events
        ]

    monkeypatch.setattr(LineageWriter, "write_batch", refuse_tests)
    result = run_project(project_dir, database, lake)
    assert result.status == "COMPLETED"
    assert result.undelivered_events == 2  # the START and COMPLETE of marts.totals.tests
    assert len(_stored(database)) == EVENTS_PER_RUN - 2


def test_events_that_fail_transiently_are_tried_again(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    write_batch = LineageWriter.write_batch
    failures = iter([True, True])  # the first two attempts fail as a lost commit would

    def flaky(
        writer: LineageWriter, events: Sequence[LineageEvent], actor: str = "anonymous"
    ) -> list[EventOutcome]:
        if next(failures, False):
            return [
                EventOutcome(False, reason="database is locked", retriable=True) for _ in events
            ]
        return write_batch(writer, events, actor)

    monkeypatch.setattr(emit, "FLUSH_INTERVAL_S", 60.0)
    monkeypatch.setattr(LineageWriter, "write_batch", flaky)
    result = run_project(project_dir, database, lake)
    assert (result.status, result.undelivered_events) == ("COMPLETED", 0)
    assert len(_stored(database)) == EVENTS_PER_RUN


def test_a_transient_failure_that_persists_is_counted_after_the_retries(
    monkeypatch: pytest.MonkeyPatch, project_dir: Path, database: Database, lake: Lake
) -> None:
    attempts: list[int] = []

    def locked(
        _writer: LineageWriter, events: Sequence[LineageEvent], actor: str = "anonymous"
    ) -> list[EventOutcome]:
        attempts.append(len(events))
        return [EventOutcome(False, reason="database is locked", retriable=True) for _ in events]

    monkeypatch.setattr(emit, "FLUSH_INTERVAL_S", 60.0)
    monkeypatch.setattr(LineageWriter, "write_batch", locked)
    result = run_project(project_dir, database, lake)
    assert (result.status, result.undelivered_events) == ("COMPLETED", EVENTS_PER_RUN)
    assert attempts == [EVENTS_PER_RUN] * client.WRITE_ATTEMPTS


def test_events_become_the_dicts_the_clients_serde_makes(
    project_dir: Path, database: Database, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[Any] = []
    emit_event = LocalStoreTransport.emit

    def keep(transport: LocalStoreTransport, event: Any) -> None:
        events.append(event)
        emit_event(transport, event)

    monkeypatch.setattr(LocalStoreTransport, "emit", keep)
    assert run_project(project_dir, database, lake).status == "COMPLETED"
    assert len(events) == EVENTS_PER_RUN
    for event in events:
        assert client.event_dict(event) == Serde.to_dict(event)


@attr.define
class _Facet:
    value: Any


def test_event_dicts_drop_nones_and_empty_objects_in_lists_as_serde_does() -> None:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    facet = _Facet(
        {
            "state": RunState.COMPLETE,
            "when": when,
            "id": uuid.UUID(int=7),
            "gone": None,
            "empty": {},
            "items": [None, {}, {"a": None}, (1, None), "x", [], _Facet(None)],
        }
    )
    assert client.event_dict(facet) == Serde.to_dict(facet)
    assert client.event_dict(facet) == {
        "value": {
            "state": "COMPLETE",
            "when": when.isoformat(),
            "id": str(uuid.UUID(int=7)),
            "empty": {},
            "items": [[1], "x", []],
        }
    }
