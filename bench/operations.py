"""Operations benchmark: ``python -m bench.operations`` (``make bench-operations``).

For each backend (the embedded SQLite default and, when a server answers, PostgreSQL in a
scratch schema of ``HEADWATER_TEST_PG_URL``), in this process, in a temporary folder:

1. **compaction**: a table of ``--files`` (1,000) appends of ``--rows-per-file`` (1,000) rows,
   so 1,000 small data files and 1M rows; a full scan before and after (DuckDB over the files,
   as models read, and PyIceberg's own ``to_arrow``), and ``headwater table compact`` itself:
   time, files before and after, rows and sums identical;
2. **retention**: ``--events`` (1,000,000) lineage events older than the policy, purged by
   ``headwater retention``: the dry run's exact count, the purge's time and batches;
3. **backup and restore**: the shop demo at ``--orders`` (1,000,000) raw orders, run once;
   ``backup create`` with data files, ``backup verify``, and ``backup restore`` into an empty
   database after the warehouse is moved away: times, archive size, rows identical after.

Results go to ``bench/results/operations-<time>.json`` (and ``operations-latest.json``); see
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.support import (
    DEFAULT_PG_URL,
    ROOT,
    create_schema,
    drop_schema,
    machine_info,
    new_schema_name,
    postgres_version,
    with_search_path,
)
from headwater.config import Settings, load_settings
from headwater.db import Database, upgrade
from headwater.db.schema import lineage_events
from headwater.lake import TARGET_FILE_BYTES, Lake

console = Console(stderr=True)
RESULTS = ROOT / "bench" / "results"
REPEATS = 3


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    files: int
    rows_per_file: int
    events: int
    orders: int
    pg_url: str
    out: Path


def _median(run: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3), result


def _scan(lake: Lake, name: str) -> dict[str, Any]:
    """A full scan of the table both ways: the numbers and what they read."""
    from headwater.pipeline.scan import connect, register

    table = lake.load(name)
    assert table is not None
    snapshot = table.current_snapshot()
    assert snapshot is not None

    def duckdb_scan() -> tuple[Any, ...]:
        connection = connect()
        try:
            register(connection, name, lake.files(table, snapshot.snapshot_id))
            (row,) = connection.sql(
                f"SELECT count(*), sum(id), round(sum(amount), 4), count(DISTINCT customer) FROM {name}"
            ).fetchall()
            return tuple(row)
        finally:
            connection.close()

    def pyiceberg_scan() -> int:
        return int(table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().num_rows)

    duckdb_s, figures = _median(duckdb_scan)
    arrow_s, rows = _median(pyiceberg_scan)
    files = len(lake.files(table, snapshot.snapshot_id).tasks)
    return {
        "data_files": files,
        "rows": rows,
        "figures": list(figures),
        "duckdb_scan_s": duckdb_s,
        "pyiceberg_to_arrow_s": arrow_s,
        "duckdb_rows_per_s": round(rows / duckdb_s),
    }


def _small_batch(start: int, rows: int) -> pa.Table:
    ids = list(range(start, start + rows))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "customer": pa.array([f"c{i % 5_000}" for i in ids]),
            "amount": pa.array([(i % 10_000) / 100 for i in ids], pa.float64()),
            "at": pa.array(
                [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def bench_compaction(url: str, folder: Path, options: Options) -> dict[str, Any]:
    from headwater.ops import compact_table

    database = Database(url)
    lake = Lake(url, folder / "warehouse")
    try:
        name = "raw.small_files"
        table = lake.create(name, _small_batch(0, 1).schema)
        started = time.perf_counter()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"{options.files:,} appends", total=options.files)
            for n in range(options.files):
                lake.append(
                    table, _small_batch(n * options.rows_per_file, options.rows_per_file), {}
                )
                bar.advance(task)
        load_s = time.perf_counter() - started
        before = _scan(lake, name)
        started = time.perf_counter()
        report = compact_table(
            database, lake, name, target_bytes=TARGET_FILE_BYTES, execute=True, actor="bench"
        )
        compact_s = time.perf_counter() - started
        after = _scan(lake, name)
        if after["figures"] != before["figures"] or after["rows"] != before["rows"]:
            raise AssertionError(f"compaction changed the data: {before} != {after}")
        return {
            "rows": before["rows"],
            "load_s": round(load_s, 2),
            "compact_s": round(compact_s, 2),
            "files_before": report.facts["files_before"],
            "files_after": report.facts["files_after"],
            "bytes_rewritten": report.facts["bytes_rewritten"],
            "before": before,
            "after": after,
            "duckdb_scan_speedup": round(before["duckdb_scan_s"] / after["duckdb_scan_s"], 2),
            "pyiceberg_scan_speedup": round(
                before["pyiceberg_to_arrow_s"] / after["pyiceberg_to_arrow_s"], 2
            ),
        }
    finally:
        lake.close()
        database.dispose()


def _old_events(database: Database, count: int) -> float:
    """``count`` lineage events received 200 days ago, inserted in bulk (the rows retention
    reads: what the events built is not needed to purge them)."""
    received = datetime.now(UTC) - timedelta(days=200)
    payload = zlib.compress(orjson.dumps({"eventType": "COMPLETE", "producer": "bench"}))
    chunk = 20_000
    started = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{count:,} events", total=count)
        for first in range(0, count, chunk):
            rows = [
                {
                    "event_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "kind": "run",
                    "event_type": "COMPLETE",
                    "event_time": received,
                    "received_at": received,
                    "run_uuid": str(uuid.uuid4()),
                    "job_namespace": "bench",
                    "job_name": f"job{n % 1_000}",
                    "producer": "bench",
                    "payload": payload,
                }
                for n in range(first, min(first + chunk, count))
            ]
            with database.write() as connection:
                connection.execute(insert(lineage_events), rows)
            bar.advance(task, len(rows))
    return time.perf_counter() - started


def bench_retention(url: str, options: Options) -> dict[str, Any]:
    from headwater.ops.retention import DEFAULT_BATCH, Policy, apply_retention, plan_retention

    database = Database(url)
    try:
        insert_s = _old_events(database, options.events)
        policy = Policy.of(timedelta(days=90), timedelta(days=7), DEFAULT_BATCH)
        started = time.perf_counter()
        plan = plan_retention(database, policy)
        plan_s = time.perf_counter() - started
        planned = {c.name: c.rows for c in plan.categories}
        started = time.perf_counter()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("purging", total=planned["lineage_events"])
            report = apply_retention(
                database,
                policy,
                "bench",
                progress=lambda _n, rows: bar.update(task, completed=rows),
            )
        purge_s = time.perf_counter() - started
        done = {c.name: c for c in report.categories}
        with database.read() as connection:
            left = connection.execute(select(func.count()).select_from(lineage_events)).scalar_one()
        return {
            "events": options.events,
            "insert_s": round(insert_s, 2),
            "dry_run_s": round(plan_s, 2),
            "dry_run_count": planned["lineage_events"],
            "purge_s": round(purge_s, 2),
            "purged": done["lineage_events"].rows,
            "batches": done["lineage_events"].batches,
            "batch_size": DEFAULT_BATCH,
            "events_per_s": round(done["lineage_events"].rows / purge_s),
            "left": int(left),
        }
    finally:
        database.dispose()


def _demo_store(settings: Settings, orders: int) -> dict[str, Any]:
    """The shop at ``orders`` raw orders, delivered as the demo does and run once."""
    from headwater.demo.run import BATCH_PROPERTY
    from headwater.demo.shop import generate_batch
    from headwater.pipeline import ensure_sources, load_project, run_pipeline

    database = Database(settings.resolved_database_url)
    lake = Lake(settings.resolved_database_url, settings.resolved_warehouse())
    try:
        project = load_project(ROOT / "examples" / "shop")
        ensure_sources(project, lake)
        started = time.perf_counter()
        for name, data in generate_batch(0, orders=orders).items():
            table = lake.load(name)
            assert table is not None
            lake.append(table, data, {BATCH_PROPERTY: "0"})
        deliver_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_pipeline(project, database, lake, actor="bench")
        if result.status != "COMPLETED":
            raise AssertionError(f"the demo run failed: {result.failed}")
        return {
            "deliver_s": round(deliver_s, 2),
            "pipeline_s": round(time.perf_counter() - started, 2),
            "rows": _rows(lake),
        }
    finally:
        lake.close()
        database.dispose()


def _rows(lake: Lake) -> dict[str, int]:
    from headwater.lake import summary_rows

    found = {}
    for name in lake.table_names():
        table = lake.load(name)
        snapshot = table.current_snapshot() if table is not None else None
        if snapshot is not None and snapshot.summary is not None:
            found[name] = summary_rows(snapshot.summary.additional_properties)
    return found


@contextmanager
def _empty_target(backend: str, folder: Path, pg_url: str) -> Iterator[str]:
    """A database URL with nothing in it, for the restore."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'restored' / 'headwater.db'}"
        return
    name = f"bench_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(pg_url).set(database=name)
        yield with_search_path(url.render_as_string(hide_password=False), "restored")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_backup(backend: str, url: str, folder: Path, options: Options) -> dict[str, Any]:
    from headwater.ops import create_backup, restore_backup, verify_backup

    warehouse = folder / "shop-warehouse"
    settings = load_settings(database_url=url, home=folder / "home", warehouse=str(warehouse))
    store = _demo_store(settings, options.orders)
    archive = folder / "backups" / "shop.tar.gz"
    started = time.perf_counter()
    created = create_backup(settings, archive, include_data=True, actor="bench")
    create_s = time.perf_counter() - started
    started = time.perf_counter()
    verified = verify_backup(archive)
    verify_s = time.perf_counter() - started
    if not verified.ok:
        raise AssertionError(f"the archive does not verify: {verified.problems}")
    warehouse_bytes = sum(p.stat().st_size for p in warehouse.rglob("*") if p.is_file())
    shutil.move(warehouse, folder / "lost-warehouse")  # the machine's state is gone
    with _empty_target(backend, folder, options.pg_url) as target_url:
        target = load_settings(
            database_url=target_url, home=folder / "restored", warehouse=str(warehouse)
        )
        started = time.perf_counter()
        restore_backup(archive, target, actor="bench")
        restore_s = time.perf_counter() - started
        lake = Lake(target_url, warehouse)
        try:
            restored_rows = _rows(lake)
        finally:
            lake.close()
    if restored_rows != store["rows"]:
        raise AssertionError(f"rows differ after the restore: {store['rows']} != {restored_rows}")
    return {
        "orders": options.orders,
        **{k: v for k, v in store.items() if k != "rows"},
        "raw_rows": sum(v for k, v in store["rows"].items() if k.startswith("raw.")),
        "table_rows": sum(store["rows"].values()),
        "warehouse_bytes": warehouse_bytes,
        "archive_bytes": created.bytes,
        "create_s": round(create_s, 2),
        "verify_s": round(verify_s, 2),
        "restore_s": round(restore_s, 2),
        "rows_identical": True,
    }


