"""Killed mid-write (kill -9), a writer leaves the log whole: every stored lineage event has
exactly one audit entry and the chain verifies, however often it was killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import audit_log, lineage_events
from tests.conftest import Backend

pytestmark = pytest.mark.slow

# Writes batches of fresh events until killed; prints a line once the first batch committed.
WRITER = """
import sys, uuid
from headwater.db import Database
from headwater.lineage import LineageWriter, validate_event
from tests.lineage.events_factory import dataset, run_event

writer = LineageWriter(Database(sys.argv[1]))
first = True
while True:
    batch = [
        validate_event(run_event("START", run_id=str(uuid.uuid4()), job=f"job_{n % 7}",
                                 inputs=[dataset(f"in_{n % 5}")], outputs=[dataset(f"out_{n}")]))
        for n in range(20)
    ]
    writer.write_batch(batch, "token:crash-test")
    if first:
        print("committed", flush=True)
        first = False
"""


def test_kill_9_at_random_points_never_separates_events_from_their_entries(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    chance = random.Random(20261201)
    root = Path(__file__).resolve().parents[2]
    for _ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, backend.url],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "committed", process.stderr
        time.sleep(chance.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    with database.read() as connection:
        events = connection.execute(select(func.count()).select_from(lineage_events)).scalar()
        entries = connection.execute(
            select(func.count()).where(audit_log.c.action == "lineage.event")
        ).scalar()
        report = audit.verify_log(connection)
    assert events is not None and events >= 4 * 20
    assert entries == events
    assert report.ok, report.finding
