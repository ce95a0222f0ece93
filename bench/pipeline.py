"""Shop pipeline benchmark: ``python -m bench.pipeline`` (``make bench-pipeline``).

The shop project (``examples/shop``) at 1,000,000 raw orders, on the embedded defaults (a SQLite
metadata database and a local warehouse in a temporary folder) and, when a server answers, on
PostgreSQL (a scratch schema in the database of ``HEADWATER_TEST_PG_URL``, dropped afterwards).
Every measured pipeline run is a child process of its own, so that its peak RSS is its own; the
parent never holds the generated data (a child spawned from a big parent inherits its peak RSS
in ``ru_maxrss``). It measures:

1. the first run of batch 0 (every model full), then ``run_pipeline(full_refresh=True)`` on the
   same data (the "full refresh");
2. batch 1 (1 % new orders) delivered and run incrementally;
3. rows read per second per layer, for both;
4. the peak RSS of each run;
5. lineage enabled (in-process into the local store, the default) against disabled
   (``OPENLINEAGE_DISABLED=true``), alternating, each repetition on a fresh copy of the same
   state (the SQLite file or a ``pg_dump`` of the schema, and the warehouse folder);
6. a baseline: the models' SQL in plain DuckDB over Parquet files, no Iceberg and no lineage;

plus one cProfile of the full refresh (where the time goes). Everything goes to
``bench/results/pipeline.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from bench.support import (
    DEFAULT_PG_URL,
    ROOT,
    _git,
    create_schema,
    drop_schema,
    machine_cpu_seconds,
    machine_info,
    new_schema_name,
    postgres_version,
    with_search_path,
)

PROJECT_DIR = ROOT / "examples" / "shop"
MODULE = "bench.pipeline"
ACTOR = "bench-pipeline"
LAYERS = ("staging", "semantic", "analytics", "marts")
RAW_TABLES = (
    "raw.web_orders",
    "raw.pos_orders",
    "raw.web_customers",
    "raw.pos_customers",
    "raw.payments_refunds",
)

# The targets on the 2-core machine.
INCREMENTAL_TARGET = 0.10  # incremental run time / full refresh time
OVERHEAD_TARGET = 0.03  # (lineage enabled - disabled) / disabled
RSS_TARGET_BYTES = 2 * 1024**3
MET = {True: "met", False: "NOT met", None: "not measured"}

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 132)


class BudgetExceededError(Exception):
    """The benchmark's wall-time budget ran out before a phase could start."""


class ChildFailedError(Exception):
    """A child process exited with an error."""


# -- the children: each measured thing runs in a process of its own ---------------------------


