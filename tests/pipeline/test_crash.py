"""A run killed with SIGKILL at any point loses no row and counts none twice.

Specification: the Iceberg commit carries the model run's id; the run is published (watermarks
advanced) only after its tests, in one metadata transaction. A real ``headwater run`` process
is killed at each point of a model run; the next run reconciles and the tables hold exactly
the rows they would have without the crash.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.audit import list_entries, verify_log
from headwater.db import Database
from headwater.lake import Lake
from headwater.pipeline import load_project
from headwater.pipeline.runner import ensure_sources
from tests.conftest import Backend
from tests.pipeline.projects import append_orders, orders, rows, write_project
from tests.test_cli import headwater

POINTS = ["before-commit", "after-commit", "after-tests", "after-publish"]
MODELS = ["staging.stg_orders", "analytics.order_log"]


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("point", POINTS)
def test_a_killed_run_is_reconciled_by_the_next(
    backend: Backend, database: Database, tmp_path: Path, point: str, model: str
) -> None:
    project_dir = write_project(tmp_path / "project")
    warehouse = tmp_path / "warehouse"
    env = {
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(warehouse),
    }
    lake = Lake(backend.url, warehouse)
    ensure_sources(load_project(project_dir), lake)
    append_orders(lake, orders(0, 50))
    first = headwater("run", "--project", str(project_dir), "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # New orders, with five re-deliveries of old events.
    append_orders(lake, pa.concat_tables([orders(45, 5), orders(50, 20)]))

    killed = headwater(
        "run",
        "--project",
        str(project_dir),
        "--json",
        env={**env, "HEADWATER_FAULT_INJECT": f"{point}@{model}"},
        cwd=tmp_path,
    )
    assert killed.returncode == -signal.SIGKILL

    again = headwater("run", "--project", str(project_dir), "--json", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr + again.stdout
    summary = json.loads(again.stdout)
    assert summary["status"] == "COMPLETED"

    staged = rows(lake, "staging.stg_orders")
    assert sorted(str(r["event_id"]) for r in staged) == sorted(f"e{i}" for i in range(70))
    logged = rows(lake, "analytics.order_log")
    assert sorted(str(r["order_id"]) for r in logged) == sorted(f"o{i}" for i in range(70))
    assert rows(lake, "marts.totals") == [{"orders": 70, "revenue": float(sum(range(70)))}]
    with database.read() as connection:
        assert verify_log(connection).ok
        statuses = (
            connection.exec_driver_sql(
                "SELECT status FROM model_runs WHERE model = ? ORDER BY started_at"
                if backend.name == "sqlite"
                else "SELECT status FROM model_runs WHERE model = %s ORDER BY started_at",
                (model,),
            )
            .scalars()
            .all()
        )
        rollbacks, _total = list_entries(connection, action="pipeline.model.rollback")
    # The killed run is not left RUNNING when its snapshot was rolled back, and the rollback
    # is in the audit log with the snapshot it restored.
    if point in ("after-commit", "after-tests"):
        assert "ABANDONED" in statuses
        (rollback,) = rollbacks
        assert json.loads(rollback.details)["model"] == model
    else:
        assert rollbacks == []
    lake.close()
