"""``headwater demo``: the shop pipeline end to end on embedded defaults.

Each call feeds the next batch of the generator in the way production data arrives (signed
webhooks for the web store and the payments, a pulled database for the point of sale: see
`headwater.demo.feed`) and runs the pipeline: the first call feeds batch 0 and runs it from
scratch, then feeds batch 1 (a day of new orders, with its duplicates and late arrivals) and
runs again, incrementally. The summary says what each layer holds and what the incremental run
read.

`deliver` appends a batch to the raw tables directly instead: what tests and the pipeline
benchmark use to measure the pipeline alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater.config import Settings
from headwater.db import Database
from headwater.demo.feed import Fed, feed_day, next_batch
from headwater.demo.shop import RAW_SCHEMAS, generate_batch
from headwater.errors import HeadwaterError
from headwater.ingest import record_sources
from headwater.lake import Lake, summary_rows
from headwater.lineage.client import make_client
from headwater.pipeline import PipelineResult, Project, ensure_sources, run_pipeline


class DemoStateError(HeadwaterError):
    """The demo's folder holds a state this demo cannot go on from."""


# Set by `deliver` on each raw table it appends to.
BATCH_PROPERTY = "headwater.demo-batch"


@dataclass(slots=True)
class DemoRun:
    batch: int
    fed: Fed
    result: PipelineResult


@dataclass(slots=True)
class DemoSummary:
    runs: list[DemoRun] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows now


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


def _has_rows(lake: Lake, name: str) -> bool:
    table = lake.load(name)
    return table is not None and table.current_snapshot() is not None


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
    settings: Settings,
    *,
    orders: int,
    actor: str,
    progress: Callable[[str, str, Any], None] | None = None,
    announce: Callable[[str], None] = lambda _message: None,
    posted: Callable[[int, int], None] = lambda _done, _total: None,
) -> DemoSummary:
    """Feed and run the next batch; on the very first call, batch 0 and then batch 1."""
    ensure_sources(project, lake)
    record_sources(database, project, actor)
    summary = DemoSummary()
    first = next_batch(RAW_SCHEMAS)
    if first == 0 and _has_rows(lake, "raw.web_orders"):
        raise DemoStateError(
            "the demo's raw tables hold data but its POS database does not: this state was made "
            "by an older demo, which wrote the raw tables directly; remove the demo's folder "
            f"({settings.home}) to start over"
        )
    batches = [0, 1] if first == 0 else [first]
    client = make_client(database, actor)
    for batch in batches:
        size = orders if batch == 0 else max(orders // 100, 1)
        announce(f"batch {batch}: {size:,} new orders with their dirt, sent as they arrive")
        data = generate_batch(batch, orders=size)
        fed = feed_day(
            project, database, lake, settings, data, actor=actor, client=client, progress=posted
        )
        webhooks = ", ".join(f"{count:,} {outcome}" for outcome, count in fed.webhooks.items())
        announce(
            f"batch {batch}: {sum(fed.webhooks.values()):,} signed webhooks posted ({webhooks}), "
            f"point of sale pulled; {sum(fed.landed.values()):,} raw rows landed "
            f"in {fed.seconds:.1f} s"
        )
        result = run_pipeline(project, database, lake, actor=actor, progress=progress)
        summary.runs.append(DemoRun(batch, fed, result))
    summary.tables = table_rows(lake)
    return summary