def _memory() -> dict[str, Any]:
    """This process's peak RSS: ``ru_maxrss`` (KiB on Linux) and ``VmHWM`` of /proc/self/status.

    ``ru_maxrss`` also covers the address space the process had before ``exec`` (Linux keeps
    the larger of the two), so it is only this run's own when the parent was small; ``VmHWM``
    is the high-water mark of the current address space alone."""
    import resource

    hwm = None
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "ru_maxrss_kib": usage.ru_maxrss,
        "vm_hwm_kib": hwm,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def child_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Generate each batch (timed) and write its raw tables as Parquet files."""
    import pyarrow.parquet as pq

    from headwater.demo.shop import generate_batch

    batches: dict[str, Any] = {}
    for batch, orders in spec["batches"]:
        started = time.perf_counter()
        tables = generate_batch(batch, orders=orders)
        seconds = time.perf_counter() - started
        folder = Path(spec["data"]) / f"batch{batch}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, folder / f"{name}.parquet")
        batches[str(batch)] = {
            "orders": orders,
            "generate_s": round(seconds, 3),
            "rows": {name: table.num_rows for name, table in tables.items()},
        }
        del tables
    return {"batches": batches, "memory": _memory()}


def child_deliver(spec: dict[str, Any]) -> dict[str, Any]:
    """Append one generated batch to the raw tables, as ``headwater demo`` does (migrating the
    database and creating the raw tables first when asked)."""
    import pyarrow.parquet as pq

    from headwater.db import Database, upgrade
    from headwater.demo.run import BATCH_PROPERTY
    from headwater.lake import Lake
    from headwater.pipeline import ensure_sources, load_project

    database = Database(spec["url"])
    started = time.perf_counter()
    if spec["migrate"]:
        upgrade(database)
    lake = Lake(spec["url"], spec["warehouse"])
    ensure_sources(load_project(PROJECT_DIR), lake)
    setup_s = time.perf_counter() - started
    folder = Path(spec["folder"])
    delivered: dict[str, int] = {}
    started = time.perf_counter()
    for name in RAW_TABLES:
        data = pq.read_table(folder / f"{name}.parquet")
        table = lake.load(name)
        if table is None:
            raise LookupError(f"{name} does not exist")
        lake.append(table, data, {BATCH_PROPERTY: str(spec["batch"])})
        delivered[name] = data.num_rows
    append_s = time.perf_counter() - started
    lake.close()
    database.dispose()
    return {
        "setup_s": round(setup_s, 3),
        "append_s": round(append_s, 3),
        "delivered": delivered,
        "memory": _memory(),
    }


def _lineage_events(database: Any) -> int:
    from sqlalchemy import func, select

    from headwater.db.schema import lineage_events

    with database.read() as connection:
        return int(connection.execute(select(func.count()).select_from(lineage_events)).scalar())


# What the profile of a run is summed into: (label, file suffix, function names, indent, pool).
# Inclusive time; for several functions of one name in a file (Table.append calls
# Transaction.append) the largest counts, the names of one row are summed. ``pool`` rows run in
# PyIceberg's thread pool, in parallel, while the model's thread waits inside the rows above.
ProfileRow = tuple[str, str, tuple[str, ...], int, bool]
EXECUTE = "headwater/pipeline/execute.py"
ICEBERG_TABLE = "pyiceberg/table/__init__.py"
ICEBERG_IO = "pyiceberg/io/pyarrow.py"
MERGE = "headwater/pipeline/merge.py"
EMIT = "headwater/pipeline/emit.py"
CLIENT = "headwater/lineage/client.py"  # the local store transport
PROFILE_ROWS: tuple[ProfileRow, ...] = (
    ("run_model: all model work, both threads", EXECUTE, ("run_model",), 0, False),
    ("reconcile (catalog load, state lookup)", EXECUTE, ("reconcile",), 1, False),
    (
        "plan_reads (snapshots, files to read)",
        "headwater/pipeline/reading.py",
        ("plan_reads",),
        1,
        False,
    ),
    ("register inputs as DuckDB views", "headwater/pipeline/scan.py", ("register",), 1, False),
    ("_compute: DuckDB runs the model", EXECUTE, ("_compute",), 1, False),
    (
        "Python model customer_entities",
        "models/semantic/customer_entities.py",
        ("model",),
        2,
        False,
    ),
    ("_write: Iceberg write and commit", EXECUTE, ("_write",), 1, False),
    (
        "iceberg_compatible (cast the result)",
        "headwater/lake/lake.py",
        ("iceberg_compatible",),
        2,
        False,
    ),
    ("merge: plan in DuckDB (new/changed rows)", MERGE, ("plan_merge",), 2, False),
    ("merge: one commit (position deletes + append)", MERGE, ("commit_merge",), 2, False),
    (
        "merge-on-read: position delete files written",
        "headwater/lake/deletes.py",
        ("write_position_deletes",),
        3,
        False,
    ),
    ("Lake.overwrite (full and table models)", "headwater/lake/lake.py", ("overwrite",), 2, False),
    # Overwrites delete first; merges delete by position (headwater.lake.deletes).
    ("PyIceberg delete (overwrite)", ICEBERG_TABLE, ("delete",), 2, False),
    ("PyIceberg append (append and merge)", ICEBERG_TABLE, ("append",), 2, False),
    (
        "catalog commit (SqlCatalog.commit_table)",
        "pyiceberg/catalog/sql.py",
        ("commit_table",),
        2,
        False,
    ),
    ("Lake.files (plan the new snapshot)", "headwater/lake/lake.py", ("files",), 2, False),
    ("_test: data tests in DuckDB", EXECUTE, ("_test",), 1, False),
    (
        "state + audit (start/finish_model)",
        "headwater/pipeline/state.py",
        ("start_model",),
        1,
        False,
    ),
    ("", "headwater/pipeline/state.py", ("finish_model",), 1, False),
    ("queue lineage events (model_start/model_end)", EMIT, ("model_start",), 1, False),
    ("", EMIT, ("model_end",), 1, False),
    ("catalog loads (Lake.load, anywhere)", "headwater/lake/lake.py", ("load",), 1, False),
    # Since b4c6fc8 the events are built and delivered by one background thread (not model
    # work); the main thread waits for it at the end of the run (``close``).
    ("lineage thread: events built and delivered", EMIT, ("_deliver",), 0, False),
    ("model events (_model_start/_model_end)", EMIT, ("_model_start", "_model_end"), 1, False),
    (
        "column lineage (sqlglot)",
        "headwater/pipeline/column_lineage.py",
        ("column_lineage",),
        2,
        False,
    ),
    ("pipeline events (_pipeline_event)", EMIT, ("_pipeline_event",), 1, False),
    ("OpenLineageClient.emit", "openlineage/client/client.py", ("emit",), 1, False),
    ("serialized and validated (transport.emit)", CLIENT, ("emit",), 2, False),
    # Stored in batches (one transaction each) by the lineage thread, its timer or close.
    ("lineage store: batches written (flush)", CLIENT, ("flush",), 0, False),
    ("main thread waits for the lineage thread (close)", EMIT, ("close",), 0, False),
    ("build_graph (main thread)", "headwater/pipeline/dag.py", ("build_graph",), 0, False),
    ("Parquet data files written", ICEBERG_IO, ("write_data_file",), 0, True),
    ("data files read (PyIceberg scans)", ICEBERG_IO, ("_task_to_record_batches",), 0, True),
    ("manifests read", ICEBERG_TABLE, ("_open_manifest",), 0, True),
    (
        "manifests written",
        "pyiceberg/table/update/snapshot.py",
        ("_write_added_manifest", "_write_delete_manifest", "_existing_manifests"),
        0,
        True,
    ),
)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/examples/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _profile_summary(stats: Any, wall_s: float) -> dict[str, Any]:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats
    rows: list[dict[str, Any]] = []
    for label, suffix, names, indent, pool in PROFILE_ROWS:
        total = 0.0
        calls = 0
        for name in names:
            matches = [
                (value[3], value[1])
                for (filename, _line, function), value in raw.items()
                if function == name and filename.endswith(suffix)
            ]
            if matches:
                best = max(matches)
                total += best[0]
                calls += best[1]
        if label:
            rows.append(
                {
                    "what": label,
                    "indent": indent,
                    "pool": pool,
                    "seconds": round(total, 3),
                    "calls": calls,
                }
            )
        elif rows:  # a continuation row: summed into the previous one
            rows[-1]["seconds"] = round(rows[-1]["seconds"] + total, 3)
            rows[-1]["calls"] += calls
    work = rows[0]["seconds"] or 1.0
    for row in rows:
        row["share_of_model_work"] = round(row["seconds"] / work, 3)
    top = sorted(raw.items(), key=lambda item: -item[1][2])[:30]
    return {
        "wall_s": round(wall_s, 3),
        "model_work_s": rows[0]["seconds"],
        "parallelism": round(rows[0]["seconds"] / wall_s, 2) if wall_s else None,
        "rows": rows,
        "top_self_time": [
            {
                "function": f"{_short(filename)}:{line}({function})",
                "self_s": round(value[2], 3),
                "inclusive_s": round(value[3], 3),
                "calls": value[1],
            }
            for (filename, line, function), value in top
        ],
    }


def _profile_every_pool_task(profiles: list[Any]) -> None:
    """cProfile profiles the thread that enables it: run every task submitted to a thread pool
    (the runner's models, PyIceberg's file reads and writes, the lineage thread's events) under
    a profiler of its own.
    This process only; the runs that are timed are not profiled."""
    import cProfile
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    original = ThreadPoolExecutor.submit
    lock = threading.Lock()

    def submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        def profiled() -> Any:
            profile = cProfile.Profile()
            profile.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                profile.disable()
                with lock:
                    profiles.append(profile)

        return original(self, profiled)

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]


def _count_lineage_cpu() -> dict[str, float]:
    """Count the CPU time of every thread while it builds, emits or stores lineage events
    (and creates the client): lineage's own cost, measured directly, which on a noisy
    two-core machine is steadier than the difference of two wall-clock medians. Calls nested
    in a counted one (a flush from the lineage thread) are not counted twice."""
    import threading

    from headwater.pipeline import emit, runner

    spent = {"cpu_s": 0.0}
    lock = threading.Lock()
    depth = threading.local()

    def counted(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            depth.level = level + 1
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                depth.level = level
                if level == 0:
                    with lock:
                        spent["cpu_s"] += time.thread_time() - started

        return wrapper

    for name in ("_deliver", "_flush"):
        setattr(emit.LineageEmitter, name, counted(getattr(emit.LineageEmitter, name)))
    runner.make_client = counted(runner.make_client)
    return spent


def child_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One pipeline run, timed; with ``profile``, under cProfile in every thread."""
    import cProfile
    import pstats

    from headwater.db import Database
    from headwater.lake import Lake
    from headwater.lineage.client import user_configured
    from headwater.pipeline import load_project, run_pipeline

    project = load_project(PROJECT_DIR)
    database = Database(spec["url"])
    lake = Lake(spec["url"], spec["warehouse"])
    events_before = _lineage_events(database)
    lineage_cpu = _count_lineage_cpu()
    before = _memory()
    profiles: list[cProfile.Profile] = []
    if spec.get("profile"):
        _profile_every_pool_task(profiles)
        main_profile = cProfile.Profile()
        main_profile.enable()
    started = time.perf_counter()
    result = run_pipeline(project, database, lake, full_refresh=spec["full_refresh"], actor=ACTOR)
    seconds = time.perf_counter() - started
    profile_summary = None
    if spec.get("profile"):
        main_profile.disable()
        stats = pstats.Stats(main_profile)
        for profile in profiles:
            stats.add(profile)
        profile_summary = _profile_summary(stats, seconds)
    memory = _memory()
    models = []
    for name, outcome in result.outcomes.items():
        record = outcome.record
        ended = record.ended_at
        output = outcome.output
        models.append(
            {
                "model": name,
                "layer": name.split(".", 1)[0],
                "materialized": project.models[name].config.materialized,
                "status": record.status,
                "mode": record.mode,
                "rows_read": record.rows_read,
                "rows_written": record.rows_written,
                "seconds": (ended - record.started_at).total_seconds() if ended else None,
                "reads": {
                    read.table: {"rows": read.rows, "incremental": read.incremental}
                    for read in outcome.reads
                },
                "added_files": output.added_files if output else 0,
                "added_bytes": output.added_bytes if output else 0,
                "tests": len(outcome.tests),
                "message": record.message,
            }
        )
    events_after = _lineage_events(database)
    lake.close()
    database.dispose()
    return {
        "status": result.status,
        "seconds": round(seconds, 3),
        # CPU of every thread of this process (DuckDB's and PyIceberg's too) during the run.
        "cpu_s": round(memory["cpu_s"] - before["cpu_s"], 2),
        "lineage_cpu_s": round(lineage_cpu["cpu_s"], 3),
        "full_refresh": spec["full_refresh"],
        "lineage_client_configured_by_env": user_configured(),
        "lineage_disabled": os.environ.get("OPENLINEAGE_DISABLED") == "true",
        "lineage_events_stored": events_after - events_before,
        "undelivered_events": result.undelivered_events,
        "skipped": result.skipped,
        "models": models,
        "memory_before_run": before,
        "memory": memory,
        "profile": profile_summary,
    }


def child_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The models' SQL in plain DuckDB over Parquet files: no Iceberg, no lineage, no tests.

    Raw tables are views over the generated Parquet files; each model, in dependency order, is
    ``CREATE TABLE <layer>.<name> AS <its SQL>`` (the Python model is called like the engine
    calls it and its Arrow result becomes the table), then ``COPY``-ed to a Parquet file."""
    import duckdb

    from headwater.pipeline import build_graph, load_project
    from headwater.pipeline.project import LAYERS as ALL_LAYERS

    project = load_project(PROJECT_DIR)
    graph = build_graph(project)
    data = Path(spec["data"])
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    # The models read their inputs whole also as whole.<layer>.<table>: a second name here.
    connection.execute("ATTACH ':memory:' AS whole")
    for layer in ALL_LAYERS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS whole.{layer}")
    for name in project.sources:
        path = data / f"{name}.parquet"
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        connection.execute(f"CREATE VIEW whole.{name} AS SELECT * FROM memory.{name}")
    models: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in graph.order:
        model = project.models[name]
        model_started = time.perf_counter()
        if model.python is not None:
            relations = {table: connection.table(table) for table in graph.inputs[name]}
            produced = model.python(relations)
            if isinstance(produced, duckdb.DuckDBPyRelation):
                produced = produced.to_arrow_table()
            connection.register("hw_result", produced)
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM hw_result")
            connection.unregister("hw_result")
        elif model.config.materialized == "view":
            connection.execute(f"CREATE VIEW {name} AS {model.sql}")
        else:
            # A full build leaves out the rows a merge model marks for deletion, as the engine does.
            keep = f"NOT COALESCE(({model.config.delete_when}), FALSE)"
            query = (
                f"SELECT * FROM ({model.sql}) WHERE {keep}"
                if model.config.delete_when
                else model.sql
            )
            connection.execute(f"CREATE TABLE {name} AS {query}")
        if model.config.materialized != "view":
            connection.execute(f"CREATE VIEW whole.{name} AS SELECT * FROM memory.{name}")
            connection.execute(f"COPY {name} TO '{out / name}.parquet' (FORMAT parquet)")
        models.append({"model": name, "seconds": round(time.perf_counter() - model_started, 3)})
    seconds = time.perf_counter() - started
    for entry in models:  # outside the clock
        row = connection.execute(f"SELECT count(*) FROM {entry['model']}").fetchone()
        entry["rows_written"] = int(row[0]) if row else 0
    connection.close()
    return {
        "seconds": round(seconds, 3),
        "models": models,
        "duckdb_threads": os.cpu_count(),
        "memory": _memory(),
    }


CHILDREN = {
    "generate": child_generate,
    "deliver": child_deliver,
    "run": child_run,
    "baseline": child_baseline,
}


def child_main(kind: str, spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    result = CHILDREN[kind](spec)
    Path(spec["result"]).write_text(json.dumps(result, default=str))
    return 0


# -- the parent: state copies, child processes, numbers ---------------------------------------


class Deadline:
    def __init__(self, budget_s: float) -> None:
        self.started = time.monotonic()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.budget_s - self.elapsed()

    def check(self, what: str) -> None:
        if self.remaining() < 10:
            raise BudgetExceededError(
                f"the {self.budget_s:.0f} s budget ran out before {what} "
                f"({self.elapsed():.0f} s elapsed)"
            )


class Children:
    """Runs the child entry points of this module, one process each."""

    def __init__(self, workdir: Path, deadline: Deadline) -> None:
        self.workdir = workdir
        self.deadline = deadline
        self.count = 0

    def run(self, kind: str, spec: dict[str, Any], *, lineage: bool = True) -> dict[str, Any]:
        self.deadline.check(f"a {kind} child")
        self.count += 1
        spec_path = self.workdir / f"child-{self.count:03d}-{kind}.json"
        result_path = self.workdir / f"child-{self.count:03d}-{kind}.result.json"
        spec_path.write_text(json.dumps({**spec, "result": str(result_path)}))
        # No inherited OpenLineage or headwater settings: enabled means the default transport
        # (in-process into the local store), disabled means OPENLINEAGE_DISABLED=true.
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "HEADWATER_"))
        }
        # An installed package has its bytecode; without it every module imported inside the
        # clock (the lineage side is imported on first use) is compiled from source first.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not lineage:
            env["OPENLINEAGE_DISABLED"] = "true"
        started = time.perf_counter()
        busy0, total0 = machine_cpu_seconds()
        try:
            process = subprocess.run(
                [sys.executable, "-m", MODULE, "--child", kind, str(spec_path)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=max(self.deadline.remaining(), 10),
            )
        except subprocess.TimeoutExpired as exc:
            raise BudgetExceededError(f"a {kind} child ran past the budget; killed") from exc
        if process.returncode != 0:
            tail = "\n".join(process.stderr.splitlines()[-25:])
            raise ChildFailedError(f"{kind} child exited with {process.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(result_path.read_text())
        result["child_wall_s"] = round(time.perf_counter() - started, 3)
        busy1, total1 = machine_cpu_seconds()
        # Busy share of all cores while the child ran: well above the child's own CPU means
        # something else was running on the machine.
        result["machine_busy_share"] = round((busy1 - busy0) / max(total1 - total0, 1e-9), 3)
        return result


class State(Protocol):
    backend: str
    url: str
    warehouse: Path

    def save(self, name: str) -> float: ...

    def restore(self, name: str) -> float: ...

    def close(self) -> None: ...


def _copy_tree(source: Path, destination: Path) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class SqliteState:
    """A SQLite file and the warehouse in one folder; a copy of the folder is a state."""

    backend = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.live = root / "state"
        self.live.mkdir(parents=True)
        self.url = f"sqlite:///{self.live / 'headwater.db'}"
        self.warehouse = self.live / "warehouse"

    def save(self, name: str) -> float:
        started = time.perf_counter()
        _copy_tree(self.live, self.root / f"snapshot-{name}")
        return time.perf_counter() - started

    def restore(self, name: str) -> float:
        # Back to the same path: the catalog and the metadata files hold absolute paths.
        started = time.perf_counter()
        _copy_tree(self.root / f"snapshot-{name}", self.live)
        return time.perf_counter() - started

    def close(self) -> None:
        pass


def _libpq_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresState:
    """A scratch schema and a warehouse folder; a ``pg_dump`` of the schema (restored under the
    same name) with a copy of the folder is a state."""

    backend = "postgresql"

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        self.schema = new_schema_name("bench_pipeline")
        create_schema(base_url, self.schema)
        self.url = with_search_path(base_url, self.schema)
        self.live = root / "state"
        self.live.mkdir(parents=True)
        self.warehouse = self.live / "warehouse"
        self.libpq = _libpq_url(base_url)

    def save(self, name: str) -> float:
        started = time.perf_counter()
        dump = self.root / f"snapshot-{name}.dump"
        subprocess.run(
            ["pg_dump", "--format=custom", f"--schema={self.schema}", f"--file={dump}", self.libpq],
            check=True,
            capture_output=True,
            timeout=300,
        )
        _copy_tree(self.warehouse, self.root / f"snapshot-{name}-warehouse")
        return time.perf_counter() - started

    def restore(self, name: str) -> float:
        started = time.perf_counter()
        drop_schema(self.base_url, self.schema)
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-acl",
                f"--dbname={self.libpq}",
                str(self.root / f"snapshot-{name}.dump"),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        self._analyze()
        _copy_tree(self.root / f"snapshot-{name}-warehouse", self.warehouse)
        return time.perf_counter() - started

    def _analyze(self) -> None:
        """Planner statistics, which a restore does not bring back (autovacuum would)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.base_url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                tables = connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                    {"s": self.schema},
                ).scalars()
                for table in list(tables):
                    connection.exec_driver_sql(f'ANALYZE "{self.schema}"."{table}"')
        finally:
            engine.dispose()

    def close(self) -> None:
        drop_schema(self.base_url, self.schema)