@contextmanager
def _backend(backend: str, folder: Path, pg_url: str) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'headwater.db'}"
        upgrade(Database(url))
        yield url
        return
    schema = new_schema_name("bench_ops")
    create_schema(pg_url, schema)
    try:
        url = with_search_path(pg_url, schema)
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url
    finally:
        drop_schema(pg_url, schema)


def run_backend(backend: str, options: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend}
    for part, run in (
        ("compaction", lambda url, folder: bench_compaction(url, folder, options)),
        ("retention", lambda url, folder: bench_retention(url, options)),
        ("backup", lambda url, folder: bench_backup(backend, url, folder, options)),
    ):
        with tempfile.TemporaryDirectory(prefix=f"bench-ops-{backend}-") as tmp:
            folder = Path(tmp)
            with _backend(backend, folder, options.pg_url) as url:
                console.print(f"[bold]{backend}[/]: {part}")
                result[part] = run(url, folder)
                console.print(orjson.dumps(result[part], option=orjson.OPT_INDENT_2).decode())
    return result


def _pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # any failure means no server to measure
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operations", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--rows-per-file", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pg_url = os.environ.get("HEADWATER_TEST_PG_URL", DEFAULT_PG_URL)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and not _pg_reachable(pg_url):
        console.print(f"[yellow]PostgreSQL not reachable at {pg_url}: measuring SQLite only[/]")
        backends = tuple(b for b in backends if b != "postgresql")
    options = Options(
        backends, args.files, args.rows_per_file, args.events, args.orders, pg_url, args.out
    )
    report = {
        "benchmark": "operations",
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "postgresql": postgres_version(pg_url) if "postgresql" in backends else None,
        "options": {
            "files": options.files,
            "rows_per_file": options.rows_per_file,
            "events": options.events,
            "orders": options.orders,
        },
        "results": [run_backend(backend, options) for backend in backends],
    }
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for name in (f"operations-{stamp}.json", "operations-latest.json"):
        (options.out / name).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    console.print(f"results: bench/results/operations-{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
