"""The pipeline commands, as a user runs them: real processes, JSON for scripts, exit codes.

Specification: ``run`` exits 0 when every model completed and 1 otherwise; bad input (a broken
project, an unknown table, a malformed query or ``--as-of``) exits 2 with a one-line message
naming what is wrong, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.lake import Lake
from headwater.pipeline import load_project
from headwater.pipeline.runner import ensure_sources
from tests.conftest import Backend
from tests.pipeline.projects import append_orders, orders, write_project
from tests.test_cli import headwater


@pytest.fixture
def env(backend: Backend, tmp_path: Path) -> dict[str, str]:
    return {
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(tmp_path / "warehouse"),
    }


@pytest.fixture
def project_dir(tmp_path: Path, backend: Backend) -> Path:
    root = write_project(tmp_path / "project")
    lake = Lake(backend.url, tmp_path / "warehouse")
    ensure_sources(load_project(root), lake)
    append_orders(lake, orders(0, 30))
    lake.close()
    return root


@pytest.mark.slow
def test_run_then_inspect_runs_tables_rows_and_time_travel(
    project_dir: Path, env: dict[str, str], tmp_path: Path, backend: Backend
) -> None:
    run = headwater("run", "-p", str(project_dir), "--json", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "COMPLETED"
    assert summary["models"]["staging.stg_orders"]["rows_written"] == 30
    first_snapshot = summary["models"]["marts.totals"]["snapshot"]

    pretty = headwater("run", "-p", str(project_dir), env=env, cwd=tmp_path)
    assert pretty.returncode == 0, pretty.stderr
    assert "staging.stg_orders" in pretty.stdout and "COMPLETED" in pretty.stdout

    runs = json.loads(headwater("runs", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [r["status"] for r in runs] == ["COMPLETED", "COMPLETED"]
    assert runs[1]["models"] == {"COMPLETED": 3}
    shown = headwater("runs", "show", summary["run_id"][:8], "--json", env=env, cwd=tmp_path)
    detail = json.loads(shown.stdout)
    assert detail["model_runs"][0]["model"] == "staging.stg_orders"
    assert detail["model_runs"][-1]["tests"][0]["status"] == "pass"
    human = headwater("runs", "show", summary["run_id"], env=env, cwd=tmp_path)
    assert "not_null(orders)" in human.stdout

    tables = json.loads(headwater("tables", "list", "--json", env=env, cwd=tmp_path).stdout)
    by_name = {t["table"]: t for t in tables}
    assert by_name["staging.stg_orders"]["rows"] == 30
    assert set(by_name) == {
        "raw.orders",
        "staging.stg_orders",
        "analytics.order_log",
        "marts.totals",
    }

    lake = Lake(backend.url, tmp_path / "warehouse")
    append_orders(lake, orders(30, 5))
    lake.close()
    assert headwater("run", "-p", str(project_dir), env=env, cwd=tmp_path).returncode == 0
    now = json.loads(headwater("show", "marts.totals", "--json", env=env, cwd=tmp_path).stdout)
    then = headwater(
        "show", "marts.totals", "--as-of", str(first_snapshot), "--json", env=env, cwd=tmp_path
    )
    assert now == [{"orders": 35, "revenue": float(sum(range(35)))}]
    assert json.loads(then.stdout) == [{"orders": 30, "revenue": float(sum(range(30)))}]
    by_time = headwater(
        "show", "marts.totals", "--as-of", runs[0]["ended_at"], "--json", env=env, cwd=tmp_path
    )
    assert json.loads(by_time.stdout) == json.loads(then.stdout)

    query = headwater(
        "sql",
        "SELECT count(*) AS n FROM staging.stg_orders WHERE amount >= 10",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert json.loads(query.stdout) == [{"n": 25}]
    tested = headwater("test", "-p", str(project_dir), "--json", env=env, cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr
    assert {t["name"]: t["status"] for t in json.loads(tested.stdout)} == {
        "not_null(orders)": "pass",
        "row_count": "pass",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "staging.nope"], "no table staging.nope"),
        (["show", "raw.orders", "--as-of", "yesterday"], "--as-of: must be a snapshot id"),
        (["show", "raw.orders", "--as-of", "12345"], "raw.orders has no snapshot 12345"),
        (["sql", "SELEC 1"], "query: Parser Error"),
        (["run", "-p", "{missing}"], "no headwater.yml here"),
        (["run", "-p", "{project}", "-s", "nothing"], "no model or source is called 'nothing'"),
        (["runs", "show", "ffffffff"], "no single pipeline run starts with 'ffffffff'"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_it(
    project_dir: Path, env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    args = [
        a.replace("{missing}", str(tmp_path / "missing")).replace("{project}", str(project_dir))
        for a in args
    ]
    result = headwater(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_failing_model_makes_run_exit_1(
    project_dir: Path, env: dict[str, str], tmp_path: Path
) -> None:
    (project_dir / "models/marts/totals.sql").write_text(
        "SELECT count(*) AS orders, sum(amount) AS revenue, 1/0 AS x, error('boom') AS y "
        "FROM analytics.order_log\n"
    )
    result = headwater("run", "-p", str(project_dir), "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "boom" in json.loads(result.stdout)["models"]["marts.totals"]["message"]
