"""The operations commands, run as real processes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import lineage_events
from headwater.faults import FAULT_VARIABLE
from headwater.lake import Lake
from tests.conftest import Backend, free_port, running_server
from tests.ingest.projects import SECRETS_ENV, write_project
from tests.ops.stores import post_runs
from tests.pipeline.projects import append_orders, delivered_project, orders, rows
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


def table_env(backend: Backend, tmp_path: Path) -> dict[str, str]:
    return {**env_for(backend, tmp_path), "HEADWATER_WAREHOUSE": str(tmp_path / "warehouse")}


@pytest.fixture
def small_files(database: Database, lake: Lake, tmp_path: Path) -> Path:
    """raw.orders in 6 small appends, in the warehouse the commands find."""
    root = delivered_project(tmp_path / "project", lake, count=10)
    for batch in range(1, 6):
        append_orders(lake, orders(batch * 10, 10))
    return root


def test_table_commands_are_dry_runs_until_execute(
    backend: Backend, tmp_path: Path, small_files: Path, lake: Lake
) -> None:
    env = table_env(backend, tmp_path)
    dry = headwater("table", "compact", "raw.orders", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would rewrite 6 of 6 data files" in dry.stdout
    assert "dry run: add --execute" in dry.stderr

    done = headwater("table", "compact", "raw.orders", "--execute", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["executed"] is True and report["files_after"] == 1

    history = headwater("table", "history", "raw.orders", "--json", env=env, cwd=tmp_path)
    entries = json.loads(history.stdout)
    assert entries[0]["maintenance"] == "compact" and entries[0]["current"] is True
    assert entries[0]["action"] == "table.compact"
    assert entries[0]["actor"].startswith("cli:")

    expire = headwater(
        "table",
        "expire",
        "raw.orders",
        "--older-than",
        "0s",
        "--retain-last",
        "1",
        "--execute",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert expire.returncode == 0, expire.stderr
    assert len(json.loads(expire.stdout)["snapshots_expired"]) == 6

    first = entries[-1]["snapshot"]
    rollback = headwater(
        "table", "rollback", "raw.orders", "--to", str(first), env=env, cwd=tmp_path
    )
    assert rollback.returncode == 2
    assert f"--to: raw.orders has no snapshot {first}" in rollback.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("table", "compact", "raw.nope"), "TABLE: no table raw.nope"),
        (("table", "expire", "raw.orders", "--older-than", "soon"), "--older-than: must be"),
        (("table", "orphans", "raw.orders", "--older-than", "-3d"), "--older-than: must be"),
        (("table", "rollback", "raw.orders", "--to", "yesterday"), "--to: must be a snapshot id"),
        (("table", "compact", "raw.orders", "--target-size-mb", "0"), "Invalid value"),
    ],
)
def test_table_commands_name_what_is_wrong_and_exit_2(
    backend: Backend, tmp_path: Path, small_files: Path, args: tuple[str, ...], message: str
) -> None:
    result = headwater(*args, env=table_env(backend, tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_compaction_killed_before_its_commit_changes_nothing(
    backend: Backend, tmp_path: Path, small_files: Path, lake: Lake
) -> None:
    before = rows(lake, "raw.orders")
    env = {**table_env(backend, tmp_path), FAULT_VARIABLE: "compact-before-commit@raw.orders"}
    killed = headwater("table", "compact", "raw.orders", "--execute", env=env, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    table = lake.load("raw.orders")
    assert table is not None and len(table.snapshots()) == 6
    assert sorted(map(str, rows(lake, "raw.orders"))) == sorted(map(str, before))
    # What it had written is an orphan: nothing refers to it.
    found = headwater(
        "table",
        "orphans",
        "raw.orders",
        "--older-than",
        "0s",
        "--json",
        env=table_env(backend, tmp_path),
        cwd=tmp_path,
    )
    assert [p.endswith(".parquet") for p in json.loads(found.stdout)["orphans"]] == [True]


@pytest.mark.slow
def test_an_expiry_killed_after_its_commit_leaves_only_orphans(
    backend: Backend, tmp_path: Path, small_files: Path, lake: Lake
) -> None:
    env = {**table_env(backend, tmp_path), FAULT_VARIABLE: "expire-after-commit@raw.orders"}
    args = ("table", "expire", "raw.orders", "--older-than", "0s", "--retain-last", "1")
    killed = headwater(*args, "--execute", env=env, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    table = lake.load("raw.orders")
    assert table is not None and len(table.snapshots()) == 1
    assert len(rows(lake, "raw.orders")) == 60
    plain = table_env(backend, tmp_path)
    found = headwater(
        "table", "orphans", "raw.orders", "--older-than", "0s", "--json", env=plain, cwd=tmp_path
    )
    assert len(json.loads(found.stdout)["orphans"]) == 5  # the expired snapshots' manifest lists
    cleaned = headwater(
        "table", "orphans", "raw.orders", "--older-than", "0s", "--execute", env=plain, cwd=tmp_path
    )
    assert cleaned.returncode == 0
    assert len(rows(lake, "raw.orders")) == 60


def test_retention_counts_first_and_purges_with_execute(
    backend: Backend, tmp_path: Path, client: TestClient
) -> None:
    post_runs(client, "etl", 3)
    env = env_for(backend, tmp_path)
    dry = headwater("retention", "--older-than", "0s", "--json", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    counts = {k: v["rows"] for k, v in json.loads(dry.stdout)["categories"].items()}
    assert counts["lineage_events"] == 6 and counts["runs"] == 2
    done = headwater(
        "retention", "--older-than", "0s", "--execute", "--json", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {k: v["rows"] for k, v in json.loads(done.stdout)["categories"].items()} == counts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--older-than", "ninety days"), "--older-than: must be a duration"),
        (("--grace", "-1d"), "--grace: must be a duration"),
        (("--batch-size", "0"), "Invalid value"),
    ],
)
def test_retention_names_a_bad_option_and_exits_2(
    backend: Backend, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = headwater("retention", *args, env=env_for(backend, tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.slow
def test_a_retention_killed_between_batches_is_finished_by_the_next(
    backend: Backend, tmp_path: Path, client: TestClient, database: Database
) -> None:
    post_runs(client, "etl", 4)
    env = env_for(backend, tmp_path)
    args = ("retention", "--older-than", "0s", "--batch-size", "3", "--execute", "--json")
    killed = headwater(
        *args, env={**env, FAULT_VARIABLE: "retention-batch@lineage_events"}, cwd=tmp_path
    )
    assert killed.returncode == -signal.SIGKILL
    with database.read() as connection:
        left = connection.execute(select(func.count()).select_from(lineage_events)).scalar_one()
        assert left == 8 - 3, "the committed batch stays committed"
        assert audit.verify_log(connection).ok
    rerun = headwater(*args, env=env, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["categories"]["lineage_events"]["rows"] == 5


SCHEDULES = """
schedules:
  orders-pipeline: {run: pipeline, cron: "*/5 * * * *"}
  alerts: {run: alerts, cron: "* * * * *"}
