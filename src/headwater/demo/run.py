"""``headwater demo``: the shop pipeline end to end on embedded defaults.

Each call delivers the next batch of the generator into the raw tables and runs the pipeline:
the first call loads batch 0 and runs it from scratch, then delivers batch 1 (a day of new
orders, with its duplicates and late arrivals) and runs again, incrementally. The summary says
what each layer holds and what the incremental run read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater.db import Database
from headwater.demo.shop import generate_batch
from headwater.lake import Lake, summary_rows
from headwater.pipeline import PipelineResult, Project, ensure_sources, run_pipeline

# Set by the demo on each raw table it appends to, so a later call knows the next batch.
BATCH_PROPERTY = "headwater.demo-batch"


@dataclass(slots=True)
class DemoRun:
    batch: int
    delivered: dict[str, int]  # raw table -> rows delivered
    result: PipelineResult


@dataclass(slots=True)
class DemoSummary:
    runs: list[DemoRun] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows now


def next_batch(lake: Lake) -> int:
    table = lake.load("raw.web_orders")
    snapshot = table.current_snapshot() if table is not None else None
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.additional_properties.get(BATCH_PROPERTY, "-1")) + 1


def deliver(lake: Lake, batch: int, orders: int) -> dict[str, int]:
    """Append one generated batch to the raw tables; rows delivered per table."""
    delivered = {}
    for name, data in generate_batch(batch, orders=orders).items():
        table = lake.load(name)
        if table is None:
            raise LookupError(f"{name} does not exist: the project must declare it")
        lake.append(table, data, {BATCH_PROPERTY: str(batch)})
        delivered[name] = data.num_rows
    return delivered


def table_rows(lake: Lake) -> dict[str, int]:
    rows = {}
    for name in lake.table_names():
        table = lake.load(name)
        snapshot = table.current_snapshot() if table is not None else None
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        rows[name] = summary_rows(summary)
    return rows


def run_demo(
    project: Project,
    database: Database,
    lake: Lake,
    *,
    orders: int,
    actor: str,
    progress: Callable[[str, str, Any], None] | None = None,
    announce: Callable[[str], None] = lambda _message: None,
) -> DemoSummary:
    """Deliver and run the next batch; on the very first call, batch 0 and then batch 1."""
    ensure_sources(project, lake)
    summary = DemoSummary()
    first = next_batch(lake)
    batches = [0, 1] if first == 0 else [first]
    for batch in batches:
        size = orders if batch == 0 else max(orders // 100, 1)
        announce(f"delivering batch {batch}: {size:,} new orders with their dirt")
        delivered = deliver(lake, batch, size)
        result = run_pipeline(project, database, lake, actor=actor, progress=progress)
        summary.runs.append(DemoRun(batch, delivered, result))
    summary.tables = table_rows(lake)
    return summary
