"""The operations commands, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Backend, free_port, running_server
from tests.ingest.projects import SECRETS_ENV, write_project
from tests.test_cli import headwater


def env_for(backend: Backend, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path),
        "HEADWATER_MIN_FREE_DISK_MB": "0",
        **extra,
    }


def test_health_prints_every_component_and_exits_0_when_none_is_down(
    backend: Backend, tmp_path: Path
) -> None:
    result = headwater("health", env=env_for(backend, tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("database", "catalog", "warehouse", "consumer", "scheduler", "disk"):
        assert name in result.stdout


def test_health_exits_1_and_names_what_is_down(backend: Backend, tmp_path: Path) -> None:
    env = env_for(backend, tmp_path, HEADWATER_MIN_FREE_DISK_MB="1000000000")
    result = headwater("health", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "down"
    assert {c["name"]: c["status"] for c in report["checks"]}["disk"] == "down"


def test_a_project_with_webhooks_needs_a_running_consumer(backend: Backend, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    env = env_for(backend, tmp_path, **SECRETS_ENV)
    result = headwater("health", "--json", "--project", str(project), env=env, cwd=tmp_path)
    assert result.returncode == 1
    consumer = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "consumer")
    assert consumer["status"] == "down"
    assert "headwater ingest consume" in consumer["detail"]


def test_health_asks_a_running_server_whose_settings_decide(
    backend: Backend, tmp_path: Path
) -> None:
    with running_server(backend, tmp_path, env={"HEADWATER_MIN_FREE_DISK_MB": "0"}) as server:
        result = headwater("health", "--json", "--url", server.url, env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert len(report["checks"]) == 6


def test_health_of_a_server_that_does_not_answer_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = headwater("health", "--url", url, env={}, cwd=tmp_path)
    assert result.returncode == 1
    assert "did not answer" in result.stdout