"""


def test_trigger_runs_a_schedule_now_and_records_it(
    backend: Backend, tmp_path: Path, small_files: Path
) -> None:
    (small_files / "headwater.yml").write_text(
        (small_files / "headwater.yml").read_text() + SCHEDULES
    )
    env = table_env(backend, tmp_path)
    project = ("--project", str(small_files))
    ran = headwater("trigger", "orders-pipeline", *project, "--json", env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outcome = json.loads(ran.stdout)
    assert (outcome["status"], outcome["pipeline_status"]) == ("completed", "COMPLETED")
    runs = json.loads(headwater("runs", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert runs[0]["run_uuid"] == outcome["run_id"]
    assert runs[0]["actor"] == "trigger:orders-pipeline"
    history = json.loads(headwater("schedules", "history", "--json", env=env, cwd=tmp_path).stdout)
    assert [(h["schedule"], h["trigger"], h["status"]) for h in history] == [
        ("orders-pipeline", "manual", "completed")
    ]
    listed = json.loads(
        headwater("schedules", "list", *project, "--json", env=env, cwd=tmp_path).stdout
    )
    assert [s["name"] for s in listed] == ["orders-pipeline", "alerts"]
    assert listed[0]["last"]["status"] == "completed"
    unknown = headwater("trigger", "nightly", *project, env=env, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "NAME: no schedule 'nightly'" in unknown.stderr


def test_a_bad_schedules_section_stops_the_command_naming_the_field(
    backend: Backend, tmp_path: Path, small_files: Path
) -> None:
    (small_files / "headwater.yml").write_text(
        (small_files / "headwater.yml").read_text()
        + 'schedules:\n  nightly: {run: pipeline, cron: "at night"}\n'
    )
    result = headwater(
        "schedules",
        "list",
        "--project",
        str(small_files),
        env=table_env(backend, tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "invalid setting schedules.nightly.cron" in result.stderr


@pytest.mark.slow
def test_up_runs_the_api_the_consumer_and_the_scheduler_in_one_process(
    backend: Backend, tmp_path: Path
) -> None:
    from tests.ingest.projects import write_project as write_ingest_project

    project = write_ingest_project(tmp_path / "project")
    (project / "headwater.yml").write_text((project / "headwater.yml").read_text() + SCHEDULES)
    env = {**SECRETS_ENV, "HEADWATER_MIN_FREE_DISK_MB": "0"}
    with running_server(backend, tmp_path, env, ("up", "--project", str(project))) as server:
        deadline = time.monotonic() + 30
        while True:
            answer = httpx.get(f"{server.url}/health/ready", timeout=10)
            checks = {c["name"]: c["status"] for c in answer.json()["checks"]}
            if checks["consumer"] == checks["scheduler"] == "ok":
                break
            assert time.monotonic() < deadline, f"not all running: {answer.text}"
            time.sleep(0.2)
        assert answer.status_code == 200
    # Stopped with SIGTERM: both said goodbye, so nothing is left that looks dead.
    result = headwater(
        "health",
        "--json",
        "--project",
        str(project),
        env={**env_for(backend, tmp_path), **SECRETS_ENV},
        cwd=tmp_path,
    )
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["scheduler"]["detail"].startswith("not running")
