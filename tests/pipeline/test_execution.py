"""Execution: independent models run in parallel up to ``threads``; transient failures are
retried with backoff and the attempt count is recorded; Python models compute with DuckDB
relations and may return a relation or an Arrow table."""

from __future__ import annotations

import json
from pathlib import Path

from headwater.db import Database
from headwater.lake import Lake
from headwater.pipeline import PipelineResult, load_project, run_pipeline
from headwater.pipeline.runner import ensure_sources
from tests.pipeline.projects import append_orders, orders, rows, write_project

# Each model waits for the other at a barrier: they can only both pass if they run at once.
RENDEZVOUS = """
import threading

INPUTS = ["raw.orders"]
BARRIER = threading.Barrier(2, timeout=10)


def model(inputs):
    import builtins
    barrier = getattr(builtins, "_hw_test_barrier", None) or BARRIER
    builtins._hw_test_barrier = barrier
    barrier.wait()
    return inputs["raw.orders"].aggregate("count(*) AS n")
"""

# Fails with a transient error (OSError) on its first attempt, then succeeds.
FLAKY = """
from pathlib import Path

INPUTS = ["raw.orders"]


def model(inputs):
    marker = Path(__file__).with_suffix(".attempted")
    if not marker.exists():
        marker.write_text("1")
        raise OSError("the disk blinked")
    return inputs["raw.orders"].to_arrow_table().select(["order_id"])
"""


def _run(root: Path, database: Database, lake: Lake) -> PipelineResult:
    project = load_project(root)
    ensure_sources(project, lake)
    append_orders(lake, orders(0, 4))
    return run_pipeline(project, database, lake)


def test_independent_models_run_at_the_same_time(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    import builtins

    root = write_project(
        tmp_path / "p", {"staging/left.py": RENDEZVOUS, "staging/right.py": RENDEZVOUS}
    )
    try:
        result = _run(root, database, lake)
    finally:
        if hasattr(builtins, "_hw_test_barrier"):
            del builtins._hw_test_barrier
    assert result.status == "COMPLETED", {n: o.record.message for n, o in result.outcomes.items()}
    assert rows(lake, "staging.left") == [{"n": 4}]


def test_a_transient_failure_is_retried_and_the_attempts_recorded(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    root = write_project(tmp_path / "p", {"staging/flaky.py": FLAKY})
    result = _run(root, database, lake)
    record = result.outcomes["staging.flaky"].record
    assert (record.status, record.attempts) == ("COMPLETED", 2)
    assert len(rows(lake, "staging.flaky")) == 4


def test_a_persistent_transient_failure_fails_after_the_retries(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    always = FLAKY.replace("if not marker.exists():", "if True:")
    root = write_project(tmp_path / "p", {"staging/flaky.py": always})
    result = _run(root, database, lake)
    record = result.outcomes["staging.flaky"].record
    assert record.status == "FAILED"
    assert record.attempts == 2  # retries: 1 in the test project
    assert record.message == "OSError: the disk blinked (after 2 attempts)"


def test_a_python_model_error_fails_the_model_with_its_message(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    broken = 'INPUTS = ["raw.orders"]\n\ndef model(inputs):\n    raise KeyError("amount")\n'
    root = write_project(tmp_path / "p", {"staging/broken.py": broken})
    record = _run(root, database, lake).outcomes["staging.broken"].record
    assert record.status == "FAILED"
    assert record.attempts == 1
    assert record.message == "broken.py: model() raised KeyError: 'amount'"


def test_a_second_run_of_the_same_project_is_refused_while_one_holds_the_lock(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    import pytest

    from headwater.pipeline import RunInProgressError
    from headwater.pipeline.lock import project_lock

    root = write_project(tmp_path / "p")
    project = load_project(root)
    ensure_sources(project, lake)
    with (
        project_lock(database, project.name),
        pytest.raises(RunInProgressError, match="another run of project shoptest is in progress"),
    ):
        run_pipeline(project, database, lake)
    assert run_pipeline(project, database, lake).status == "COMPLETED"


def test_every_commit_and_rollback_is_in_the_audit_log_with_run_and_snapshots(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    from headwater.audit import list_entries, verify_log

    root = write_project(tmp_path / "p")
    result = _run(root, database, lake)
    table = lake.load("staging.stg_orders")
    assert table is not None
    snapshot = table.current_snapshot()
    assert snapshot is not None
    with database.read() as connection:
        page, _total = list_entries(connection, newest_first=False)
        entries = [e for e in page if e.action.startswith("pipeline.")]
        assert verify_log(connection).ok
    details = {json.loads(e.details)["model"]: json.loads(e.details) for e in entries}
    actions = {json.loads(e.details)["model"]: e.action for e in entries}
    # An incremental model's first run is a full refresh; a table model's run a commit.
    assert actions["staging.stg_orders"] == "pipeline.model.full_refresh"
    assert actions["marts.totals"] == "pipeline.model.commit"
    staging = details["staging.stg_orders"]
    assert staging["run"] == result.outcomes["staging.stg_orders"].record.run_uuid
    assert staging["snapshot"] == snapshot.snapshot_id
    assert staging["pipeline_run"] == result.run_uuid
    assert set(staging["inputs"]) == {"raw.orders"}


def test_the_model_heading_the_longest_chain_starts_first(
    tmp_path: Path, database: Database, lake: Lake
) -> None:
    # One thread: "a_side" comes first in the project, but "z_chain" has two models after it.
    root = write_project(
        tmp_path / "p",
        {
            "/headwater.yml": "name: order\nthreads: 1\n",
            "staging/a_side.sql": "SELECT count(*) AS n FROM raw.orders",
            "staging/z_chain.sql": "SELECT order_id FROM raw.orders",
            "analytics/chain_next.sql": "SELECT count(*) AS n FROM staging.z_chain",
            "marts/chain_last.sql": "SELECT n FROM analytics.chain_next",
        },
    )
    result = _run(root, database, lake)
    assert result.status == "COMPLETED"
    started = sorted(result.outcomes, key=lambda name: result.outcomes[name].record.started_at)
    # Then chain_next (one model after it) before a_side (none); the last two tie.
    assert started[:3] == ["staging.z_chain", "analytics.chain_next", "staging.a_side"]
