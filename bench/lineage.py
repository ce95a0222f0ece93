"""Lineage ingest and query benchmark: ``python -m bench.lineage`` (``make bench-lineage``).

For each backend it starts ``headwater serve`` as a real process on a free loopback port
against a fresh database, then measures, over HTTP:

1. loading the store through ``POST /api/v1/lineage/batch`` (events/s, per-request latency);
2. single-event ``POST /api/v1/lineage`` from concurrent clients (events/s, p50/p99);
3. ``GET /api/v1/lineage`` at depth 20 and ``GET /api/v1/column-lineage`` at depth 20 on the
   full store (p50/p95, nodes returned);
4. the database size per million events;

and writes everything to ``bench/results/lineage-<backend>-<time>.json`` (and ``-latest``).
See docs/benchmarks.md. The server, the generator process and the PostgreSQL schema are
cleaned up on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.generator import Config, EventGenerator, batch_body, produce_batches
from bench.support import (
    DEFAULT_PG_URL,
    ROOT,
    CpuMeter,
    PgWaitSampler,
    Server,
    analyze,
    create_schema,
    drop_schema,
    machine_info,
    new_schema_name,
    postgres_version,
    running_server,
    summary_ms,
    table_sizes,
    with_search_path,
)

console = Console()

# The targets on the 2-core machine.
BATCH_TARGET_EVENTS_PER_S = {"sqlite": 2000.0, "postgresql": 1000.0}
LINEAGE_P95_MS = 50.0
COLUMN_LINEAGE_P95_MS = 100.0
PER_EVENT_TABLES = ("lineage_events", "runs", "run_io")
TABLES = (
    "lineage_events",
    "runs",
    "run_io",
    "jobs",
    "job_versions",
    "job_io",
    "datasets",
    "dataset_versions",
    "column_lineage",
    "namespaces",
    "sources",
)


@dataclass
class Options:
    backend: str
    events: int
    runs_per_job: int | None
    batch_size: int
    batch_clients: int
    single_events: int
    single_clients: int
    queries: int
    depth: int
    seed: int
    pg_url: str
    out: Path
    server_workers: int
    keep_store: bool
    queries_on: str | None


# -- phase 1: loading the store through /lineage/batch ---------------------------------------


@dataclass
class LoadStats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    events: int = 0
    bytes: int = 0
    start_events: int = 0
    start_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)
    retry_reasons: list[str] = field(default_factory=list)
    queue_wait: float = 0.0


def _post_batch(
    client: httpx.Client, events: list[bytes], stats: LoadStats, stop: threading.Event
) -> int:
    """POST one batch, re-sending retriable failures (up to 5 times); returns events stored."""
    pending = events
    stored = 0
    for attempt in range(6):
        if stop.is_set() or not pending:
            break
        began = time.perf_counter()
        try:
            response = client.post(
                "/api/v1/lineage/batch",
                content=batch_body(pending),
                # A new connection per batch: with --server-workers > 1 the kernel hands it to
                # a worker waiting in accept(), i.e. an idle one. Kept-alive connections stay
                # on the worker that accepted them, and one worker did nearly all the work.
                headers={"Content-Type": "application/json", "Connection": "close"},
            )
        except httpx.TransportError as exc:
            with stats.lock:
                stats.errors.append(f"transport: {exc}")
            time.sleep(0.5 * (attempt + 1))
            continue
        elapsed = time.perf_counter() - began
        with stats.lock:
            stats.latencies.append(elapsed)
        if response.status_code >= 500:
            with stats.lock:
                stats.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            time.sleep(0.5 * (attempt + 1))
            continue
        if response.status_code != 200:
            with stats.lock:
                stats.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            break
        failed = response.json()["failed_events"]
        retry = [pending[f["index"]] for f in failed if f["retriable"]]
        hard = [f for f in failed if not f["retriable"]]
        stored += len(pending) - len(failed)
        with stats.lock:
            stats.failed += len(hard)
            stats.retried += len(retry)
            stats.errors.extend(f"event: {f['reason']}" for f in hard[:3])
            if retry and len(stats.retry_reasons) < 10:
                stats.retry_reasons.append(next(f["reason"] for f in failed if f["retriable"]))
        pending = retry
        if pending:
            time.sleep(0.05 * (attempt + 1))
    if pending and not stop.is_set():
        with stats.lock:
            stats.failed += len(pending)
    return stored


def _sender(
    base_url: str,
    queue: Any,
    stats: LoadStats,
    stop: threading.Event,
    advance: Any,
) -> None:
    with httpx.Client(base_url=base_url, timeout=600) as client:
        while not stop.is_set():
            began = time.perf_counter()
            batch = queue.get()
            waited = time.perf_counter() - began
            if batch is None:
                return
            size = sum(len(e) for e in batch)
            starts = [e for e in batch if e[14:19] == b"START"]
            stored = _post_batch(client, batch, stats, stop)
            with stats.lock:
                stats.queue_wait += waited
                stats.events += stored
                stats.bytes += size
                stats.start_events += len(starts)
                stats.start_bytes += sum(len(e) for e in starts)
            advance(len(batch))


def _wait_for(threads: list[threading.Thread]) -> None:
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def load_store(
    server: Server, config: Config, batch_size: int, batch_clients: int, pg_url: str | None
) -> dict[str, Any]:
    """The whole store of ``config`` through ``POST /api/v1/lineage/batch``: ``batch_clients``
    threads send ``batch_size``-event batches made by a generator process (bench.web builds its
    store with it too)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue(maxsize=4 * batch_clients)
    producer = ctx.Process(
        target=produce_batches,
        args=(asdict(config), batch_size, queue, batch_clients),
        daemon=True,
    )
    producer.start()
    stats = LoadStats()
    stop = threading.Event()
    meter = CpuMeter(server.process.pid, {"generator": producer.pid or 0}, pg_url)
    total = config.events
    sampler: PgWaitSampler | None = None
    try:
        with ExitStack() as stack, _progress() as progress:
            task = progress.add_task("batch ingest", total=total, rate="")
            began = time.perf_counter()
            last_log = began
            done_lock = threading.Lock()
            done = [0]

            def advance(n: int) -> None:
                nonlocal last_log
                with done_lock:
                    done[0] += n
                    now = time.perf_counter()
                    rate = done[0] / max(now - began, 1e-9)
                    progress.update(task, advance=n, rate=f"{rate:,.0f} ev/s")
                    if not console.is_terminal and now - last_log > 30:
                        last_log = now
                        print(
                            f"  {done[0]:,}/{total:,} events, {rate:,.0f} ev/s, "
                            f"{now - began:,.0f} s",
                            flush=True,
                        )

            meter.start(began)
            if pg_url is not None:
                sampler = stack.enter_context(PgWaitSampler(pg_url, server.process.pid))
            threads = [
                threading.Thread(
                    target=_sender,
                    args=(server.base_url, queue, stats, stop, advance),
                    daemon=True,
                    name=f"sender-{i}",
                )
                for i in range(batch_clients)
            ]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                time.sleep(0.2)
                with stats.lock:
                    failing = stats.failed >= 5 * batch_size and stats.events == 0
                if failing:
                    raise RuntimeError(
                        f"batch ingest is failing, stopped: {stats.errors[:1]} "
                        f"(server log: {server.log})"
                    )
            ended = time.perf_counter()
            cpu = meter.stop(ended)
    finally:
        stop.set()
        if producer.is_alive():
            producer.terminate()
        producer.join(timeout=10)
        if producer.is_alive():
            producer.kill()
        queue.close()
        queue.cancel_join_thread()
    seconds = ended - began
    return {
        "events_sent": stats.events + stats.failed,
        "events_stored": stats.events,
        "failed": stats.failed,
        "retried": stats.retried,
        "retry_reasons": stats.retry_reasons,
        "errors": stats.errors[:20],
        "seconds": round(seconds, 2),
        "events_per_s": round(stats.events / seconds, 1),
        "mb_per_s": round(stats.bytes / seconds / 1e6, 2),
        "batch_size": batch_size,
        "clients": batch_clients,
        "requests": len(stats.latencies),
        "request_latency_ms": summary_ms(stats.latencies),
        "client_wait_for_generator_s": round(stats.queue_wait / batch_clients, 2),
        "cpu": cpu,
        "postgres_backend_states": sampler.shares() if sampler else None,
        "event_bytes": {
            "mean": round(stats.bytes / max(total, 1)),
            "start_mean": round(stats.start_bytes / max(stats.start_events, 1)),
            "complete_mean": round(
                (stats.bytes - stats.start_bytes) / max(total - stats.start_events, 1)
            ),
        },
    }


