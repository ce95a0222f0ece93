"""What ``/metrics`` reads from the store at scrape time.

The process's own counters (deliveries it answered, requests it served, tokens it refused)
live in prometheus-client's default registry. Everything here is read from the metadata
database and the catalog when Prometheus asks, so every API process answers the same and
nothing is lost when one restarts: a pipeline run in another process, a consumer on another
machine and the server all write the tables these figures come from.

Totals that must only grow are read where they only grow: lineage events and inbox
deliveries by the highest id ever given (retention deletes rows, not ids).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    and_,
    case,
    cast,
    func,
    literal_column,
    select,
)

from headwater.db import Database, aggregate_time
from headwater.db.schema import (
    datasets,
    ingest_batches,
    ingest_counters,
    ingest_inbox,
    job_io,
    jobs,
    lineage_events,
    model_runs,
    namespaces,
    test_results,
)
from headwater.lake import Lake, local_path, summary_rows

log = logging.getLogger("headwater.ops")

# Model runs take from seconds (an incremental staging model) to an hour (a full refresh).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
# A dashboard refreshing every few seconds must not turn into a query storm.
CACHE_S = 5.0

Metric = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily


def _seconds_between(connection: Connection, start: Any, end: Any) -> ColumnElement[float]:
    if connection.dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)


def _ingest(connection: Connection, now: datetime) -> Iterator[Metric]:
    stored = CounterMetricFamily(
        "headwater_ingest_stored",
        "Webhook deliveries stored in the inbox (verified, not duplicates), by source and topic.",
        labels=["source", "topic"],
    )
    backlog = GaugeMetricFamily(
        "headwater_ingest_backlog", "Deliveries waiting to be landed.", labels=["source", "topic"]
    )
    lag = GaugeMetricFamily(
        "headwater_ingest_lag_seconds",
        "How long the oldest waiting delivery has waited (0: nothing waits).",
        labels=["source", "topic"],
    )
    waiting = ingest_inbox.c.batch_id.is_(None)
    query = select(
        ingest_inbox.c.source,
        ingest_inbox.c.topic,
        func.count(),
        func.sum(case((waiting, 1), else_=0)),
        func.min(case((waiting, ingest_inbox.c.received_at), else_=None)),
    ).group_by(ingest_inbox.c.source, ingest_inbox.c.topic)
    for source, topic, count, backlogged, oldest in connection.execute(query):
        stored.add_metric([source, topic], int(count))
        backlog.add_metric([source, topic], int(backlogged or 0))
        age = (now - aggregate_time(oldest)).total_seconds() if oldest is not None else 0.0
        lag.add_metric([source, topic], max(age, 0.0))
    refused = CounterMetricFamily(
        "headwater_ingest_refused",
        "Deliveries not stored, by source, topic and reason (rejected: bad signature; "
        "malformed; duplicates; backpressure; unavailable).",
        labels=["source", "topic", "reason"],
    )
    for source, topic, counter, value in connection.execute(select(ingest_counters)):
        refused.add_metric([source, topic, counter], int(value))
    landed = CounterMetricFamily(
        "headwater_ingest_rows_landed",
        "Rows landed in raw tables from the inbox.",
        labels=["source", "topic"],
    )
    batches = select(
        ingest_batches.c.source, ingest_batches.c.topic, func.sum(ingest_batches.c.rows)
    ).group_by(ingest_batches.c.source, ingest_batches.c.topic)
    for source, topic, rows in connection.execute(batches):
        landed.add_metric([source, topic], int(rows or 0))
    yield from (stored, backlog, lag, refused, landed)


def _models(connection: Connection) -> Iterator[Metric]:
    duration = _seconds_between(connection, model_runs.c.started_at, model_runs.c.ended_at)
    finished = model_runs.c.ended_at.is_not(None)
    columns = [
        func.sum(case((and_(finished, duration <= le), 1), else_=0)) for le in DURATION_BUCKETS
    ]
    query = select(
        model_runs.c.project,
        model_runs.c.model,
        func.sum(case((finished, 1), else_=0)),
        func.coalesce(func.sum(case((finished, duration), else_=0.0)), 0.0),
        *columns,
    ).group_by(model_runs.c.project, model_runs.c.model)
    histogram = HistogramMetricFamily(
        "headwater_model_run_duration_seconds",
        "How long finished model runs took.",
        labels=["project", "model"],
    )
    for project, model, count, total, *cumulative in connection.execute(query):
        buckets = [
            (str(le), int(n or 0)) for le, n in zip(DURATION_BUCKETS, cumulative, strict=True)
        ]
        histogram.add_metric([project, model], [*buckets, ("+Inf", int(count or 0))], float(total))
    yield histogram
    runs = CounterMetricFamily(
        "headwater_model_runs",
        "Model runs by outcome (COMPLETED, FAILED, SKIPPED, RUNNING).",
        labels=["project", "model", "status"],
    )
    by_status = select(
        model_runs.c.project, model_runs.c.model, model_runs.c.status, func.count()
    ).group_by(model_runs.c.project, model_runs.c.model, model_runs.c.status)
    for project, model, status, count in connection.execute(by_status):
        runs.add_metric([project, model, status], int(count))
    yield runs
    failures = CounterMetricFamily(
        "headwater_quality_test_failures",
        "Data-quality tests that failed (fail, warn) or could not run (error), by model and "
        "severity.",
        labels=["model", "severity", "status"],
    )
    failed = (
        select(test_results.c.model, test_results.c.severity, test_results.c.status, func.count())
        .where(test_results.c.status != "pass")
        .group_by(test_results.c.model, test_results.c.severity, test_results.c.status)
    )
    for model, severity, status, count in connection.execute(failed):
        failures.add_metric([model, severity, status], int(count))
    yield failures


def lineage_coverage(connection: Connection) -> tuple[float | None, float | None]:
    """The share of jobs with at least one input or output, and of datasets some job reads
    or writes (None when there are none)."""

    def share(table: Any, key: Any) -> float | None:
        live = table.c.is_deleted.is_(False)
        total = connection.execute(select(func.count()).select_from(table).where(live)).scalar_one()
        if not total:
            return None
        linked = connection.execute(
            select(func.count())
            .select_from(table)
            .where(live, table.c.id.in_(select(key).distinct()))
        ).scalar_one()
        return float(linked) / float(total)

    return share(jobs, job_io.c.job_id), share(datasets, job_io.c.dataset_id)


def _lineage(connection: Connection, now: datetime) -> Iterator[Metric]:
    events = CounterMetricFamily(
        "headwater_lineage_events", "OpenLineage events ingested (any producer)."
    )
    events.add_metric(
        [],
        int(
            connection.execute(select(func.coalesce(func.max(lineage_events.c.id), 0))).scalar_one()
        ),
    )
    yield events
    coverage = GaugeMetricFamily(
        "headwater_lineage_coverage_ratio",
        "Share of jobs with inputs or outputs, and of datasets some job reads or writes.",
        labels=["kind"],
    )
    job_share, dataset_share = lineage_coverage(connection)
    for kind, value in (("jobs", job_share), ("datasets", dataset_share)):
        if value is not None:
            coverage.add_metric([kind], value)
    yield coverage
    freshness = GaugeMetricFamily(
        "headwater_dataset_freshness_seconds",
        "Seconds since a run last wrote the dataset (or, for one only ever read, since its "
        "metadata last changed).",
        labels=["namespace", "dataset"],
    )
    changed = func.coalesce(datasets.c.last_modified_at, datasets.c.updated_at)
    query = (
        select(namespaces.c.name, datasets.c.name, changed)
        .join(namespaces, namespaces.c.id == datasets.c.namespace_id)
        .where(datasets.c.is_deleted.is_(False))
    )
    for namespace, name, when in connection.execute(query):
        freshness.add_metric(
            [namespace, name], max((now - aggregate_time(when)).total_seconds(), 0.0)
        )
    yield freshness


def _tables(lake: Lake) -> Iterator[Metric]:
    files = GaugeMetricFamily(
        "headwater_table_data_files",
        "Data files of the table's current snapshot.",
        labels=["table"],
    )
    size = GaugeMetricFamily(
        "headwater_table_bytes", "Bytes of the current snapshot's data files.", labels=["table"]
    )
    rows = GaugeMetricFamily(
        "headwater_table_rows", "Rows in the current snapshot.", labels=["table"]
    )
    snapshots = GaugeMetricFamily(
        "headwater_table_snapshots", "Snapshots kept in the table's metadata.", labels=["table"]
    )
    for name in lake.table_names():
        table = lake.load(name)
        if table is None:
            continue
        snapshot = table.current_snapshot()
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        files.add_metric([name], int(summary.get("total-data-files", 0)))
        size.add_metric([name], int(summary.get("total-files-size", 0)))
        rows.add_metric([name], summary_rows(summary))
        snapshots.add_metric([name], len(table.snapshots()))
    yield from (files, size, rows, snapshots)


def database_bytes(connection: Connection) -> int:
    """The metadata database's size: the SQLite file, or the PostgreSQL schema's relations."""
    if connection.dialect.name == "postgresql":
        query: ColumnElement[Any] = literal_column(
            "(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm'))"
        )
        return int(connection.execute(select(query)).scalar_one())
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    return int(pages) * int(page_size)


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # removed while walking (an expiry, a probe)
                continue
    return total


def _storage(connection: Connection, warehouse: str) -> Iterator[Metric]:
    database = GaugeMetricFamily("headwater_database_bytes", "Size of the metadata database.")
    database.add_metric([], database_bytes(connection))
    yield database
    if warehouse.startswith("file://"):
        folder = GaugeMetricFamily(
            "headwater_warehouse_bytes", "Bytes of every file under the local warehouse."
        )
        folder.add_metric([], folder_bytes(Path(local_path(warehouse))))
        yield folder


class StoreMetrics(Collector):
    """A prometheus-client collector over the store; collected at most every `CACHE_S`."""

    def __init__(
        self,
        database: Database,
        lake: Callable[[], Lake],
        warehouse: str,
        *,
        cache_s: float = CACHE_S,
    ) -> None:
        self.database = database
        self.lake = lake
        self.warehouse = warehouse
        self.cache_s = cache_s
        self._cached: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.cache_s:
                self._cached = (time.monotonic(), self._measure())
            return list(self._cached[1])

    def _measure(self) -> list[Metric]:
        now = datetime.now(UTC)
        found: list[Metric] = []
        started = time.perf_counter()
        with self.database.read() as connection:
            found.extend(_ingest(connection, now))
            found.extend(_models(connection))
            found.extend(_lineage(connection, now))
            found.extend(_storage(connection, self.warehouse))
        try:
            found.extend(_tables(self.lake()))
        except Exception as exc:  # the catalog's outage is readiness's news, not a 500 here
            log.warning("table metrics not read: %s", exc)
        scrape = GaugeMetricFamily(
            "headwater_store_scrape_seconds", "How long reading these figures from the store took."
        )
        scrape.add_metric([], time.perf_counter() - started)
        found.append(scrape)
        return found