def _pg_reachable(url: str) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure means "no server here"
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


# -- numbers ----------------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {
        "n": len(values),
        "median_s": round(median, 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "spread_pct": round((max(values) - min(values)) / median * 100, 1) if median else None,
        "seconds": [round(v, 3) for v in values],
    }


def layer_rates(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per layer: rows read and model seconds summed over its models, and their ratio."""
    layers: dict[str, dict[str, Any]] = {}
    for layer in LAYERS:
        models = [m for m in run["models"] if m["layer"] == layer]
        rows = sum(m["rows_read"] for m in models)
        seconds = sum(m["seconds"] or 0.0 for m in models)
        layers[layer] = {
            "models": len(models),
            "rows_read": rows,
            "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds) if seconds else None,
        }
    return layers


def summarize_kind(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repetitions of one kind of run (full refresh or incremental), each way."""
    enabled = [r for r in runs if not r["lineage_disabled"]]
    disabled = [r for r in runs if r["lineage_disabled"]]
    on = _spread([r["seconds"] for r in enabled])
    off = _spread([r["seconds"] for r in disabled])
    overhead = (on["median_s"] - off["median_s"]) / off["median_s"]
    cpu_on = statistics.median(r["cpu_s"] for r in enabled)
    cpu_off = statistics.median(r["cpu_s"] for r in disabled)
    pairs = [e["seconds"] / d["seconds"] - 1 for e, d in zip(enabled, disabled, strict=False)]
    lineage_cpu = [r["lineage_cpu_s"] for r in enabled]
    lineage_share = statistics.median(
        r["lineage_cpu_s"] / r["cpu_s"] for r in enabled if r["cpu_s"]
    )
    per_model: list[dict[str, Any]] = []
    # Models finish in a different order from run to run: match them by name.
    by_name = [{m["model"]: m for m in r["models"]} for r in enabled]
    ordered = sorted(enabled[0]["models"], key=lambda m: (LAYERS.index(m["layer"]), m["model"]))
    for first in ordered:
        seconds = [models[first["model"]]["seconds"] or 0.0 for models in by_name]
        per_model.append(
            {
                key: first[key]
                for key in ("model", "layer", "materialized", "mode", "rows_read", "rows_written")
            }
            | {
                "median_s": round(statistics.median(seconds), 3),
                "seconds": [round(x, 3) for x in seconds],
                "reads": first["reads"],
                "added_files": first["added_files"],
                "same_rows_every_run": all(
                    (models[first["model"]]["rows_read"], models[first["model"]]["rows_written"])
                    == (first["rows_read"], first["rows_written"])
                    for models in by_name
                ),
            }
        )
    layers: dict[str, dict[str, Any]] = {}
    for layer in LAYERS:
        rates = [layer_rates(r)[layer] for r in enabled]
        values = [x["rows_per_s"] for x in rates if x["rows_per_s"] is not None]
        layers[layer] = {
            "rows_read": rates[0]["rows_read"],
            "median_model_s": round(statistics.median(x["seconds"] for x in rates), 3),
            "median_rows_per_s": round(statistics.median(values)) if values else None,
        }
    rss = [r["memory"]["ru_maxrss_kib"] for r in runs]
    hwm = [r["memory"]["vm_hwm_kib"] for r in runs]
    return {
        "enabled": on,
        "disabled": off,
        "lineage_overhead_pct": round(overhead * 100, 2),
        "paired_overhead_pct": {
            "median": round(statistics.median(pairs) * 100, 2),
            "min": round(min(pairs) * 100, 2),
            "max": round(max(pairs) * 100, 2),
        },
        # CPU seconds are less disturbed than wall time by other load on the machine.
        "cpu_s": {
            "enabled_median": round(cpu_on, 2),
            "disabled_median": round(cpu_off, 2),
            "overhead_pct": round((cpu_on - cpu_off) / cpu_off * 100, 2),
        },
        # Measured in the threads doing lineage work (`_count_lineage_cpu`), lineage on.
        "lineage_cpu": {
            "median_s": round(statistics.median(lineage_cpu), 3),
            "seconds": lineage_cpu,
            "median_share_of_run_cpu_pct": round(lineage_share * 100, 2),
        },
        "statuses": sorted({r["status"] for r in runs}),
        "lineage_events_per_run": {
            "enabled": enabled[0]["lineage_events_stored"],
            "disabled": disabled[0]["lineage_events_stored"],
        },
        "models": per_model,
        "layers": layers,
        "peak_rss_kib": {"max_ru_maxrss": max(rss), "max_vm_hwm": max(hwm)},
        "runs": [
            {
                "rep": r["rep"],
                "lineage": not r["lineage_disabled"],
                "seconds": r["seconds"],
                "cpu_s": r["cpu_s"],
                "lineage_cpu_s": r["lineage_cpu_s"],
                "status": r["status"],
                "memory": r["memory"],
                "restore_s": r["restore_s"],
                "child_wall_s": r["child_wall_s"],
                "lineage_events_stored": r["lineage_events_stored"],
                "machine_busy_share": r["machine_busy_share"],
            }
            for r in runs
        ],
    }


def alternate(
    children: Children, state: State, snapshot: str, *, full_refresh: bool, reps: int, label: str
) -> list[dict[str, Any]]:
    """``reps`` runs each way on fresh copies of ``snapshot``: enabled and disabled take turns,
    and which goes first flips every repetition (ABBA), so that drift hits both alike."""
    runs: list[dict[str, Any]] = []
    spec = {"url": state.url, "warehouse": str(state.warehouse), "full_refresh": full_refresh}
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for lineage in order:
            restore_s = state.restore(snapshot)
            run = children.run("run", spec, lineage=lineage)
            run["rep"] = rep
            run["restore_s"] = round(restore_s, 3)
            runs.append(run)
            console.print(
                f"  {label} rep {rep + 1}/{reps}, lineage {'on ' if lineage else 'off'}: "
                f"{run['seconds']:.2f} s, {run['status']}, "
                f"peak RSS {run['memory']['ru_maxrss_kib'] / 1024:.0f} MiB"
            )
    return runs


def profile_run(children: Children, state: State, snapshot: str, full: bool) -> dict[str, Any]:
    """One more run of ``snapshot`` under cProfile (lineage on), not counted in the timings."""
    state.restore(snapshot)
    spec = {"url": state.url, "warehouse": str(state.warehouse)}
    profiled = children.run("run", spec | {"full_refresh": full, "profile": True})
    kind = "full refresh" if full else "incremental"
    console.print(f"  {kind} under cProfile: {profiled['seconds']:.2f} s (not counted)")
    return {
        "seconds": profiled["seconds"],
        "status": profiled["status"],
        **(profiled["profile"] or {}),
    }


def run_backend(
    state: State,
    children: Children,
    data: Path,
    options: Options,
    result: dict[str, Any],
    *,
    profile: bool,
) -> None:
    """Every measurement of one backend, into ``result`` (so that a budget running out keeps
    what was measured)."""
    result["complete"] = False
    console.rule(f"[bold]{state.backend}")
    spec = {"url": state.url, "warehouse": str(state.warehouse)}
    result["deliver_batch0"] = children.run(
        "deliver", spec | {"folder": str(data / "batch0"), "batch": 0, "migrate": True}
    )
    console.print(
        f"  batch 0 appended to the raw tables in {result['deliver_batch0']['append_s']:.2f} s"
    )
    first = children.run("run", spec | {"full_refresh": False})
    first["layers"] = layer_rates(first)
    result["first_run"] = first
    console.print(
        f"  first run (every model full): {first['seconds']:.2f} s, {first['status']}, "
        f"peak RSS {first['memory']['ru_maxrss_kib'] / 1024:.0f} MiB"
    )
    result["snapshot_save_s"] = {"after_batch0": round(state.save("after-batch0"), 3)}
    result["state_bytes_after_batch0"] = _tree_bytes(state.warehouse)
    if profile:
        result["profile"] = {"full_refresh": profile_run(children, state, "after-batch0", True)}

    def measure(key: str, snapshot: str, *, full_refresh: bool, label: str) -> None:
        runs = alternate(
            children, state, snapshot, full_refresh=full_refresh, reps=options.reps, label=label
        )
        result[key] = summarize_kind(runs)

    measure("full_refresh", "after-batch0", full_refresh=True, label="full refresh")
    state.restore("after-batch0")
    result["deliver_batch1"] = children.run(
        "deliver", spec | {"folder": str(data / "batch1"), "batch": 1, "migrate": False}
    )
    result["snapshot_save_s"]["after_batch1_delivered"] = round(
        state.save("after-batch1-delivered"), 3
    )
    measure("incremental", "after-batch1-delivered", full_refresh=False, label="incremental")
    if profile:
        result["profile"]["incremental"] = profile_run(
            children, state, "after-batch1-delivered", False
        )
    # A run with nothing new to read: what every run costs whatever the data, the floor
    # under any incremental run.
    state.restore("after-batch1-delivered")
    children.run("run", spec | {"full_refresh": False})
    result["snapshot_save_s"]["after_batch1_run"] = round(state.save("after-batch1-run"), 3)
    measure("nothing_new", "after-batch1-run", full_refresh=False, label="nothing new")
    result["complete"] = True


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    full = result.get("full_refresh")
    incremental = result.get("incremental")
    if full and incremental:
        ratio = incremental["enabled"]["median_s"] / full["enabled"]["median_s"]
        out.append(
            {
                "target": "incremental (1 % new rows) <= 10 % of full refresh",
                "value": f"{ratio * 100:.1f} %",
                "ratio": round(ratio, 4),
                "met": ratio <= INCREMENTAL_TARGET,
            }
        )
    else:
        out.append({"target": "incremental <= 10 % of full refresh", "met": None})
    for kind, summary in (("full refresh", full), ("incremental", incremental)):
        if summary:
            pct = summary["lineage_overhead_pct"]
            out.append(
                {
                    "target": f"lineage overhead <= 3 % ({kind})",
                    "value": f"{pct:.1f} % (paired median {summary['paired_overhead_pct']['median']:.1f} %)",
                    "overhead_pct": pct,
                    "met": pct <= OVERHEAD_TARGET * 100,
                }
            )
        else:
            out.append({"target": f"lineage overhead <= 3 % ({kind})", "met": None})
    for kind, summary in (("full refresh", full), ("incremental", incremental)):
        if summary:
            share = summary["lineage_cpu"]["median_share_of_run_cpu_pct"]
            out.append(
                {
                    "target": f"lineage CPU <= 3 % of the run's CPU ({kind})",
                    "value": f"{share:.1f} % ({summary['lineage_cpu']['median_s']:.2f} s)",
                    "share_pct": share,
                    "met": share <= OVERHEAD_TARGET * 100,
                }
            )
    peaks = [
        kib
        for summary in (full, incremental)
        if summary
        for kib in (summary["peak_rss_kib"]["max_ru_maxrss"],)
    ]
    if "first_run" in result:
        peaks.append(result["first_run"]["memory"]["ru_maxrss_kib"])
    if peaks:
        peak = max(peaks) * 1024
        out.append(
            {
                "target": "peak RSS of a pipeline run <= 2 GiB",
                "value": f"{peak / 1024**3:.2f} GiB",
                "peak_bytes": peak,
                "met": peak <= RSS_TARGET_BYTES,
            }
        )
    else:
        out.append({"target": "peak RSS of a pipeline run <= 2 GiB", "met": None})
    return out


def code_hash() -> str:
    """A hash of what a run executes: headwater's sources and the shop project. Compared at the
    start and at the end, it tells whether the code changed under the benchmark."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted([*(ROOT / "src" / "headwater").rglob("*.py"), *PROJECT_DIR.rglob("*.*")])
    for path in files:
        if "__pycache__" in path.parts:  # bytecode the runs themselves write
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def machine() -> dict[str, Any]:
    """The shared machine facts, with this benchmark's package versions and code hash."""
    packages = ("duckdb", "pyiceberg", "pyarrow", "sqlglot", "openlineage-python", "headwater")
    info = machine_info()
    del info["writer_sha256"]  # the lineage benchmark's concern
    info["versions"] = {name: version(name) for name in packages}
    info["code_sha256"] = code_hash()
    info["git_dirty_files"] = [
        line
        for line in (_git("status", "--porcelain", "--", "src", "examples") or "").splitlines()
        if line.strip()
    ]
    return info


# -- output -----------------------------------------------------------------------------------


def _seconds(summary: dict[str, Any] | None, way: str) -> str:
    if not summary:
        return "-"
    s = summary[way]
    return f"{s['median_s']:.2f} s ({s['min_s']:.2f}-{s['max_s']:.2f}, n={s['n']})"


def print_summary(report: dict[str, Any]) -> None:
    results: list[dict[str, Any]] = report["backends"]
    table = Table(
        title="headwater pipeline benchmark: the shop at "
        f"{report['parameters']['orders']:,} orders",
        title_justify="left",
    )
    table.add_column("metric")
    for r in results:
        table.add_column(r["backend"], justify="right")

    def row(label: str, cell: Any) -> None:
        table.add_row(label, *[cell(r) for r in results])

    generated = report["generate"]["batches"]
    table.add_row(
        "generate batch 0 / batch 1 (not counted)",
        *[f"{generated['0']['generate_s']:.1f} s / {generated['1']['generate_s']:.2f} s"]
        * len(results),
    )
    row(
        "first run (all full), lineage on",
        lambda r: f"{r['first_run']['seconds']:.2f} s" if "first_run" in r else "-",
    )
    row("full refresh, lineage on", lambda r: _seconds(r.get("full_refresh"), "enabled"))
    row("full refresh, lineage off", lambda r: _seconds(r.get("full_refresh"), "disabled"))
    row("incremental +1 %, lineage on", lambda r: _seconds(r.get("incremental"), "enabled"))
    row("incremental +1 %, lineage off", lambda r: _seconds(r.get("incremental"), "disabled"))
    row("nothing new, lineage on", lambda r: _seconds(r.get("nothing_new"), "enabled"))
    row("nothing new, lineage off", lambda r: _seconds(r.get("nothing_new"), "disabled"))
    row(
        "nothing new / full refresh (lineage on)",
        lambda r: (
            f"{r['nothing_new']['enabled']['median_s'] / r['full_refresh']['enabled']['median_s'] * 100:.1f} %"
            if r.get("nothing_new") and r.get("full_refresh")
            else "-"
        ),
    )
    for kind in ("full_refresh", "incremental"):
        for layer in LAYERS:
            row(
                f"{kind.replace('_', ' ')}: {layer} rows read/s",
                lambda r, k=kind, lay=layer: (
                    f"{r[k]['layers'][lay]['median_rows_per_s']:,}"
                    if r.get(k) and r[k]["layers"][lay]["median_rows_per_s"] is not None
                    else "-"
                ),
            )

    def kind_row(label: str, kind: str, cell: Callable[[dict[str, Any]], str]) -> None:
        """A row of one kind of run (``cell`` gets its summary), "-" where it did not run."""
        row(f"{label}, {kind.replace('_', ' ')}", lambda r: cell(r[kind]) if r.get(kind) else "-")

    for kind in ("full_refresh", "incremental"):
        kind_row(
            "lineage overhead",
            kind,
            lambda k: (
                f"{k['lineage_overhead_pct']:+.1f} % (pairs "
                f"{k['paired_overhead_pct']['min']:+.1f}..{k['paired_overhead_pct']['max']:+.1f})"
            ),
        )
        kind_row(
            "CPU s lineage on / off",
            kind,
            lambda k: (
                f"{k['cpu_s']['enabled_median']:.1f} / {k['cpu_s']['disabled_median']:.1f}"
                f" ({k['cpu_s']['overhead_pct']:+.1f} %)"
            ),
        )
        kind_row(
            "lineage threads' CPU",
            kind,
            lambda k: (
                f"{k['lineage_cpu']['median_s']:.2f} s"
                f" ({k['lineage_cpu']['median_share_of_run_cpu_pct']:.1f} % of the run's CPU)"
            ),
        )
        kind_row(
            "peak RSS",
            kind,
            lambda k: (
                f"{k['peak_rss_kib']['max_ru_maxrss'] / 1024:,.0f} / "
                f"{k['peak_rss_kib']['max_vm_hwm'] / 1024:,.0f} MiB (ru_maxrss / VmHWM)"
            ),
        )
    baseline = report.get("baseline")
    if baseline:
        table.add_row(
            "baseline: plain DuckDB over Parquet",
            *[f"{baseline['median_s']:.2f} s"] * len(results),
        )
        row(
            "full refresh / baseline",
            lambda r: (
                f"{r['full_refresh']['enabled']['median_s'] / baseline['median_s']:.1f}x"
                if r.get("full_refresh")
                else "-"
            ),
        )
    for i, target in enumerate(targets(results[0]) if results else []):
        row(
            target["target"],
            lambda r, i=i: f"{MET[r['targets'][i]['met']]} ({r['targets'][i].get('value', '')})",
        )
    console.print(table)
    for r in results:
        if r.get("incremental"):
            models = Table(
                title=f"{r['backend']}: per model, medians of the lineage-on runs",
                title_justify="left",
            )
            for name in ("model", "inc mode", "inc read", "inc written", "inc s", "full s"):
                models.add_column(name, justify="left" if name == "model" else "right")
            full_s = {m["model"]: m["median_s"] for m in r["full_refresh"]["models"]}
            for m in r["incremental"]["models"]:
                models.add_row(
                    m["model"],
                    m["mode"],
                    f"{m['rows_read']:,}",
                    f"{m['rows_written']:,}",
                    f"{m['median_s']:.2f}",
                    f"{full_s.get(m['model'], float('nan')):.2f}",
                )
            console.print(models)
        for kind, summary in (r.get("profile") or {}).items():
            prof = Table(
                title=f"{r['backend']}: where the {kind.replace('_', ' ')}'s time goes "
                f"(cProfile: {summary['wall_s']:.1f} s wall, threads summed, inclusive)",
                title_justify="left",
            )
            prof.add_column("time in")
            prof.add_column("s", justify="right")
            prof.add_column("share of model work", justify="right")
            for p in summary["rows"]:
                if p["pool"]:
                    continue
                prof.add_row(
                    "  " * p["indent"] + p["what"],
                    f"{p['seconds']:.2f}",
                    f"{p['share_of_model_work'] * 100:.0f} %",
                )
            prof.add_section()
            for p in summary["rows"]:
                if p["pool"]:
                    prof.add_row(f"PyIceberg pool: {p['what']}", f"{p['seconds']:.2f}", "")
            console.print(prof)


# -- driver -----------------------------------------------------------------------------------


@dataclass
class Options:
    backends: tuple[str, ...]
    orders: int
    increment: int
    reps: int
    baseline_reps: int
    pg_url: str
    out: Path
    budget_s: float
    profile: bool
    baseline: bool


@contextmanager
def _scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="headwater-bench-pipeline-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write_results(report: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in (f"pipeline-{stamp}.json", "pipeline.json"):
        (out / name).write_text(text)
    return out / "pipeline.json"


def run(options: Options) -> dict[str, Any]:
    deadline = Deadline(options.budget_s)
    report: dict[str, Any] = {
        "benchmark": "pipeline",
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": {
            "project": str(PROJECT_DIR.relative_to(ROOT)),
            "orders": options.orders,
            "increment_orders": options.increment,
            "reps_each_way": options.reps,
            "baseline_reps": options.baseline_reps,
            "budget_s": options.budget_s,
        },
        "backends": [],
        "notes": [],
    }
    with _scratch() as scratch:
        children = Children(scratch, deadline)
        data = scratch / "data"
        console.print(
            f"generating batch 0 ({options.orders:,} orders) and batch 1 "
            f"({options.increment:,}), not counted"
        )
        report["generate"] = children.run(
            "generate",
            {"data": str(data), "batches": [[0, options.orders], [1, options.increment]]},
        )
        console.print(
            f"  {report['generate']['batches']['0']['generate_s']:.1f} s and "
            f"{report['generate']['batches']['1']['generate_s']:.2f} s"
        )
        if options.baseline:
            runs = []
            for rep in range(options.baseline_reps):
                runs.append(
                    children.run(
                        "baseline",
                        {"data": str(data / "batch0"), "out": str(scratch / f"baseline-{rep}")},
                    )
                )
                shutil.rmtree(scratch / f"baseline-{rep}", ignore_errors=True)
            report["baseline"] = _spread([r["seconds"] for r in runs]) | {
                "models": runs[0]["models"],
                "peak_rss_kib": max(r["memory"]["ru_maxrss_kib"] for r in runs),
                "duckdb_threads": runs[0]["duckdb_threads"],
            }
            console.print(
                f"baseline (plain DuckDB over Parquet): {report['baseline']['median_s']:.2f} s"
            )
        for index, backend in enumerate(options.backends):
            if backend == "postgresql":
                problem = _pg_reachable(options.pg_url)
                if problem is not None:
                    report["notes"].append(f"PostgreSQL skipped: no server ({problem})")
                    console.print(f"[yellow]PostgreSQL skipped[/]: {problem}")
                    continue
                if index > 0 and report["backends"]:
                    # The first backend's time is the estimate for this one (plus a margin).
                    needed = report["backends"][-1]["elapsed_s"] * 1.3
                    if deadline.remaining() < needed:
                        note = (
                            f"PostgreSQL skipped: {deadline.remaining():.0f} s of the budget left, "
                            f"about {needed:.0f} s needed"
                        )
                        report["notes"].append(note)
                        console.print(f"[yellow]{note}[/]")
                        continue
            root = scratch / backend
            state: State = (
                SqliteState(root) if backend == "sqlite" else PostgresState(root, options.pg_url)
            )
            started = time.monotonic()
            result: dict[str, Any] = {"backend": backend}
            try:
                run_backend(
                    state, children, data, options, result, profile=options.profile and index == 0
                )
            except (BudgetExceededError, ChildFailedError) as exc:
                result["incomplete"] = str(exc)
                report["notes"].append(f"{backend}: {exc}")
                console.print(f"[red]{backend}: {exc}[/]")
            finally:
                state.close()
                shutil.rmtree(root, ignore_errors=True)
            result["elapsed_s"] = round(time.monotonic() - started, 1)
            if backend == "postgresql":
                result["postgresql_version"] = postgres_version(options.pg_url)
            if report.get("baseline") and result.get("full_refresh"):
                result["full_refresh_over_baseline"] = round(
                    result["full_refresh"]["enabled"]["median_s"] / report["baseline"]["median_s"],
                    2,
                )
            result["targets"] = targets(result)
            report["backends"].append(result)
    report["elapsed_s"] = round(deadline.elapsed(), 1)
    report["code_at_end"] = {
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "code_sha256": code_hash(),
    }
    if report["code_at_end"]["code_sha256"] != report["machine"]["code_sha256"]:
        dirty = _git("status", "--porcelain", "--", "src", "examples") or ""
        report["notes"].append(
            "the code (src/headwater or examples/shop) changed while the benchmark ran: "
            f"{report['machine']['git_commit']} at the start, "
            f"{report['code_at_end']['git_commit']} at the end, uncommitted changes now: "
            f"{', '.join(dirty.split()[1::2]) or 'none'}; the numbers may mix both"
        )
    return report


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in batch 0")
    parser.add_argument(
        "--increment", type=int, default=None, help="orders in batch 1 (default: 1 %% of --orders)"
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions each way (default 5)")
    parser.add_argument("--baseline-reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke scale: 50,000 orders, 3 reps")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the DuckDB baseline")
    parser.add_argument(
        "--budget", type=float, default=25 * 60, help="wall-time budget in seconds (default 1500)"
    )
    pg_default = f"$HEADWATER_TEST_PG_URL or {DEFAULT_PG_URL}"
    parser.add_argument("--pg-url", help=f"where the scratch schema goes (default {pg_default})")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    orders = 50_000 if args.quick else args.orders
    return Options(
        backends=("sqlite", "postgresql") if args.backend == "both" else (args.backend,),
        orders=orders,
        increment=args.increment or max(orders // 100, 1),
        reps=3 if args.quick else max(args.reps, 1),
        baseline_reps=max(args.baseline_reps, 1),
        pg_url=args.pg_url or os.environ.get("HEADWATER_TEST_PG_URL") or DEFAULT_PG_URL,
        out=args.out,
        budget_s=args.budget,
        profile=not args.no_profile,
        baseline=not args.no_baseline,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], Path(argv[2]))
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run(options)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: temporary folder and scratch schema removed")
        return 130
    saved = write_results(report, options.out)
    print_summary(report)
    for note in report["notes"]:
        console.print(f"[yellow]note[/]: {note}")
    console.print(
        f"results: {saved.relative_to(ROOT) if saved.is_relative_to(ROOT) else saved} "
        f"({report['elapsed_s']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
