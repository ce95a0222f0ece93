"""The shop's incremental runs give what a full refresh gives, on SQLite and PostgreSQL.

Specification: after a first run and two incremental runs over three delivered batches, every
stored table holds exactly the rows that a full refresh over the same raw data computes; the
entity model and the marts ran incrementally (only what the new rows touch is recomputed).
The one exception is by design: ``stg_order_rejects`` is a log appended once per delivery, so
an event rejected again when re-delivered later appears once per delivery there, and once
after a full refresh.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.db import Database
from headwater.demo.run import deliver
from headwater.lake import Lake
from headwater.pipeline import load_project, run_pipeline
from headwater.pipeline.runner import ensure_sources
from headwater.pipeline.scan import connect, register

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
INCREMENTAL = (
    "staging.stg_orders",
    "staging.stg_customers",
    "semantic.customer_entities",
    "analytics.order_facts",
    "marts.daily_revenue",
    "marts.customer_lifetime_value",
)


def _contents(lake: Lake, names: list[str]) -> dict[str, list[tuple[object, ...]]]:
    connection = connect()
    found = {}
    for name in names:
        table = lake.load(name)
        assert table is not None
        snapshot = table.current_snapshot()
        register(connection, name, lake.files(table, snapshot.snapshot_id if snapshot else None))
        found[name] = sorted(connection.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
    connection.close()
    return found


@pytest.mark.slow
def test_incremental_runs_end_where_a_full_refresh_ends(database: Database, tmp_path: Path) -> None:
    project = load_project(SHOP)
    lake = Lake(database.url, tmp_path / "warehouse")
    ensure_sources(project, lake)
    stored = [
        name
        for name, model in project.models.items()
        if model.config.materialized != "view" and name != "staging.stg_order_rejects"
    ]
    deliver(lake, 0, orders=3000)
    assert run_pipeline(project, database, lake).status == "COMPLETED"
    for batch in (1, 2):
        deliver(lake, batch, orders=600)
        result = run_pipeline(project, database, lake)
        assert result.status == "COMPLETED"
        assert {name: result.outcomes[name].record.mode for name in INCREMENTAL} == dict.fromkeys(
            INCREMENTAL, "incremental"
        )
    incremental = _contents(lake, stored)

    refreshed = run_pipeline(project, database, lake, full_refresh=True)
    assert refreshed.status == "COMPLETED"
    full = _contents(lake, stored)
    for name in stored:
        assert incremental[name] == full[name], name
    lake.close()
