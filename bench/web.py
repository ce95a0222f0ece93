"""Web UI benchmark: ``python -m bench.web`` (``make bench-web``).

For each backend it loads the lineage benchmark's store (``bench/generator.py`` through
``POST /api/v1/lineage/batch``, as ``bench/lineage.py`` does) into ``headwater serve`` started as
a real process on a free loopback port, then measures:

1. every page's server time: ``GET`` over HTTP from one client, ``--requests`` times per kind
   of page, with subjects the store holds (datasets, jobs and runs drawn from the generator, a
   search term, the explorer), p50/p95/max of the wall time and of the page's own
   ``Server-Timing`` (queries, template);
2. a 1,000-node graph in the explorer, in headless Chromium: from the navigation's start to
   the graph painted, as the page measures it itself (``performance.measure``
   ``explorer:ready``, with its fetch, layout and drawing), for a chain and a layered DAG;

and writes everything to ``bench/results/web-<backend>-<time>.json`` (and ``-latest``). See
docs/benchmarks.md. The server and the PostgreSQL schema are removed on success, failure and
Ctrl-C alike, unless ``--keep-store`` keeps the store for ``--on``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from bench.generator import Config, EventGenerator
from bench.lineage import load_store, store_facts
from bench.support import (
    DEFAULT_PG_URL,
    ROOT,
    CpuMeter,
    Server,
    create_schema,
    drop_schema,
    machine_info,
    new_schema_name,
    percentile,
    postgres_version,
    running_server,
    summary_ms,
    vacuum,
    with_search_path,
)

console = Console()

# The lineage benchmark's store has 50 runs per job (1,000,000 events), 30 minutes to load on
# SQLite here; its 10,000 jobs and 31,200 datasets with 5 runs each load in a few. What grows
# with the runs (versions, run lists, the audit log, events per hour) is read a page at a time.
RUNS_PER_JOB = 5
# The targets.
PAGE_TARGET_MS = 200.0
RENDER_TARGET_MS = 2000.0
CHROMIUM = Path("/usr/bin/chromium")
GRAPH_NAMESPACE = "web-bench"
PRODUCER = "https://github.com/headwater/bench"
RUN_EVENT_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@dataclass
class Options:
    backend: str
    events: int
    runs_per_job: int
    requests: int
    warmup: int
    graph_jobs: int
    renders: int
    seed: int
    pg_url: str
    out: Path
    server_workers: int
    keep_store: bool
    on: str | None


# -- phase 1: every page's server time --------------------------------------------------------


@dataclass(frozen=True)
class PageKind:
    """One kind of page and the paths to ask for it, taken in turn."""

    name: str
    paths: list[str]
    # A page answers with its Server-Timing; the explorer's graph is an API call, which does not.
    page: bool = True


def _query(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"


def page_kinds(generator: EventGenerator, rng: random.Random, count: int) -> list[PageKind]:
    """Every kind of page with subjects that exist in the store: ``count`` of each drawn
    with ``rng`` (the pages a reader opens are spread over the store, not one cached row)."""
    c = generator.config
    nodes = generator.sample_nodes(rng, count)
    datasets = []
    jobs = []
    for _ in range(count):
        p = rng.randrange(c.pipelines)
        level, k = rng.randrange(c.levels + 1), rng.randrange(c.tables)
        datasets.append((generator.dataset_namespace(p), generator.dataset_name(p, level, k)))
        level, j = rng.randint(1, c.levels), rng.randrange(c.width)
        jobs.append((generator.job_namespace(p), generator.job_name(p, level, j)))
    runs = [
        generator.run_id(
            (
                rng.randrange(c.pipelines),
                rng.randint(1, c.levels),
                rng.randrange(c.width),
                rng.randrange(c.runs_per_job),
            )
        )
        for _ in range(count)
    ]
    # Parts of names, as one searches: a stage (a job in each pipeline, past the 100 shown), a
    # pipeline (its jobs and tables), one table level and index (one in each pipeline).
    terms = [f"stage_{rng.randint(1, c.levels):02d}" for _ in range(count // 3 + 1)]
    terms += [f"p{rng.randrange(c.pipelines):03d}" for _ in range(count // 3 + 1)]
    terms += [f"l{rng.randint(1, c.levels):02d}_t{rng.randrange(c.tables):02d}" for _ in terms]
    # Later pages of the lists, as "Next" reaches them: any page up to the last one.
    dataset_pages = [rng.randrange(max(1, c.datasets // 100)) * 100 for _ in range(count)]
    job_pages = [rng.randrange(max(1, c.jobs // 100)) * 100 for _ in range(count)]
    ds_namespaces = sorted({generator.dataset_namespace(p) for p in range(c.pipelines)})
    job_namespaces = sorted({generator.job_namespace(p) for p in range(c.pipelines)})
    return [
        PageKind("dashboard", ["/"]),
        PageKind("explorer page", [_query("/lineage", node=n) for n in nodes]),
        PageKind(
            "explorer graph (API, depth 2)",
            [_query("/api/v1/lineage", nodeId=n, depth="2", direction="both") for n in nodes],
            page=False,
        ),
        PageKind("datasets", ["/datasets"]),
        PageKind(
            "datasets of a namespace", [_query("/datasets", namespace=n) for n in ds_namespaces]
        ),
        PageKind(
            "datasets, a later page", [_query("/datasets", offset=str(o)) for o in dataset_pages]
        ),
        PageKind("dataset", [_query("/dataset", namespace=ns, name=n) for ns, n in datasets]),
        PageKind("jobs", ["/jobs"]),
        PageKind("jobs of a namespace", [_query("/jobs", namespace=n) for n in job_namespaces]),
        PageKind("jobs, a later page", [_query("/jobs", offset=str(o)) for o in job_pages]),
        PageKind("job", [_query("/job", namespace=ns, name=n) for ns, n in jobs]),
        PageKind("run", [_query("/run", id=r) for r in runs]),
        PageKind("search", [_query("/search", q=t) for t in terms]),
        PageKind("audit", ["/audit"]),
        PageKind(
            "audit of a dataset",
            [_query("/audit", target=f"dataset:{ns}:{n}") for ns, n in datasets],
        ),
        # A family of actions: the one nearly every entry is in, and one with a single entry
        # (the server's configuration), which no page of the newest entries holds.
        PageKind("audit of an action", [_query("/audit", action=a) for a in ("lineage", "config")]),
    ]


def server_timing(header: str | None) -> dict[str, float]:
    """``data;dur=1.5, render;dur=0.4`` as ``{"data": 1.5, "render": 0.4}``."""
    parts: dict[str, float] = {}
    for metric in (header or "").split(","):
        name, _, rest = metric.strip().partition(";")
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                parts[name] = float(value)
    return parts


def measure_page(
    client: httpx.Client, kind: PageKind, requests: int, warmup: int
) -> dict[str, Any]:
    walls: list[float] = []
    own: list[float] = []
    data: list[float] = []
    render: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    for i in range(warmup + requests):
        path = kind.paths[i % len(kind.paths)]
        began = time.perf_counter()
        answer = client.get(path, headers={"Accept": "text/html"})
        elapsed = time.perf_counter() - began
        if answer.status_code != 200:
            errors.append(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")
            continue
        if i < warmup:
            continue
        walls.append(elapsed)
        sizes.append(len(answer.content))
        timing = server_timing(answer.headers.get("server-timing"))
        if timing:
            own.append(sum(timing.values()) / 1000)
            data.append(timing.get("data", 0.0) / 1000)
            render.append(timing.get("render", 0.0) / 1000)
    return {
        "page": kind.name,
        "example": kind.paths[0],
        "distinct_paths": len(set(kind.paths)),
        "requests": len(walls),
        "wall_ms": summary_ms(walls),
        "server_timing_ms": summary_ms(own),
        "data_ms": summary_ms(data),
        "render_ms": summary_ms(render),
        "mean_bytes": round(sum(sizes) / max(len(sizes), 1)),
        "errors": len(errors),
        "error_samples": errors[:5],
    }


def measure_pages(server: Server, kinds: list[PageKind], options: Options) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        for kind in kinds:
            result = measure_page(client, kind, options.requests, options.warmup)
            wall = result["wall_ms"]
            console.print(
                f"  {kind.name:32} p50 {wall.get('p50', float('nan')):8.1f} ms  p95 "
                f"{wall.get('p95', float('nan')):8.1f} ms  max {wall.get('max', float('nan')):8.1f}"
                f" ms  {result['mean_bytes'] / 1024:7.1f} KiB  ({result['errors']} errors)"
            )
            results.append(result)
    return results


# -- phase 2: a 1,000-node graph in Chromium ---------------------------------------------------


def _event(job: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    """A COMPLETE event of a new run of ``job`` reading ``inputs`` and writing ``outputs``."""
    run_id = uuid.UUID(int=random.Random(f"web-bench:{job}").getrandbits(128), version=4)
    return {
        "eventType": "COMPLETE",
        "eventTime": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_URL,
        "run": {"runId": str(run_id)},
        "job": {"namespace": GRAPH_NAMESPACE, "name": job},
        "inputs": [{"namespace": GRAPH_NAMESPACE, "name": n} for n in inputs],
        "outputs": [{"namespace": GRAPH_NAMESPACE, "name": n} for n in outputs],
    }


@dataclass(frozen=True)
class Graph:
    """A lineage graph the explorer shows from ``start``: its ``nodes``, and the ``events``
    that make it (none for one the store already holds)."""

    name: str
    start: str
    depth: int
    direction: str
    nodes: int
    events: list[dict[str, Any]]


def chain(jobs: int) -> Graph:
    """``chain.0 -> step.0 -> chain.1 -> ... -> chain.<jobs>``: as many layers as nodes."""
    events = [_event(f"step.{i}", [f"chain.{i}"], [f"chain.{i + 1}"]) for i in range(jobs)]
    start = f"dataset:{GRAPH_NAMESPACE}:chain.0"
    return Graph("chain", start, jobs, "downstream", 2 * jobs + 1, events)


def layered(jobs: int, width: int = 25) -> Graph:
    """A pipeline's shape: ``jobs / width`` levels of ``width`` jobs; job j of level l reads
    tables j and j+1 of level l-1 and writes table j of level l (level 1 reads one source),
    so every level crosses the edges of the one before it."""
    width = min(width, jobs)
    levels = max(1, jobs // width)
    events = []
    for level in range(1, levels + 1):
        for j in range(width):
            inputs = (
                ["dag.source"]
                if level == 1
                else [f"dag.l{level - 1}.t{j}", f"dag.l{level - 1}.t{(j + 1) % width}"]
            )
            events.append(_event(f"dag.l{level}.j{j}", inputs, [f"dag.l{level}.t{j}"]))
    nodes = 2 * levels * width + 1
    start = f"dataset:{GRAPH_NAMESPACE}:dag.source"
    return Graph("layered", start, levels, "downstream", nodes, events)


def store_pipeline(server: Server, generator: EventGenerator) -> Graph:
    """What a reader of the benchmark store sees: one of its pipelines, from a table half way
    down, both ways at depth 20 (the lineage benchmark's query; about 400 nodes)."""
    level = generator.config.levels // 2
    start = f"dataset:{generator.dataset_namespace(0)}:{generator.dataset_name(0, level, 0)}"
    params: dict[str, str | int] = {"nodeId": start, "depth": 20, "direction": "both"}
    answer = httpx.get(f"{server.base_url}/api/v1/lineage", params=params, timeout=120)
    answer.raise_for_status()
    return Graph("pipeline", start, 20, "both", len(answer.json()["graph"]), [])


def post_graph(server: Server, graph: Graph) -> None:
    """Posts ``graph`` unless the store already holds it (a store kept by ``--keep-store``)."""
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        params: dict[str, str | int] = {
            "nodeId": graph.start,
            "depth": graph.depth,
            "direction": graph.direction,
        }
        held = client.get("/api/v1/lineage", params=params)
        if held.status_code == 200 and len(held.json()["graph"]) == graph.nodes:
            return
        for i in range(0, len(graph.events), 200):
            answer = client.post("/api/v1/lineage/batch", json=graph.events[i : i + 200])
            answer.raise_for_status()
            failed = answer.json()["failed_events"]
            if failed:
                raise RuntimeError(f"{graph.name}: {len(failed)} events refused: {failed[:2]}")


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


MEASURES = """() => Object.fromEntries(
  performance.getEntriesByType("measure")
    .filter((m) => m.name.startsWith("explorer:"))
    .map((m) => [m.name.slice("explorer:".length), m.duration]))"""


def measure_render(browser: Any, server: Server, graph: Graph, renders: int) -> dict[str, Any]:
    """``renders`` loads of the explorer on all of ``graph``, each in a new browser context
    (nothing cached), 1400x900 as in the UI tests. The first load is a warm-up, unmeasured."""
    url = f"{server.base_url}/lineage?" + urlencode(
        {"node": graph.start, "direction": graph.direction, "depth": graph.depth}
    )
    phases: dict[str, list[float]] = {}
    problems: list[str] = []
    drawn = 0
    for i in range(renders + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            page.goto(url)
            page.wait_for_selector("#graph[data-ready]", timeout=120_000)
            if page.get_attribute("#graph", "data-ready") != "true":
                problems.append(page.inner_text("#details"))
                continue
            drawn = page.locator("#graph .node").count()
            measured = page.evaluate(MEASURES)
        finally:
            context.close()
        if i == 0:
            continue
        for name, ms in measured.items():
            phases.setdefault(name, []).append(ms)
    ready = phases.get("ready", [])
    return {
        "graph": graph.name,
        "nodes_expected": graph.nodes,
        "nodes_drawn": drawn,
        "url": url.removeprefix(server.base_url),
        "renders": len(ready),
        # Each phase in ms, as the page measured it: fetch (the API call), layout (dagre), draw
        # (the SVG's elements), ready (navigation start to the graph painted: everything).
        "phases_ms": {
            name: summary_ms([ms / 1000 for ms in values]) for name, values in phases.items()
        },
        "ready_p50_ms": round(percentile(ready, 50), 1) if ready else None,
        "ready_max_ms": round(max(ready), 1) if ready else None,
        "problems": problems[:5],
    }


# -- one backend ------------------------------------------------------------------------------


def _targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for page in result["pages"]:
        value = page["wall_ms"].get("p95", float("inf"))
        targets.append(
            {
                "name": f"{page['page']}: p95 server time (ms)",
                "target": f"<= {PAGE_TARGET_MS:.0f}",
                "value": value,
                "met": value <= PAGE_TARGET_MS and page["errors"] == 0,
            }
        )
    for render in result["renders"]:
        value = render["ready_p50_ms"]
        targets.append(
            {
                "name": f"{render['nodes_drawn']}-node {render['graph']}: median navigation to painted (ms)",
                "target": f"<= {RENDER_TARGET_MS:.0f}",
                "value": value,
                "met": value is not None
                and value <= RENDER_TARGET_MS
                and render["nodes_drawn"] == render["nodes_expected"],
            }
        )
    return targets


def run_backend(backend: str, options: Options) -> dict[str, Any]:
    config = replace(
        Config.for_events(options.events, seed=options.seed), runs_per_job=options.runs_per_job
    )
    generator = EventGenerator(config)
    started = datetime.now(UTC)
    machine = machine_info()
    console.rule(
        f"[bold]{backend}[/]: {config.events:,} events, {config.jobs:,} jobs, "
        f"{config.datasets:,} datasets"
    )
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"headwater-bench-web-{backend}-"))
        schema = None
        sqlite_path = None
        if options.on is not None:  # a store kept by an earlier run
            url = options.on
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            if backend == "sqlite":
                sqlite_path = Path(make_url(url).database or "")
            else:
                schema = url.rsplit("search_path%3D", 1)[1]
        elif backend == "sqlite":
            sqlite_path = workdir / "bench.db"
            url = f"sqlite:///{sqlite_path}"
        else:
            schema = new_schema_name("bench_web")
            create_schema(options.pg_url, schema)
            url = with_search_path(options.pg_url, schema)
        if options.on is None and not options.keep_store:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            if schema is not None:
                stack.callback(drop_schema, options.pg_url, schema)
        versions = (
            {"sqlite": machine["sqlite"]}
            if backend == "sqlite"
            else {"postgresql": postgres_version(options.pg_url)}
        )
        pg_base = options.pg_url if schema is not None else None  # to meter its backends
        server = stack.enter_context(running_server(url, workdir, options.server_workers))
        console.print(f"server {server.base_url} (pid {server.process.pid}) on {url}")
        load: dict[str, Any] | None = None
        if options.on is None:
            load = load_store(server, config, 200, 3, pg_base)
            console.print(
                f"store: {load['events_stored']:,} events in {load['seconds']:,.0f} s "
                f"({load['events_per_s']:,.0f} events/s, {load['failed']} failed)"
            )
        if schema is not None:
            vacuum(url)  # what autovacuum would have done by now, also to a store kept before
        console.print(f"pages, {options.requests} requests each after {options.warmup} warm-up:")
        kinds = page_kinds(generator, random.Random(options.seed), max(options.requests, 20))
        # How busy the machine was meanwhile (it is shared): busy numbers are pessimistic.
        meter = CpuMeter(server.process.pid, {}, pg_base)
        meter.start(time.perf_counter())
        pages = measure_pages(server, kinds, options)
        cpu = {"pages": meter.stop(time.perf_counter())}
        graphs = [chain(options.graph_jobs), layered(options.graph_jobs)]
        for graph in graphs:
            post_graph(server, graph)
        graphs.append(store_pipeline(server, generator))
        renders = []
        meter.start(time.perf_counter())
        with chromium() as browser:
            for graph in graphs:
                render = measure_render(browser, server, graph, options.renders)
                console.print(
                    f"  {render['nodes_drawn']:,}-node {graph.name}: navigation to painted p50 "
                    f"{render['ready_p50_ms']} ms, max {render['ready_max_ms']} ms; layout p50 "
                    f"{render['phases_ms'].get('layout', {}).get('p50')} ms"
                )
                renders.append(render)
        cpu["renders"] = meter.stop(time.perf_counter())
        facts = store_facts(url, sqlite_path, schema, load["events_stored"] if load else None)
        server_log = server.log.read_text()[-4000:]
        if options.keep_store and options.on is None:
            console.print(f"store kept: --on '{url}' measures it again")
    finished = datetime.now(UTC)
    result: dict[str, Any] = {
        "benchmark": "web",
        "backend": backend,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": round((finished - started).total_seconds(), 1),
        "machine": machine,
        "versions": versions,
        "chromium": str(CHROMIUM),
        "parameters": {
            **asdict(config),
            "jobs": config.jobs,
            "datasets": config.datasets,
            "events": config.events,
            "requests": options.requests,
            "warmup": options.warmup,
            "graph_jobs": options.graph_jobs,
            "renders": options.renders,
            "server": f"headwater serve --workers {options.server_workers}, log level warning",
        },
        "store_loaded": load,
        "store_url": url if options.keep_store or options.on else None,
        "store": facts,
        "pages": pages,
        "renders": renders,
        "cpu": cpu,
        "server_log_tail": server_log,
    }
    result["targets"] = _targets(result)
    return result


