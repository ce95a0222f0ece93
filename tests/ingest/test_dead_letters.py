"""Dead letters wait for a fix; a replay re-checks them against the declarations as they are
now, moves those that match into the inbox (with their original receive time) and keeps the
rest with the reason as it is now. Each replay is one audit entry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from headwater import audit, ingest
from headwater.db import Database
from headwater.db.schema import ingest_dead_letters, ingest_inbox
from headwater.errors import BadRequestError
from headwater.ingest.inbox import store_one
from headwater.ingest.status import dead_letters, ingest_status, replay
from headwater.lake import Lake
from headwater.pipeline import load_project
from tests.ingest.deliveries import order, store, web_sources
from tests.ingest.projects import WEB, write_project

RECEIVED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _dead(database: Database, event_id: str, total: object) -> None:
    body = orjson.dumps({**order(1), "total": total})
    delivery = ingest.Delivery(
        "web", "orders", event_id, None, RECEIVED, body, dead_reason="total: expected a number"
    )
    with database.write() as connection:
        store_one(connection, delivery)


def test_a_replay_moves_what_matches_now_and_keeps_the_rest_with_its_current_reason(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web_sources(tmp_path / "project", monkeypatch)  # sets the secrets
    _dead(database, "evt-text", "12,50")
    _dead(database, "evt-list", [1, 2])
    root = tmp_path / "project"
    before = ingest.webhook_sources(load_project(root))
    unchanged = replay(database, before, actor="tester")
    assert unchanged.replayed == []
    assert unchanged.still_dead == {
        1: 'total: expected a number, got "12,50"',
        2: "total: expected a number, got [1,2]",
    }
    write_project(root, web=WEB.replace("total: double", "total: string"))
    after = ingest.webhook_sources(load_project(root))
    result = replay(database, after, actor="tester")
    assert result.replayed == [1]
    assert result.still_dead == {2: "total: expected text, got [1,2]"}
    with database.read() as connection:
        [inbox] = connection.execute(select(ingest_inbox)).mappings()
        assert (inbox["event_id"], inbox["received_at"]) == ("evt-text", RECEIVED)
        replayed = connection.execute(
            select(ingest_dead_letters.c.replayed_seq).where(ingest_dead_letters.c.id == 1)
        ).scalar_one()
        assert replayed == inbox["seq"]
        assert [d.event_id for d in dead_letters(connection)] == ["evt-list"]
        assert [d.event_id for d in dead_letters(connection, include_replayed=True)] == [
            "evt-text",
            "evt-list",
        ]
        entries, _ = audit.list_entries(connection, action="ingest.dead_letters.replay")
        [status] = [s for s in ingest_status(connection, after) if s.topic == "orders"]
    assert len(entries) == 2
    assert (status.received, status.waiting, status.dead_letters) == (1, 1, 1)
    [batch] = ingest.land_topic(database, lake, after["web"].topics["orders"], actor="t") or []
    assert batch.rows == 1


def test_a_replayed_event_already_stored_by_a_later_delivery_is_settled_by_it(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = web_sources(tmp_path / "project", monkeypatch)
    _dead(database, "evt-1", 5)  # a mismatch then; the declaration accepts it now
    store(database, range(1, 2))  # the provider sent evt-1 again, correctly
    result = replay(database, sources, actor="tester")
    assert result.replayed == [1]
    with database.read() as connection:
        assert len(list(connection.execute(select(ingest_inbox.c.seq)))) == 1


def test_replaying_an_unknown_source_is_refused(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = web_sources(tmp_path / "project", monkeypatch)
    with pytest.raises(BadRequestError, match="--source: no webhook source 'shop' is declared"):
        replay(database, sources, actor="tester", source="shop")