# -- phase 2: single-event POSTs from concurrent clients -------------------------------------


def single_posts(
    server: Server, generator: EventGenerator, options: Options, pg_url: str | None
) -> dict[str, Any]:
    """``single_events`` events (START + COMPLETE of new runs of existing jobs), one per POST."""
    round_ = generator.config.runs_per_job  # the round after the loaded ones
    wanted = (options.single_events + 1) // 2
    rounds = -(-wanted // generator.config.jobs)
    runs = list(itertools.islice(generator.runs(round_, round_ + rounds), wanted))
    bodies = [(generator.start_event(r), generator.complete_event(r)) for r in runs]
    latencies: list[list[float]] = [[] for _ in range(options.single_clients)]
    errors: list[str] = []
    stop = threading.Event()

    def client(index: int) -> None:
        mine = bodies[index :: options.single_clients]
        headers = {"Content-Type": "application/json"}
        with httpx.Client(base_url=server.base_url, timeout=120) as http:
            for pair in mine:
                for body in pair:
                    if stop.is_set():
                        return
                    began = time.perf_counter()
                    response = http.post("/api/v1/lineage", content=body, headers=headers)
                    latencies[index].append(time.perf_counter() - began)
                    if response.status_code != 201:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")

    meter = CpuMeter(server.process.pid, {}, pg_url)
    threads = [
        threading.Thread(target=client, args=(i,), daemon=True)
        for i in range(options.single_clients)
    ]
    began = time.perf_counter()
    meter.start(began)
    try:
        for t in threads:
            t.start()
        _wait_for(threads)
    finally:
        stop.set()
    seconds = time.perf_counter() - began
    cpu = meter.stop(time.perf_counter())
    all_latencies = [x for per_client in latencies for x in per_client]
    return {
        "events": len(all_latencies),
        "clients": options.single_clients,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(seconds, 2),
        "events_per_s": round((len(all_latencies) - len(errors)) / seconds, 1),
        "latency_ms": summary_ms(all_latencies),
        "cpu": cpu,
    }


# -- phase 3: lineage and column-lineage queries ---------------------------------------------


def _queries(
    server: Server, path: str, node_ids: list[str], depth: int, warmup: int
) -> dict[str, Any]:
    latencies: list[float] = []
    nodes: list[int] = []
    truncated = 0
    errors: list[str] = []
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        for i, node_id in enumerate(node_ids):
            began = time.perf_counter()
            response = client.get(path, params={"nodeId": node_id, "depth": depth})
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                errors.append(f"{node_id}: HTTP {response.status_code} {response.text[:200]}")
                continue
            if i < warmup:
                continue
            body = orjson.loads(response.content)
            latencies.append(elapsed)
            nodes.append(len(body["graph"]))
            truncated += bool(body.get("truncated"))
    return {
        "queries": len(latencies),
        "depth": depth,
        "latency_ms": summary_ms(latencies),
        "mean_nodes": round(sum(nodes) / max(len(nodes), 1), 1),
        "max_nodes": max(nodes, default=0),
        "truncated": truncated,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


def run_queries(server: Server, generator: EventGenerator, options: Options) -> dict[str, Any]:
    rng = random.Random(options.seed)
    warmup = 10
    nodes = generator.sample_nodes(rng, options.queries + warmup)
    fields = generator.sample_fields(rng, options.queries + warmup)
    return {
        "lineage": _queries(server, "/api/v1/lineage", nodes, options.depth, warmup),
        "column_lineage": _queries(server, "/api/v1/column-lineage", fields, options.depth, warmup),
    }


# -- phase 4: what the store holds and how big it is -----------------------------------------


def store_facts(
    url: str, sqlite_path: Path | None, schema: str | None, events: int | None
) -> dict[str, Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = {
                t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in TABLES
            }
            if sqlite_path is None:
                total = connection.execute(
                    text(
                        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = :schema AND c.relkind = 'r'"
                    ),
                    {"schema": schema},
                ).scalar_one()
                files: dict[str, int] = {}
            else:
                files = {
                    p.name: p.stat().st_size
                    for p in (
                        sqlite_path,
                        sqlite_path.with_name(sqlite_path.name + "-wal"),
                        sqlite_path.with_name(sqlite_path.name + "-shm"),
                    )
                    if p.exists()
                }
                total = sum(files.values())
    finally:
        engine.dispose()
    total = int(total or 0)
    sizes = table_sizes(url, schema, TABLES)
    # Tables that grow with events, and the rest (one row per job/dataset/edge/field edge):
    # the size of a 1M-event store is the fixed part plus the per-event part scaled up.
    per_event = sum(sizes.get(t, 0) for t in PER_EVENT_TABLES)
    # A dataset's first version is part of the fixed cost; later ones come with events.
    versions = sizes.get("dataset_versions", 0)
    later = max(rows["dataset_versions"] - rows["datasets"], 0) / max(rows["dataset_versions"], 1)
    per_event += round(versions * later)
    fixed = sum(sizes.values()) - per_event
    loaded = max(rows["lineage_events"], 1)
    return {
        "rows": rows,
        "bytes": total,
        "files": files,
        "bytes_per_million_events": round(total / max(rows["lineage_events"], 1) * 1e6),
        "tables": sizes,
        "per_event_bytes": round(per_event / loaded),
        "fixed_bytes": fixed,
        "estimated_bytes_for_1m_events": round(fixed + per_event / loaded * 1e6),
        "events_loaded": events,
    }


# -- one backend -----------------------------------------------------------------------------


def _targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    ingest = result["ingest_batch"]["events_per_s"] if result["ingest_batch"] else None
    lineage = result["queries"]["lineage"]["latency_ms"].get("p95", float("inf"))
    column = result["queries"]["column_lineage"]["latency_ms"].get("p95", float("inf"))
    batch_target = BATCH_TARGET_EVENTS_PER_S[backend]
    return [
        {
            "name": "batch ingest (events/s)",
            "target": f">= {batch_target:,.0f}",
            "value": ingest,
            "met": None if ingest is None else ingest >= batch_target,
        },
        {
            "name": "lineage depth 20 p95 (ms)",
            "target": f"<= {LINEAGE_P95_MS:.0f}",
            "value": lineage,
            "met": lineage <= LINEAGE_P95_MS,
        },
        {
            "name": "column lineage depth 20 p95 (ms)",
            "target": f"<= {COLUMN_LINEAGE_P95_MS:.0f}",
            "value": column,
            "met": column <= COLUMN_LINEAGE_P95_MS,
        },
    ]


def run_backend(backend: str, options: Options) -> dict[str, Any]:
    config = Config.for_events(options.events, seed=options.seed)
    if options.runs_per_job is not None:
        config = replace(config, runs_per_job=options.runs_per_job)
    generator = EventGenerator(config)
    started = datetime.now(UTC)
    machine = machine_info()  # now: the server about to start imports this code
    console.rule(f"[bold]{backend}[/]: {config.events:,} events, {config.jobs:,} jobs")
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"headwater-bench-{backend}-"))
        schema = None
        sqlite_path = None
        pg_base = None
        if options.queries_on is not None:  # a store kept by an earlier run
            url = options.queries_on
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            if backend == "sqlite":
                sqlite_path = Path(make_url(url).database or "")
                versions = {"sqlite": machine["sqlite"]}
            else:
                pg_base = url.split("?", 1)[0]
                schema = url.rsplit("search_path%3D", 1)[1]
                versions = {"postgresql": postgres_version(pg_base)}
        elif backend == "sqlite":
            sqlite_path = workdir / "bench.db"
            url = f"sqlite:///{sqlite_path}"
            versions = {"sqlite": machine["sqlite"]}
        else:
            pg_base = options.pg_url
            schema = new_schema_name()
            create_schema(pg_base, schema)
            url = with_search_path(pg_base, schema)
            versions = {"postgresql": postgres_version(pg_base)}
        if options.queries_on is None and not options.keep_store:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            if schema is not None:
                stack.callback(drop_schema, options.pg_url, schema)
        server = stack.enter_context(running_server(url, workdir, options.server_workers))
        console.print(f"server {server.base_url} (pid {server.process.pid}) on {url}")

        load: dict[str, Any] | None = None
        single: dict[str, Any] | None = None
        if options.queries_on is None:
            load = load_store(server, config, options.batch_size, options.batch_clients, pg_base)
            console.print(
                f"batch ingest: {load['events_per_s']:,.0f} events/s "
                f"({load['mb_per_s']} MB/s, {load['seconds']:,.0f} s), p50 "
                f"{load['request_latency_ms'].get('p50')} ms per {options.batch_size}-event batch"
            )
            single = single_posts(server, generator, options, pg_base)
            console.print(
                f"single POSTs: {single['events_per_s']:,.0f} events/s with "
                f"{single['clients']} clients, p50 {single['latency_ms'].get('p50')} ms, "
                f"p99 {single['latency_ms'].get('p99')} ms"
            )
            if schema is not None:
                analyze(url)  # the statistics autovacuum would have gathered by now
        queries = run_queries(server, generator, options)
        for name, q in queries.items():
            console.print(
                f"{name}: p50 {q['latency_ms'].get('p50')} ms, p95 {q['latency_ms'].get('p95')} "
                f"ms, {q['mean_nodes']} nodes on average ({q['errors']} errors)"
            )
        facts = store_facts(url, sqlite_path, schema, load["events_stored"] if load else None)
        server_log = server.log.read_text()[-4000:]
        if options.keep_store and options.queries_on is None:
            console.print(f"store kept: --queries-on '{url}' measures queries on it again")
    finished = datetime.now(UTC)
    result: dict[str, Any] = {
        "benchmark": "lineage",
        "backend": backend,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": round((finished - started).total_seconds(), 1),
        "machine": machine,
        "versions": versions,
        "parameters": {
            **asdict(config),
            "jobs": config.jobs,
            "datasets": config.datasets,
            "events": config.events,
            "batch_size": options.batch_size,
            "batch_clients": options.batch_clients,
            "single_events": options.single_events,
            "single_clients": options.single_clients,
            "queries": options.queries,
            "depth": options.depth,
            "server": f"headwater serve --workers {options.server_workers}, log level warning",
            "server_workers": options.server_workers,
        },
        "ingest_batch": load,
        "ingest_single": single,
        "store_url": url if options.keep_store or options.queries_on else None,
        "queries_only": options.queries_on is not None,
        "queries": queries,
        "store": facts,
        "server_log_tail": server_log,
    }
    result["targets"] = _targets(backend, result)
    return result


def write_results(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    path = out / f"lineage-{result['backend']}-{stamp}.json"
    path.write_bytes(data)
    (out / f"lineage-{result['backend']}-latest.json").write_bytes(data)
    return path


MET = {True: "met", False: "NOT met", None: "not measured"}


def print_summary(results: list[dict[str, Any]]) -> None:
    table = Table(title="headwater lineage benchmark")
    table.add_column("metric")
    for r in results:
        table.add_column(r["backend"], justify="right")

    def row(name: str, values: list[str]) -> None:
        table.add_row(name, *values)

    row("events loaded", [f"{r['store']['rows']['lineage_events']:,}" for r in results])

    def ingest(r: dict[str, Any], value: Any) -> str:
        return "(queries only)" if r["queries_only"] else value(r)

    row(
        "mean event size",
        [
            ingest(r, lambda r: f"{r['ingest_batch']['event_bytes']['mean'] / 1024:.1f} KiB")
            for r in results
        ],
    )
    row(
        "batch ingest events/s",
        [ingest(r, lambda r: f"{r['ingest_batch']['events_per_s']:,.0f}") for r in results],
    )
    row(
        "batch request p50 / p99 ms",
        [
            ingest(
                r,
                lambda r: (
                    f"{r['ingest_batch']['request_latency_ms']['p50']:,.0f} / "
                    f"{r['ingest_batch']['request_latency_ms']['p99']:,.0f}"
                ),
            )
            for r in results
        ],
    )
    row(
        "single POST events/s",
        [ingest(r, lambda r: f"{r['ingest_single']['events_per_s']:,.0f}") for r in results],
    )
    row(
        "single POST p50 / p99 ms",
        [
            ingest(
                r,
                lambda r: (
                    f"{r['ingest_single']['latency_ms']['p50']:.1f} / "
                    f"{r['ingest_single']['latency_ms']['p99']:.1f}"
                ),
            )
            for r in results
        ],
    )
    for key, label in (("lineage", "lineage d20"), ("column_lineage", "column lineage d20")):
        row(
            f"{label} p50 / p95 ms",
            [
                f"{r['queries'][key]['latency_ms']['p50']:.1f} / {r['queries'][key]['latency_ms']['p95']:.1f}"
                for r in results
            ],
        )
        row(f"{label} mean nodes", [f"{r['queries'][key]['mean_nodes']}" for r in results])
    row("DB size", [f"{r['store']['bytes'] / 2**30:.2f} GiB" for r in results])
    row(
        "DB size, estimated for 1M events",
        [f"{r['store']['estimated_bytes_for_1m_events'] / 2**30:.1f} GiB" for r in results],
    )
    for i, target in enumerate(results[0]["targets"]):
        row(
            f"target: {target['name']}",
            [f"{MET[r['targets'][i]['met']]} ({r['targets'][i]['target']})" for r in results],
        )
    console.print(table)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lineage", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--quick", action="store_true", help="smoke scale: 20,000 events")
    parser.add_argument(
        "--runs-per-job",
        type=int,
        default=None,
        help="keep the 1M-event topology (10,000 jobs) but load this many runs per job",
    )
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--batch-clients", type=int, default=3)
    parser.add_argument("--single-events", type=int, default=None, help="default 5,000")
    parser.add_argument("--single-clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=None, help="per query kind; default 200")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--pg-url",
        default=None,
        help=f"PostgreSQL database for scratch schemas (default $HEADWATER_TEST_PG_URL or {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=2,
        help="headwater serve --workers (uvicorn processes); default 2, one per core here",
    )
    parser.add_argument(
        "--keep-store",
        action="store_true",
        help="keep the loaded store (SQLite file / PostgreSQL schema) and print its URL",
    )
    parser.add_argument(
        "--queries-on",
        metavar="URL",
        help="no loading: measure the queries (and size) on a store kept by --keep-store",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    events = 20_000 if args.quick else args.events
    return Options(
        backend=args.backend,
        events=events,
        runs_per_job=args.runs_per_job,
        batch_size=args.batch_size,
        batch_clients=args.batch_clients,
        single_events=args.single_events or (1_000 if args.quick else 5_000),
        single_clients=args.single_clients,
        queries=args.queries or (50 if args.quick else 200),
        depth=args.depth,
        seed=args.seed,
        pg_url=args.pg_url or os.environ.get("HEADWATER_TEST_PG_URL") or DEFAULT_PG_URL,
        out=args.out,
        server_workers=args.server_workers,
        keep_store=args.keep_store,
        queries_on=args.queries_on,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    if options.queries_on is not None:
        backends = ["sqlite" if options.queries_on.startswith("sqlite") else "postgresql"]
    results = []
    try:
        for backend in backends:
            result = run_backend(backend, options)
            path = write_results(result, options.out)
            console.print(
                f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
            )
            results.append(result)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: server, generator and scratch schema cleaned up")
        return 130
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
