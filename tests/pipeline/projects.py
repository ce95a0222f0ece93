"""Small pipeline projects written into a temporary folder, and raw rows to feed them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from headwater.db import Database
from headwater.lake import Lake
from headwater.pipeline import PipelineResult, load_project, run_pipeline
from headwater.pipeline.runner import ensure_sources

ORDERS_SOURCE = """
tables:
  orders:
    columns:
      event_id: string
      order_id: string
      amount: string
      ordered_at: timestamp
"""

# raw.orders -> staging.stg_orders (merge by event_id, typed, deduplicated)
#            -> analytics.order_log (append)  -> marts.totals (table)
MODELS = {
    "staging/stg_orders.sql": """-- materialized: merge
-- unique_key: event_id
-- tags: [orders]
SELECT event_id, order_id, TRY_CAST(amount AS DOUBLE) AS amount, ordered_at
FROM raw.orders
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ordered_at) = 1
""",
    "analytics/order_log.sql": """-- materialized: append
SELECT order_id, amount FROM staging.stg_orders
""",
    "marts/totals.sql": """SELECT count(*) AS orders, sum(amount) AS revenue
FROM analytics.order_log
""",
    "marts/marts.yml": """models:
  totals:
    columns:
      orders:
        tests: [not_null]
    tests:
      - row_count: {min: 1, max: 1}
""",
}


def write_project(root: Path, files: dict[str, str] | None = None, name: str = "shoptest") -> Path:
    """A project in ``root`` with the orders source and ``files`` (default: MODELS) under
    ``models/``; keys are paths relative to ``models/`` (or to the root when they start with
    ``/``)."""
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "headwater.yml").write_text(f"name: {name}\nthreads: 2\nretries: 1\n")
    (root / "sources" / "orders.yml").write_text(ORDERS_SOURCE)
    for relative, text in (MODELS if files is None else files).items():
        path = (
            root / relative.lstrip("/") if relative.startswith("/") else root / "models" / relative
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def orders(start: int, count: int, amount: str | None = None) -> pa.Table:
    """``count`` raw order events numbered from ``start``; amount i unless given."""
    ids = range(start, start + count)
    return pa.table(
        {
            "event_id": [f"e{i}" for i in ids],
            "order_id": [f"o{i}" for i in ids],
            "amount": [amount if amount is not None else str(i) for i in ids],
            "ordered_at": pa.array(
                [datetime(2026, 11, 1, tzinfo=UTC)] * count, pa.timestamp("us", tz="UTC")
            ),
        }
    )


def append_orders(lake: Lake, rows: pa.Table) -> int:
    table = lake.load("raw.orders")
    assert table is not None
    table.append(rows)
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def rows(lake: Lake, name: str) -> list[dict[str, object]]:
    table = lake.load(name)
    assert table is not None
    return table.scan().to_arrow().to_pylist()


def delivered_project(root: Path, lake: Lake, count: int = 20) -> Path:
    """The default project in ``root``, its raw table created, orders 0..count-1 delivered."""
    write_project(root)
    ensure_sources(load_project(root), lake)
    append_orders(lake, orders(0, count))
    return root


def run_project(root: Path, database: Database, lake: Lake) -> PipelineResult:
    """One pipeline run of the project in ``root``, loaded afresh."""
    return run_pipeline(load_project(root), database, lake)
