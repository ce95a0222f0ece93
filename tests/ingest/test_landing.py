"""Landing: waiting deliveries become rows of the raw table, each exactly once, with the
inbox range in the snapshot and the batch in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from sqlalchemy import func, select

from headwater import audit, ingest
from headwater.db import Database, named_lock
from headwater.db.schema import ingest_batches, ingest_inbox
from headwater.ingest.landing import BATCH_PROPERTY, FIRST_SEQ_PROPERTY, LAST_SEQ_PROPERTY
from headwater.lake import Lake
from tests.ingest.deliveries import Killed, killed_at, order, store, web_sources


def _topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ingest.Topic:
    return web_sources(tmp_path / "project", monkeypatch)["web"].topics["orders"]


def _raw(lake: Lake) -> pa.Table:
    table = lake.load("raw.web_orders")
    assert table is not None
    return table.scan().to_arrow().sort_by("_hw_inbox_seq")


def _waiting(database: Database) -> int:
    query = select(func.count()).where(ingest_inbox.c.batch_id.is_(None))
    with database.read() as connection:
        return int(connection.execute(query).scalar_one())


def test_waiting_deliveries_land_as_typed_rows_with_their_ingest_columns(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(3))
    [batch] = ingest.land_topic(database, lake, topic, actor="tester") or []
    assert (batch.rows, batch.first_seq, batch.last_seq, batch.recovered) == (3, 1, 3, False)
    rows = _raw(lake)
    assert rows.column_names == [
        "id",
        "email",
        "total",
        "created_at",
        "_hw_event_id",
        "_hw_received_at",
        "_hw_source",
        "_hw_batch_id",
        "_hw_inbox_seq",
        "_hw_payload",
    ]
    assert rows.column("id").to_pylist() == [0, 1, 2]
    assert rows.column("total").to_pylist() == [0.0, 0.25, 0.5]
    assert rows.column("created_at").to_pylist()[1] == datetime(2026, 12, 1, 10, 1, tzinfo=UTC)
    assert rows.column("_hw_event_id").to_pylist() == ["evt-0", "evt-1", "evt-2"]
    assert set(rows.column("_hw_batch_id").to_pylist()) == {batch.batch_id}
    assert set(rows.column("_hw_source").to_pylist()) == {"web"}
    assert '"kept":"in the payload"' in rows.column("_hw_payload")[0].as_py()
    # The snapshot says which batch and which inbox range it holds.
    table = lake.load("raw.web_orders")
    assert table is not None
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.snapshot_id == batch.snapshot_id
    properties = snapshot.summary.additional_properties if snapshot.summary else {}
    assert properties[BATCH_PROPERTY] == batch.batch_id
    assert (properties[FIRST_SEQ_PROPERTY], properties[LAST_SEQ_PROPERTY]) == ("1", "3")
    assert _waiting(database) == 0
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, action="ingest.batch.land")
    [entry] = entries
    details = orjson.loads(entry.details)
    assert (details["snapshot"], details["rows"], details["batch_id"]) == (
        batch.snapshot_id,
        3,
        batch.batch_id,
    )


def test_nothing_waiting_commits_nothing(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    assert ingest.land_topic(database, lake, topic, actor="tester") == []
    table = lake.load("raw.web_orders")
    assert table is not None and table.current_snapshot() is None


def test_batches_hold_at_most_max_rows_oldest_first(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(5))
    first = ingest.land_topic(database, lake, topic, actor="t", max_rows=3) or []
    second = ingest.land_topic(database, lake, topic, actor="t", max_rows=3) or []
    assert [(b.first_seq, b.last_seq, b.rows) for b in first + second] == [(1, 3, 3), (4, 5, 2)]
    assert _raw(lake).column("id").to_pylist() == [0, 1, 2, 3, 4]


def _crash_at(point: str) -> ingest.landing.FaultPoint:
    kill = killed_at(point)
    return lambda reached: kill(reached, "ingest:web/orders")


def test_a_lander_that_died_after_its_commit_is_finished_by_the_next(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(4))
    with pytest.raises(Killed):
        ingest.land_topic(database, lake, topic, actor="t", fault=_crash_at("after-append"))
    assert _waiting(database) == 4  # committed to Iceberg, not yet marked
    store(database, range(4, 6))
    landed = ingest.land_topic(database, lake, topic, actor="t") or []
    assert [(b.recovered, b.rows, b.first_seq, b.last_seq) for b in landed] == [
        (True, 4, 1, 4),
        (False, 2, 5, 6),
    ]
    ids = _raw(lake).column("id").to_pylist()
    assert ids == [0, 1, 2, 3, 4, 5]  # each once
    with database.read() as connection:
        recovered, _ = audit.list_entries(connection, action="ingest.batch.recover")
        assert connection.execute(select(func.count()).select_from(ingest_batches)).scalar() == 2
    assert len(recovered) == 1


def test_a_lander_that_died_before_its_commit_leaves_the_deliveries_waiting(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(3))
    with pytest.raises(Killed):
        ingest.land_topic(database, lake, topic, actor="t", fault=_crash_at("before-append"))
    assert _waiting(database) == 3
    [batch] = ingest.land_topic(database, lake, topic, actor="t") or []
    assert (batch.rows, batch.recovered) == (3, False)
    assert _raw(lake).num_rows == 3


def test_a_topic_held_by_another_lander_is_left_to_it(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(2))
    with named_lock(database, "headwater.ingest:web/orders") as held:
        assert held
        assert ingest.land_topic(database, lake, topic, actor="t") is None
    assert _waiting(database) == 2
    assert ingest.land_topic(database, lake, topic, actor="t")


def test_a_raw_table_the_pipeline_created_gains_the_ingest_columns(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    lake.ensure_namespace("raw")
    lake.create("raw.web_orders", topic.schema)  # as ensure_sources does
    store(database, range(2))
    assert ingest.land_topic(database, lake, topic, actor="t")
    assert "_hw_event_id" in _raw(lake).column_names


def test_consume_once_lands_everything_waiting_and_reports_each_batch_to_lineage(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.db.schema import jobs, lineage_events
    from headwater.lineage.client import make_client

    sources = web_sources(tmp_path / "project", monkeypatch)
    store(database, range(5))
    store(database, range(100, 102), topic="customers")
    stats = ingest.consume(
        database,
        lake,
        ingest.topics_of(sources),
        actor="t",
        client=make_client(database, "t"),
        max_rows=2,
        once=True,
    )
    assert (stats.batches, stats.rows) == (4, 7)
    assert _waiting(database) == 0
    with database.read() as connection:
        names = set(connection.execute(select(jobs.c.name)).scalars())
        events = connection.execute(select(func.count()).select_from(lineage_events)).scalar()
    assert names == {"ingest.web.orders", "ingest.web.customers"}
    assert events == 8  # START and COMPLETE per batch


def test_landed_rows_match_what_was_delivered(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic(tmp_path, monkeypatch)
    store(database, range(3))
    ingest.land_topic(database, lake, topic, actor="t")
    emails = _raw(lake).column("email").to_pylist()
    assert emails == [order(n)["email"] for n in range(3)]


def test_consumers_running_at_once_land_each_delivery_once(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    sources = web_sources(tmp_path / "project", monkeypatch)
    topics = ingest.topics_of(sources)
    store(database, range(120))
    store(database, range(1000, 1080), topic="customers")
    lake.ensure_namespace("raw")
    results: list[ingest.ConsumerStats] = []
    errors: list[BaseException] = []

    def run() -> None:
        other = Lake(database.url, lake.warehouse)  # each consumer its own catalog
        try:
            for _ in range(20):
                results.append(
                    ingest.consume(database, other, topics, actor="t", max_rows=7, once=True)
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.rows for r in results) == 200
    assert _waiting(database) == 0
    assert sorted(_raw(lake).column("id").to_pylist()) == list(range(120))
