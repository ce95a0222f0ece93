"""A 2xx means stored: killing the server (kill -9) right after any answer loses nothing.

Runs ``headwater serve`` as a real process on each backend, sends signed deliveries from
several threads, kills the server while they are in flight, and checks that every delivery
that was answered 200 is in the inbox.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import orjson
from sqlalchemy import select

from headwater import ingest
from headwater.db import Database
from headwater.db.schema import ingest_inbox
from tests.conftest import Backend, running_server
from tests.ingest.projects import SECRET, SECRETS_ENV, write_project

SENDERS = 4
KILL_AFTER = 120  # answered deliveries


def test_every_answered_delivery_survives_a_kill_9(backend: Backend, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    env = {**SECRETS_ENV, "HEADWATER_PROJECT": str(project)}
    answered: list[str] = []
    lock = threading.Lock()
    with running_server(backend, tmp_path, env) as server:

        def send(sender: int) -> None:
            with httpx.Client(base_url=server.url, timeout=5) as http:
                for n in range(10_000):
                    event_id = f"s{sender}-{n}"
                    body = orjson.dumps({"id": n, "email": f"{event_id}@example.com"})
                    headers = ingest.sign(
                        "shopify", SECRET, body, event_id=event_id, now=time.time()
                    )
                    try:
                        answer = http.post("/ingest/web/orders", content=body, headers=headers)
                    except httpx.HTTPError:
                        return  # the server is gone
                    if answer.status_code == 200:
                        with lock:
                            answered.append(event_id)

        threads = [threading.Thread(target=send, args=(s,)) for s in range(SENDERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(answered) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.005)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        for thread in threads:
            thread.join()
    assert len(answered) >= KILL_AFTER, server.log.read_text()[-2000:]
    database = Database(backend.url)
    with database.read() as connection:
        stored = set(connection.execute(select(ingest_inbox.c.event_id)).scalars())
    database.dispose()
    lost = sorted(set(answered) - stored)
    assert lost == [], f"{len(lost)} answered deliveries lost: {lost[:5]}"
    # The kill came while deliveries were in flight, not after they all finished.
    assert len(stored) < SENDERS * 10_000


def test_the_inbox_commits_with_a_synced_write_on_sqlite(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/durable.db")
    with database.write(durable=True) as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    with database.write() as connection:  # other writers keep NORMAL on the same connection
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1
    database.dispose()
