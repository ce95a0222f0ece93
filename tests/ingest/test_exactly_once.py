"""Every delivery lands exactly once, however often the consumer is killed.

A real ``headwater serve`` receives N signed deliveries (some sent twice) while real
``headwater ingest consume`` processes are started and killed with SIGKILL: at random moments,
and at each step boundary of a landing (``HEADWATER_FAULT_INJECT``). A last ``consume --once``
finishes. The raw table must then hold exactly the N distinct events, each once, and the audit
log must verify.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from headwater import ingest
from headwater.audit import verify_log
from headwater.db import Database
from headwater.db.schema import ingest_inbox
from headwater.lake import Lake
from tests.conftest import Backend, running_server
from tests.ingest.deliveries import order
from tests.ingest.projects import SECRET, SECRETS_ENV, write_project

DELIVERIES = 300
RANDOM_KILLS = 3
POINTS = ["before-append", "after-append", "after-mark"]


def _consumer(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "ingest", "consume", *args],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_9_at_any_point_loses_and_doubles_nothing(backend: Backend, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    warehouse = tmp_path / "warehouse"
    env = {
        **SECRETS_ENV,
        "HEADWATER_PROJECT": str(project),
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(warehouse),
    }
    consume = ["--project", str(project), "--max-rows", "37", "--max-wait-s", "0"]
    stored: set[str] = set()
    with running_server(backend, tmp_path, env) as server:

        def send(numbers: range) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for n in numbers:
                    body = orjson.dumps(order(n))
                    for _ in range(2 if n % 10 == 0 else 1):  # some providers resend
                        headers = ingest.sign(
                            "shopify", SECRET, body, event_id=f"evt-{n}", now=time.time()
                        )
                        answer = http.post("/ingest/web/orders", content=body, headers=headers)
                        assert answer.status_code == 200, answer.text
                    stored.add(f"evt-{n}")

        # Half the deliveries arrive while consumers are killed at random moments.
        half = DELIVERIES // 2
        sender = threading.Thread(target=send, args=(range(half),))
        sender.start()
        chance = random.Random(20261201)
        for _ in range(RANDOM_KILLS):
            process = _consumer(consume, env, tmp_path)
            time.sleep(chance.uniform(0.3, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
        sender.join()
        # Then, with deliveries waiting each time, one killed at each step of a landing.
        step = (DELIVERIES - half) // len(POINTS)
        for i, point in enumerate(POINTS):
            send(range(half + i * step, half + (i + 1) * step))
            faulty = {**env, "HEADWATER_FAULT_INJECT": f"{point}@ingest:web/orders"}
            process = _consumer(consume, faulty, tmp_path)
            _, error = process.communicate(timeout=120)
            assert process.returncode == -signal.SIGKILL, error.decode()[-2000:]
    assert len(stored) == DELIVERIES
    final = subprocess.run(
        [sys.executable, "-m", "headwater", "ingest", "consume", "--once", *consume],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr

    lake = Lake(backend.url, warehouse)
    table = lake.load("raw.web_orders")
    assert table is not None
    landed = table.scan(selected_fields=("_hw_event_id",)).to_arrow().column(0).to_pylist()
    lake.close()
    assert len(landed) == DELIVERIES, "some deliveries landed twice or not at all"
    assert set(landed) == stored
    database = Database(backend.url)
    with database.read() as connection:
        waiting = connection.execute(
            select(func.count()).where(ingest_inbox.c.batch_id.is_(None))
        ).scalar()
        assert waiting == 0
        assert verify_log(connection).ok
    database.dispose()