def write_results(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    path = out / f"web-{result['backend']}-{stamp}.json"
    path.write_bytes(data)
    (out / f"web-{result['backend']}-latest.json").write_bytes(data)
    return path


MET = {True: "met", False: "NOT met"}


def print_summary(results: list[dict[str, Any]]) -> None:
    table = Table(title="headwater web UI benchmark")
    table.add_column("measure")
    for r in results:
        table.add_column(r["backend"], justify="right")
    table.add_row(
        "events in the store", *[f"{r['store']['rows']['lineage_events']:,}" for r in results]
    )
    for i, target in enumerate(results[0]["targets"]):
        values = []
        for r in results:
            t = r["targets"][i]
            values.append(f"{t['value']:,.1f} ({MET[t['met']]})")
        table.add_row(f"{target['name']} {target['target']}", *values)
    console.print(table)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="the lineage benchmark's store of this many events gives the shape (1,000,000: "
        "10,000 jobs, 31,200 datasets)",
    )
    parser.add_argument(
        "--runs-per-job",
        type=int,
        default=RUNS_PER_JOB,
        help=f"runs loaded per job (default {RUNS_PER_JOB}; the lineage benchmark's store has "
        "50: --runs-per-job 50 loads all of it)",
    )
    parser.add_argument("--requests", type=int, default=100, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests per page first")
    parser.add_argument(
        "--graph-jobs", type=int, default=500, help="jobs of the explorer's graphs (2n+1 nodes)"
    )
    parser.add_argument("--renders", type=int, default=5, help="measured loads of each graph")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--pg-url",
        default=None,
        help=f"PostgreSQL database for scratch schemas (default $HEADWATER_TEST_PG_URL or {DEFAULT_PG_URL})",
    )
    parser.add_argument("--server-workers", type=int, default=2, help="headwater serve --workers")
    parser.add_argument(
        "--keep-store", action="store_true", help="keep the loaded store and print its URL"
    )
    parser.add_argument(
        "--on",
        metavar="URL",
        help="no loading: measure on a store kept by --keep-store, given the --events and "
        "--runs-per-job it was loaded with",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    return Options(
        backend=args.backend,
        events=args.events,
        runs_per_job=args.runs_per_job,
        requests=args.requests,
        warmup=args.warmup,
        graph_jobs=args.graph_jobs,
        renders=args.renders,
        seed=args.seed,
        pg_url=args.pg_url or os.environ.get("HEADWATER_TEST_PG_URL") or DEFAULT_PG_URL,
        out=args.out,
        server_workers=args.server_workers,
        keep_store=args.keep_store,
        on=args.on,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    if options.on is not None:
        backends = ["sqlite" if options.on.startswith("sqlite") else "postgresql"]
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
        console.print("[bold red]interrupted[/]: server and scratch schema cleaned up")
        return 130
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
