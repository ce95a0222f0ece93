"""Readiness: one check per component, each ``ok``, ``down`` with what to do, or ``off``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headwater.config import load_settings
from headwater.db import Database
from headwater.db.schema import ops_heartbeats
from headwater.lake import Lake, warehouse_uri
from headwater.ops import CONSUMER, SCHEDULER, HealthTargets, Heartbeat, check_health
from headwater.server import create_app
from tests.conftest import Backend
from tests.ingest.projects import SECRETS_ENV, write_project


@pytest.fixture
def targets(database: Database, lake: Lake, tmp_path: Path) -> HealthTargets:
    return HealthTargets(
        database=database,
        lake=lambda: lake,
        warehouse=lake.warehouse,
        home=tmp_path,
        min_free_disk_bytes=0,
    )


def statuses(targets: HealthTargets) -> dict[str, str]:
    return {check.name: check.status for check in check_health(targets).checks}


def detail(targets: HealthTargets, name: str) -> str:
    return next(c.detail for c in check_health(targets).checks if c.name == name)


def with_(targets: HealthTargets, **changes: object) -> HealthTargets:
    from dataclasses import replace

    return replace(targets, **changes)  # type: ignore[arg-type]


def test_a_fresh_install_is_ready_with_its_optional_components_off(
    targets: HealthTargets,
) -> None:
    report = check_health(targets)
    assert report.status == "ok"
    assert {c.name: c.status for c in report.checks} == {
        "database": "ok",
        "catalog": "ok",
        "warehouse": "ok",
        "consumer": "off",
        "scheduler": "off",
        "disk": "ok",
    }
    assert all(c.ms >= 0 for c in report.checks)


def test_a_database_missing_migrations_is_down_and_says_what_to_run(
    empty_backend: Backend, tmp_path: Path
) -> None:
    database = Database(empty_backend.url)
    lake = Lake(empty_backend.url, tmp_path / "warehouse")
    try:
        targets = HealthTargets(database, lambda: lake, lake.warehouse, tmp_path, 0)
        report = check_health(targets)
        assert report.status == "down"
        assert "headwater db upgrade" in detail(targets, "database")
    finally:
        lake.close()
        database.dispose()


def test_an_unreachable_database_is_down_and_nothing_raises(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    database = Database(url)

    def no_lake() -> Lake:
        raise ConnectionError("catalog database unreachable")

    targets = HealthTargets(database, no_lake, warehouse_uri(tmp_path / "w"), tmp_path, 0)
    found = statuses(targets)
    assert found["database"] == "down" and found["catalog"] == "down"
    assert found["warehouse"] == "ok"
    database.dispose()


def test_a_warehouse_that_cannot_be_written_is_down(targets: HealthTargets, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the warehouse should be")
    broken = with_(targets, warehouse=warehouse_uri(blocker / "warehouse"))
    assert statuses(broken)["warehouse"] == "down"
    assert not list((tmp_path / "warehouse").rglob(".headwater-health/*")), "probe left behind"


def test_low_disk_space_is_down_and_says_how_much_is_free(targets: HealthTargets) -> None:
    low = with_(targets, min_free_disk_bytes=2**62)
    assert statuses(low)["disk"] == "down"
    assert "GiB free" in detail(low, "disk")


def test_an_expected_consumer_that_is_not_running_is_down(targets: HealthTargets) -> None:
    expecting = with_(targets, expect_consumer=True)
    assert statuses(expecting)["consumer"] == "down"
    assert "headwater ingest consume" in detail(expecting, "consumer")


def test_a_beating_component_is_ok_and_removes_itself_when_it_stops(
    targets: HealthTargets, database: Database
) -> None:
    expecting = with_(targets, expect_consumer=True, expect_scheduler=True)
    with Heartbeat(database, SCHEDULER):
        assert statuses(expecting)["scheduler"] == "ok"
        assert "1 running" in detail(expecting, "scheduler")
    with database.read() as connection:
        assert connection.execute(ops_heartbeats.select()).all() == []
    assert statuses(expecting)["scheduler"] == "down"


def test_a_heartbeat_writes_at_most_once_per_interval(database: Database) -> None:
    now = [0.0]
    beat = Heartbeat(database, CONSUMER, every_s=5, clock=lambda: now[0])

    def beat_at() -> datetime:
        with database.read() as connection:
            return connection.execute(ops_heartbeats.select()).one().beat_at  # type: ignore[no-any-return]

    with beat:
        first = beat_at()
        now[0] = 4.9
        beat()
        assert beat_at() == first
        now[0] = 5.0
        beat()
        assert beat_at() > first


def test_a_component_that_died_without_saying_so_is_down(
    targets: HealthTargets, database: Database
) -> None:
    died(database, "elsewhere:42")
    # Not expected by the configuration, but it was running: its silence is news.
    assert statuses(targets)["consumer"] == "down"
    assert "stopped without saying so" in detail(targets, "consumer")
    assert "elsewhere:42" in detail(targets, "consumer")


def died(database: Database, instance: str) -> None:
    """A consumer that beat five minutes ago and never again."""
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with database.write() as connection:
        connection.execute(
            ops_heartbeats.insert().values(
                component=CONSUMER,
                instance=instance,
                started_at=long_ago,
                beat_at=long_ago,
                details={},
            )
        )


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def consumer(backend: Backend, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``headwater ingest consume`` as a real long-running process."""
    project = write_project(tmp_path / "project")
    env = {
        **os.environ,
        **SECRETS_ENV,
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "ingest", "consume", "--project", str(project)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.mark.slow
def test_a_real_consumer_is_seen_running_and_a_kill_9_is_seen_as_down(
    targets: HealthTargets, consumer: subprocess.Popen[bytes]
) -> None:
    expecting = with_(targets, expect_consumer=True, stale_after_s=1.0)
    _until(lambda: statuses(expecting)["consumer"] == "ok", "the consumer's first beat")
    consumer.send_signal(signal.SIGKILL)
    consumer.wait(timeout=30)
    time.sleep(1.5)
    assert statuses(expecting)["consumer"] == "down"
    assert "stopped without saying so" in detail(expecting, "consumer")


@pytest.mark.slow
def test_a_consumer_stopped_with_sigterm_deregisters(
    targets: HealthTargets, consumer: subprocess.Popen[bytes]
) -> None:
    expecting = with_(targets, expect_consumer=True)
    _until(lambda: statuses(expecting)["consumer"] == "ok", "the consumer's first beat")
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(timeout=30) == 0
    assert detail(expecting, "consumer").startswith("not running")


def test_ready_answers_200_with_every_check_and_needs_no_token(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    settings = load_settings(
        database_url=backend.url, home=tmp_path, auth_enabled=True, min_free_disk_mb=0
    )
    with TestClient(create_app(settings, database)) as client:
        answer = client.get("/health/ready")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "ok"
        assert [c["name"] for c in body["checks"]] == [
            "database",
            "catalog",
            "warehouse",
            "consumer",
            "scheduler",
            "disk",
        ]
        assert str(tmp_path) not in answer.text, "a public answer names no paths"


def test_ready_answers_503_when_a_component_is_down(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    settings = load_settings(database_url=backend.url, home=tmp_path, min_free_disk_mb=2**40)
    with TestClient(create_app(settings, database)) as client:
        answer = client.get("/health/ready")
        assert answer.status_code == 503
        disk = next(c for c in answer.json()["checks"] if c["name"] == "disk")
        assert disk["status"] == "down"


def test_a_new_instance_replaces_the_ones_that_died(
    targets: HealthTargets, database: Database
) -> None:
    died(database, "gone:1")
    with Heartbeat(database, CONSUMER):
        with database.read() as connection:
            instances = [r.instance for r in connection.execute(ops_heartbeats.select())]
        assert "gone:1" not in instances and len(instances) == 1
    assert detail(with_(targets, expect_consumer=True), "consumer").startswith("not running")
