"""Logs: JSON lines with the run at hand on every line, rotation by size, levels by setting."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headwater import logs
from headwater.config import load_settings
from headwater.db import Database
from headwater.lake import Lake
from tests.conftest import Backend, running_server
from tests.pipeline.projects import delivered_project, run_project
from tests.test_cli import headwater


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_pipeline_run_logs_json_lines_that_name_its_runs(
    database: Database, lake: Lake, tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "headwater.log"
    logs.configure(load_settings(home=tmp_path, log_format="json", log_file=log_file))
    result = run_project(delivered_project(tmp_path / "project", lake), database, lake)
    found = lines(log_file)
    assert found, "the run logged"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in found)
    models = [line for line in found if line.get("model") == "staging.stg_orders"]
    assert models and all(line["pipeline_run_id"] == result.run_uuid for line in models)
    model_run = result.outcomes["staging.stg_orders"].record.run_uuid
    assert {line["run_id"] for line in models} == {model_run}
    assert any(line["message"] == f"pipeline run {result.run_uuid} COMPLETED" for line in found)


def test_bound_fields_nest_and_end_with_their_block(tmp_path: Path) -> None:
    log_file = tmp_path / "h.log"
    logs.configure(load_settings(home=tmp_path, log_format="json", log_file=log_file))
    log = logging.getLogger("headwater.test")
    with logs.bound(schedule="nightly"):
        with logs.bound(run_id="r1"):
            log.info("inner")
        log.info("outer")
    log.info("after")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    inner, outer, after, failed = lines(log_file)
    assert (inner["schedule"], inner["run_id"]) == ("nightly", "r1")
    assert outer["schedule"] == "nightly" and "run_id" not in outer
    assert "schedule" not in after
    assert "ValueError: boom" in str(failed["exception"])


def test_the_log_file_rotates_by_size_and_keeps_the_backups_asked_for(tmp_path: Path) -> None:
    log_file = tmp_path / "h.log"
    settings = load_settings(
        home=tmp_path, log_file=log_file, log_max_bytes=2000, log_backups=2, log_format="json"
    )
    logs.configure(settings)
    log = logging.getLogger("headwater.test")
    for n in range(200):
        log.info("line %d with some padding to fill the file", n)
    rotated = sorted(p.name for p in tmp_path.glob("h.log*"))
    assert rotated == ["h.log", "h.log.1", "h.log.2"]
    assert all(p.stat().st_size <= 2200 for p in tmp_path.glob("h.log*"))


def test_the_level_setting_drops_what_is_below_it(tmp_path: Path) -> None:
    log_file = tmp_path / "h.log"
    logs.configure(load_settings(home=tmp_path, log_file=log_file, log_level="warning"))
    log = logging.getLogger("headwater.test")
    log.info("not shown")
    log.warning("shown")
    text = log_file.read_text()
    assert "shown" in text and "not shown" not in text


@pytest.mark.slow
def test_the_server_logs_its_requests_as_json(backend: Backend, tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    env = {"HEADWATER_LOG_FORMAT": "json", "HEADWATER_LOG_FILE": str(log_file)}
    with running_server(backend, tmp_path, env) as server:
        assert httpx.get(f"{server.url}/api/v1/namespaces").status_code == 200
    found = lines(log_file)
    access = [line for line in found if line["logger"] == "uvicorn.access"]
    assert any("/api/v1/namespaces" in str(line["message"]) for line in access)


def test_a_bad_log_format_is_refused_naming_the_setting(tmp_path: Path) -> None:
    result = headwater(
        "serve", env={"HEADWATER_LOG_FORMAT": "xml", "HEADWATER_HOME": str(tmp_path)}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "invalid setting log_format: Value error, must be text or json" in result.stderr
