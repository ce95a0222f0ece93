"""POST /ingest/{source}/{topic}: what is stored, what is refused, and what each answer says.

Runs the real app in-process on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from headwater import ingest
from headwater.config import load_settings
from headwater.db import Database
from headwater.db.schema import ingest_counters, ingest_dead_letters, ingest_inbox
from headwater.ingest import inbox as inbox_module
from headwater.server import create_app
from tests.conftest import Backend
from tests.ingest.projects import PAY, SECRET, SECRETS_ENV, STRIPE_SECRET, write_project

ORDER = {"id": 1, "email": "a@example.com", "total": 12.5, "created_at": "2026-12-01T10:00:00Z"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in {**SECRETS_ENV, "PAY_SECRET_OLD": "old-stripe-secret"}.items():
        monkeypatch.setenv(name, value)
    return write_project(tmp_path / "project", pay=PAY)


def _app(backend: Backend, database: Database, home: Path, project: Path, **settings: Any) -> Any:
    config = load_settings(database_url=backend.url, home=home, project=project, **settings)
    return create_app(config, database)


@pytest.fixture
def client(
    backend: Backend, database: Database, tmp_path: Path, project: Path
) -> Iterator[TestClient]:
    with TestClient(_app(backend, database, tmp_path, project)) as c:
        yield c


def _body(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def _post(
    client: TestClient,
    payload: dict[str, Any] | bytes,
    event_id: str = "evt-1",
    *,
    topic: str = "web/orders",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else _body(payload)
    signed = ingest.sign("shopify", SECRET, body, event_id=event_id, now=time.time())
    return client.post(f"/ingest/{topic}", content=body, headers={**signed, **(headers or {})})


def _rows(database: Database, table: Any) -> list[Any]:
    with database.read() as connection:
        return list(connection.execute(select(table)).mappings())


def _counters(database: Database) -> dict[tuple[str, str, str], int]:
    return {
        (r["source"], r["topic"], r["counter"]): r["value"]
        for r in _rows(database, ingest_counters)
    }


def test_a_verified_delivery_is_stored_as_received_before_the_answer(
    client: TestClient, database: Database
) -> None:
    body = _body(ORDER)
    answer = _post(client, body, "evt-1")
    assert answer.status_code == 200
    assert answer.json() == {"status": "stored", "event_id": "evt-1"}
    # No waiting: the row is committed by the time the 200 is sent.
    [row] = _rows(database, ingest_inbox)
    assert (row["source"], row["topic"], row["event_id"]) == ("web", "orders", "evt-1")
    assert row["webhook_id"] == "evt-1-delivery"
    assert row["body"] == body  # the exact bytes that were signed
    assert row["batch_id"] is None


def test_a_duplicate_event_answers_200_and_stores_nothing_new(
    backend: Backend, database: Database, tmp_path: Path, project: Path
) -> None:
    with TestClient(_app(backend, database, tmp_path, project)) as client:
        assert _post(client, ORDER, "evt-1").json()["status"] == "stored"
        again = _post(client, ORDER, "evt-1", headers={"X-Shopify-Webhook-Id": "retry-2"})
        assert again.status_code == 200
        assert again.json() == {"status": "duplicate", "event_id": "evt-1"}
    [row] = _rows(database, ingest_inbox)
    assert row["webhook_id"] == "evt-1-delivery"  # the first delivery's
    assert _counters(database) == {("web", "orders", "duplicates"): 1}


def test_a_delivery_that_breaks_the_declared_columns_goes_to_the_dead_letters(
    client: TestClient, database: Database
) -> None:
    answer = _post(client, {**ORDER, "total": "12,50"}, "evt-bad")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "dead_letter",
        "event_id": "evt-bad",
        "reason": 'total: expected a number, got "12,50"',
    }
    assert _rows(database, ingest_inbox) == []
    [dead] = _rows(database, ingest_dead_letters)
    assert (dead["event_id"], dead["reason"], dead["replayed_at"]) == (
        "evt-bad",
        'total: expected a number, got "12,50"',
        None,
    )
    assert _post(client, {**ORDER, "total": "12,50"}, "evt-bad").json()["status"] == "duplicate"
    # An event stored once is not dead-lettered by a later, different delivery of it.
    assert _post(client, ORDER, "evt-ok").json()["status"] == "stored"
    assert _post(client, {"id": "x"}, "evt-ok").json()["status"] == "duplicate"
    assert len(_rows(database, ingest_dead_letters)) == 1


def test_refused_deliveries_store_nothing_and_are_counted(
    backend: Backend, database: Database, tmp_path: Path, project: Path
) -> None:
    with TestClient(_app(backend, database, tmp_path, project)) as client:
        forged = _post(client, ORDER, headers={"X-Shopify-Hmac-SHA256": "AAAA"})
        assert forged.status_code == 401
        assert forged.json() == {
            "code": 401,
            "message": "signature refused: X-Shopify-Hmac-SHA256 does not match the body",
        }
        assert forged.headers["www-authenticate"] == 'Signature scheme="shopify"'
        unsigned = client.post("/ingest/web/orders", content=_body(ORDER))
        assert unsigned.status_code == 401
        assert "missing X-Shopify-Hmac-SHA256 header" in unsigned.json()["message"]

        not_json = _post(client, b"{not json")
        assert not_json.status_code == 400
        assert not_json.json()["message"].startswith("body: not valid JSON")
        array = _post(client, b"[1]")
        assert (array.status_code, array.json()["message"]) == (
            400,
            "body: must be a JSON object, got list",
        )
        big = _post(client, _body({**ORDER, "email": "x" * 3000}))
        assert big.status_code == 413
        assert big.json()["message"] == "body: over the 2048-byte limit of source web"
        body = _body(ORDER)
        headers = ingest.sign("shopify", SECRET, body, event_id="e", now=time.time())
        del headers["X-Shopify-Event-Id"]
        no_id = client.post("/ingest/web/orders", content=body, headers=headers)
        assert no_id.status_code == 400
        assert "X-Shopify-Event-Id" in no_id.json()["message"]

        assert _post(client, ORDER, topic="web/refunds").status_code == 404
        assert _post(client, ORDER, topic="nowhere/orders").json() == {
            "code": 404,
            "message": "webhook source 'nowhere' not found",
        }
    assert _rows(database, ingest_inbox) == []
    assert _rows(database, ingest_dead_letters) == []
    assert _counters(database) == {
        ("web", "orders", "rejected"): 2,
        ("web", "orders", "malformed"): 4,
    }


def test_stripe_deliveries_verify_with_either_secret_while_one_is_rotated(
    client: TestClient, database: Database
) -> None:
    for n, secret in enumerate([STRIPE_SECRET, "old-stripe-secret"]):
        body = _body({"id": f"evt_{n}", "amount": 500})
        headers = ingest.sign("stripe", secret, body, event_id="unused", now=time.time())
        answer = client.post("/ingest/pay/refunds", content=body, headers=headers)
        assert answer.json() == {"status": "stored", "event_id": f"evt_{n}"}
    assert [r["event_id"] for r in _rows(database, ingest_inbox)] == ["evt_0", "evt_1"]


def test_over_the_backlog_limit_deliveries_get_503_with_retry_after(
    backend: Backend, database: Database, tmp_path: Path, project: Path
) -> None:
    app = _app(backend, database, tmp_path, project, ingest_max_backlog=2)
    with TestClient(app) as client:
        assert _post(client, ORDER, "evt-1").status_code == 200
        assert _post(client, ORDER, "evt-2").status_code == 200
        refused = _post(client, ORDER, "evt-3")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert "2 deliveries waiting to be landed (limit 2)" in refused.json()["message"]
    assert [r["event_id"] for r in _rows(database, ingest_inbox)] == ["evt-1", "evt-2"]
    assert _counters(database) == {("web", "orders", "backpressure"): 1}


def test_concurrent_deliveries_share_commits(
    backend: Backend, database: Database, tmp_path: Path, project: Path
) -> None:
    app = _app(backend, database, tmp_path, project)

    async def send_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def one(n: int) -> int:
                body = _body({**ORDER, "id": n})
                headers = ingest.sign("shopify", SECRET, body, event_id=f"e{n}", now=time.time())
                answer = await http.post("/ingest/web/orders", content=body, headers=headers)
                return answer.status_code

            return await asyncio.gather(*(one(n) for n in range(200)))

    statuses = asyncio.run(send_all())
    writer = app.state.ingest.writer
    writer.close()
    assert statuses == [200] * 200
    assert len(_rows(database, ingest_inbox)) == 200
    assert writer.groups < 200  # deliveries queued during one commit went into the next


def test_a_failed_commit_stores_none_of_its_group_and_each_answers_503(
    backend: Backend,
    database: Database,
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _app(backend, database, tmp_path, project)
    writer = app.state.ingest.writer
    real_store_group = inbox_module.store_group
    first_commit_started = threading.Event()

    def store_group(connection: Any, deliveries: list[ingest.Delivery]) -> list[ingest.Outcome]:
        ids = [delivery.event_id for delivery in deliveries]
        if "first" in ids:
            first_commit_started.set()
            deadline = time.monotonic() + 30
            while writer._queue.qsize() < 3 and time.monotonic() < deadline:
                time.sleep(0.01)  # the next three queue up meanwhile: they form one group
        outcomes = real_store_group(connection, deliveries)
        if "boom" in ids:  # after the rows went in: the transaction must take them back
            raise RuntimeError("disk full")
        return outcomes

    monkeypatch.setattr(inbox_module, "store_group", store_group)

    async def send_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def one(event_id: str) -> int:
                if event_id != "first":
                    await asyncio.to_thread(first_commit_started.wait, 30)
                body = _body(ORDER)
                headers = ingest.sign("shopify", SECRET, body, event_id=event_id, now=time.time())
                answer = await http.post("/ingest/web/orders", content=body, headers=headers)
                return answer.status_code

            return await asyncio.gather(*(one(e) for e in ("first", "a", "boom", "b")))

    statuses = asyncio.run(send_all())
    writer.close()
    assert statuses == [200, 503, 503, 503]
    assert [r["event_id"] for r in _rows(database, ingest_inbox)] == ["first"]
    assert _counters(database) == {("web", "orders", "unavailable"): 3}
