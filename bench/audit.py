"""Audit trail benchmark: ``python -m bench.audit`` (``make bench-audit``).

For each backend, in this process, on a fresh database (SQLite: a file in a temporary
directory; PostgreSQL: a scratch schema in the database of ``HEADWATER_TEST_PG_URL``, dropped
afterwards), it measures:

1. the append rate: one entry per write transaction, then 100 and 1,000 entries per
   transaction, the entries shaped like those of lineage run events;
2. on a store of ``--entries`` entries (default 1,000,000): ``verify_log``, a signed
   checkpoint (``checkpoint_now``), the Merkle tree (``log_tree``) and inclusion proofs;
3. the audit's overhead on lineage ingestion: ``LineageWriter.write_batch`` with and without
   the audit append, alternating, on a second fresh database;

and writes everything to ``bench/results/audit-<backend>-<time>.json`` (and ``-latest``).
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.progress import Progress
from rich.table import Column, Table
from sqlalchemy import Connection, func, select

from bench.generator import Config, EventGenerator
from bench.lineage import MET, _interrupt, _progress, console
from bench.profile_ingest import database, validated, write_all
from bench.support import (
    DEFAULT_PG_URL,
    ROOT,
    CpuMeter,
    _git,
    machine_info,
    percentile,
    postgres_version,
    summary_ms,
    table_sizes,
)
from headwater.audit import (
    AuditRecord,
    append,
    checkpoint_now,
    generate_seed,
    parse_seed,
    verify_log,
)
from headwater.audit.checkpoints import TreeCache, log_tree, serve_checkpoint
from headwater.audit.entries import GENESIS_HASH, leaf_data, seal, utc_text
from headwater.audit.log import entry_hashes, log_size
from headwater.audit.merkle import leaf_hash, verify_inclusion
from headwater.db import Database
from headwater.db.schema import audit_log, audit_refs
from headwater.lineage import LineageWriter
from headwater.lineage.apply import EventOutcome, apply_events
from headwater.lineage.audit_records import stored_event_records
from headwater.lineage.events import LineageEvent
from headwater.server import tune_garbage_collector

# The targets on the 2-core machine.
APPEND_TARGET_PER_S = 5_000.0  # SQLite
VERIFY_TARGET_S_PER_MILLION = 30.0
OVERHEAD_TARGET_PCT = 10.0
ACTOR = "token:ingest-bench"
AUDIT_TABLES = ("audit_log", "audit_refs", "audit_checkpoints")
AUDIT_SOURCES = ("log.py", "entries.py", "verify.py", "checkpoints.py", "merkle.py")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
CPU_PARTS = ("bench_process", "postgres_backends")  # CPU per event: this process, its backends


@dataclass
class Options:
    backend: str
    entries: int
    single: int | None  # entries appended one per transaction; None: per backend
    batch_sizes: tuple[int, ...]
    batched_entries: int  # per batch size
    build_batch: int
    proofs: int
    overhead_pipelines: int
    overhead_rounds: int
    overhead_batch: int
    seed: int
    pg_url: str
    out: Path
    quick: bool

    def single_entries(self, backend: str) -> int:
        if self.single is not None:
            return self.single
        if backend == "postgresql":
            return 500 if self.quick else 2_000
        return 1_000 if self.quick else 5_000


# -- what is measured ------------------------------------------------------------------------


def lineage_record(i: int) -> AuditRecord:
    """Entry ``i``: the entry of a lineage run event (``headwater.lineage.audit_records``) with
    two inputs and one output, ~340 bytes of details and 4 refs (3 datasets and the run)."""
    p, level = i % 100, i % 25 + 1

    def dataset(lv: int, k: int) -> str:
        return f"dataset:pg://dwh{p % 4}:dw.p{p:03d}_l{lv:02d}_t{k:02d}"

    run = str(uuid.UUID(bytes=hashlib.md5(str(i // 2).encode()).digest(), version=4))
    inputs = [dataset(level - 1, i % 12), dataset(level - 1, (i + 5) % 12)]
    output = dataset(level, i % 12)
    details = {
        "event": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
        "eventType": "COMPLETE" if i % 2 else "START",
        "eventTime": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        "run": run,
        "inputs": inputs,
        "outputs": [{"dataset": output, "version": str(1_000_000 + i // 1_000)}],
    }
    job = f"job:airflow-{p % 5}:p{p:03d}.stage_{level:02d}.task_{i % 4}"
    return AuditRecord("lineage.event", job, ACTOR, details, [*inputs, output, f"run:{run}"])


@contextmanager
def server_gc() -> Iterator[None]:
    """The garbage collector as ``headwater serve`` runs it (`tune_garbage_collector`); the
    ``headwater audit`` commands keep Python's defaults, which are restored afterwards."""
    saved = gc.get_threshold()
    tune_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


class Cpu:
    """CPU used during a phase by this process, its PostgreSQL backends and the machine."""

    def __init__(self, pg_url: str | None) -> None:
        self.meter = CpuMeter(os.getpid(), {}, pg_url)

    def __enter__(self) -> Cpu:
        self.meter.start(time.perf_counter())
        self.cores: dict[str, float] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        cores = self.meter.stop(time.perf_counter())
        cores.pop("bench_client_cores", None)  # this process again
        self.cores = {"bench_process_cores": cores.pop("server_cores", 0.0), **cores}


def _pg(db: Database) -> str | None:
    return db.url.split("?", 1)[0] if db.backend == "postgresql" else None


def _schema(db: Database) -> str | None:
    return db.url.rsplit("search_path%3D", 1)[1] if db.backend == "postgresql" else None


def append_rate(db: Database, first: int, count: int, per_transaction: int) -> dict[str, Any]:
    """``count`` entries from ``first`` on, ``per_transaction`` per ``database.write()``."""
    records = [lineage_record(i) for i in range(first, first + count)]  # not timed
    latencies: list[float] = []
    with Cpu(_pg(db)) as cpu:
        began = time.perf_counter()
        for start in range(0, count, per_transaction):
            t0 = time.perf_counter()
            with db.write() as connection:
                append(connection, *records[start : start + per_transaction])
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - began
    return {
        "entries_per_transaction": per_transaction,
        "entries": count,
        "transactions": len(latencies),
        "seconds": round(seconds, 3),
        "entries_per_s": round(count / seconds, 1),
        "transaction_ms": summary_ms(latencies),
        "cpu": cpu.cores,
    }


def build_store(
    db: Database, first: int, last: int, batch: int, progress: Progress
) -> dict[str, Any]:
    """Entries ``first..last`` in transactions of ``batch``: the store to verify."""
    task = progress.add_task("audit store", total=last, completed=first - 1, rate="")
    appending = 0.0
    began = last_log = time.perf_counter()
    with Cpu(_pg(db)) as cpu:
        for start in range(first, last + 1, batch):
            records = [lineage_record(i) for i in range(start, min(start + batch, last + 1))]
            t0 = time.perf_counter()
            with db.write() as connection:
                append(connection, *records)
            now = time.perf_counter()
            appending += now - t0
            done = start + len(records) - first
            progress.update(task, advance=len(records), rate=f"{done / appending:,.0f} entries/s")
            if not console.is_terminal and now - last_log > 30:
                last_log = now
                print(f"  {start + len(records) - 1:,}/{last:,} entries, {now - began:,.0f} s")
    seconds = time.perf_counter() - began
    count = last - first + 1
    return {
        "entries": count,
        "entries_per_transaction": batch,
        "seconds": round(seconds, 1),
        "append_seconds": round(appending, 1),
        "entries_per_s_appending": round(count / max(appending, 1e-9), 1),
        "cpu": cpu.cores,
    }


def _timed_verify(db: Database, entries: int) -> dict[str, Any]:
    with db.read() as connection, Cpu(_pg(db)) as cpu:
        began = time.perf_counter()
        report = verify_log(connection)
        seconds = time.perf_counter() - began
    if not report.ok or report.entries != entries:
        raise RuntimeError(f"verify_log: {report.as_json()} (expected {entries} entries, ok)")
    return {
        "seconds": round(seconds, 2),
        "entries_per_s": round(entries / seconds),
        "checkpoints_checked": report.checkpoints_checked,
        "cpu": cpu.cores,
    }


def verify_and_prove(db: Database, entries: int, options: Options) -> dict[str, Any]:
    """verify_log, checkpoint_now, verify_log again (now with a checkpoint to check), log_tree
    and inclusion proofs; with Python's default GC, as the ``headwater audit`` commands."""
    result: dict[str, Any] = {"entries": entries, "verify_log": _timed_verify(db, entries)}
    console.print(f"verify_log, no checkpoint yet: {result['verify_log']['seconds']} s")
    key = parse_seed(generate_seed())
    with db.write() as connection, Cpu(_pg(db)) as cpu:
        began = time.perf_counter()
        checkpoint = checkpoint_now(connection, key)
        seconds = time.perf_counter() - began
    result["checkpoint_now"] = {"seconds": round(seconds, 2), "cpu": cpu.cores}
    console.print(f"checkpoint_now: {seconds:.2f} s")
    result["verify_log_with_checkpoint"] = _timed_verify(db, entries)
    console.print(
        f"verify_log with 1 checkpoint: {result['verify_log_with_checkpoint']['seconds']} s"
    )
    with server_gc():
        result["verify_log_server_gc"] = _timed_verify(db, entries)
    console.print(f"verify_log, server GC: {result['verify_log_server_gc']['seconds']} s")

    with db.read() as connection:
        began = time.perf_counter()
        tree = log_tree(connection)
        build = time.perf_counter() - began
        began = time.perf_counter()
        hashes = entry_hashes(connection)
        fetch = time.perf_counter() - began
    root = tree.root()
    if tree.size != entries or root.hex() != checkpoint.root_hash:
        raise RuntimeError("log_tree does not match the checkpoint just made")
    rng = random.Random(options.seed)
    indexes = [rng.randrange(entries) for _ in range(options.proofs)]
    proof_s: list[float] = []
    bad = 0
    for index in indexes:
        began = time.perf_counter()
        proof = tree.inclusion_proof(index)
        proof_s.append(time.perf_counter() - began)
        bad += not verify_inclusion(
            leaf_hash(leaf_data(hashes[index])), index, entries, proof, root
        )
    if bad:
        raise RuntimeError(f"{bad} of {len(indexes)} inclusion proofs do not verify")
    us = [s * 1e6 for s in proof_s]
    result["log_tree"] = {
        "seconds": round(build, 2),
        "fetch_hashes_seconds": round(fetch, 2),
        "hash_tree_seconds_estimate": round(build - fetch, 2),
    }
    result["inclusion_proof"] = {
        "proofs": len(us),
        "verified": len(us) - bad,
        "path_length": len(tree.inclusion_proof(0)),
        "us": {
            "p50": round(percentile(us, 50), 1),
            "p95": round(percentile(us, 95), 1),
            "max": round(max(us), 1),
        },
    }
    console.print(
        f"log_tree: {build:.2f} s ({fetch:.2f} s fetching hashes); inclusion_proof p50 "
        f"{result['inclusion_proof']['us']['p50']} us, p95 {result['inclusion_proof']['us']['p95']} us"
    )
    return result


def server_checkpoints(db: Database, first: int, grow: int) -> dict[str, Any]:
    """Checkpoints the way the server makes them (`AuditService`, a per-process `TreeCache`),
    each after the log grew by ``grow`` entries: cold (the cache reads every hash), then warm
    (it reads only the new hashes and hashes what they change); then the tree lookup an
    inclusion proof request makes when nothing is new. Entries from ``first`` on are added."""
    key = parse_seed(generate_seed())
    trees = TreeCache()
    result: dict[str, Any] = {"grown_by": grow}
    with server_gc():
        for name in ("cold", "warm"):
            with db.write() as connection:
                append(connection, *(lineage_record(i) for i in range(first, first + grow)))
            first += grow
            began = time.perf_counter()
            serve_checkpoint(db, key, trees)
            result[f"{name}_seconds"] = round(time.perf_counter() - began, 3)
        with db.read() as connection:
            size = log_size(connection)
            began = time.perf_counter()
            trees.tree(connection, size)
            result["unchanged_tree_lookup_ms"] = round((time.perf_counter() - began) * 1e3, 3)
    console.print(
        f"server checkpoint (TreeCache): cold {result['cold_seconds']} s, warm "
        f"(+{grow:,} entries) {result['warm_seconds']} s"
    )
    return result


def store_facts(db: Database) -> dict[str, Any]:
    with db.read() as connection:
        entries = connection.execute(select(func.count()).select_from(audit_log)).scalar_one()
        refs = connection.execute(select(func.count()).select_from(audit_refs)).scalar_one()
        details = connection.execute(select(func.avg(func.length(audit_log.c.details))))
        mean_details = float(details.scalar_one() or 0)
    # On PostgreSQL table_sizes lists every table of the schema: keep the audit's.
    sizes = table_sizes(db.url, _schema(db), AUDIT_TABLES)
    sizes = {name: size for name, size in sizes.items() if name in AUDIT_TABLES}
    total = sum(sizes.values())
    return {
        "entries": int(entries),
        "refs": int(refs),
        "mean_details_bytes": round(mean_details),
        "table_bytes": sizes,
        "bytes_per_entry": round(total / max(int(entries), 1)) if total else None,
    }


# -- the audit's overhead on lineage ingestion ------------------------------------------------


class SwitchableWriter(LineageWriter):
    """`LineageWriter` whose ``_apply`` leaves out the audit when ``audited`` is false: the same
    savepoint, retries and fallback, ``apply_events`` alone (no records built, no append)."""

    audited = True

    def _apply(
        self, connection: Connection, events: Sequence[LineageEvent], actor: str
    ) -> list[EventOutcome]:
        if self.audited:
            return super()._apply(connection, events, actor)
        return apply_events(connection, events, self.cache)


def audit_cost(db: Database, events: list[LineageEvent], batch: int) -> dict[str, float]:
    """Where the audit's time goes, per event, on the last round's events: building the records
    (`stored_event_records`), sealing them (canonical JSON + SHA-256), and `append` (sealing
    plus its SQL) in a transaction that is rolled back, so the commit is not included."""
    stored = [EventOutcome(True)] * len(events)
    began = time.perf_counter()
    records = stored_event_records(events, stored, ACTOR)
    building = time.perf_counter() - began
    now = utc_text(datetime.now(UTC))
    began = time.perf_counter()
    for i, record in enumerate(records):
        seal(record, i + 1, now, GENESIS_HASH)
    sealing = time.perf_counter() - began
    with db.write_engine.connect() as connection:
        transaction = connection.begin()
        began = time.perf_counter()
        for start in range(0, len(records), batch):
            append(connection, *records[start : start + batch])
        appending = time.perf_counter() - began
        transaction.rollback()
    n = max(len(events), 1)
    return {
        "build_records": round(building / n * 1e6, 1),
        "seal": round(sealing / n * 1e6, 1),
        "append_incl_seal": round(appending / n * 1e6, 1),
        "append_sql_estimate": round((appending - sealing) / n * 1e6, 1),
    }


MODES = {True: "with_audit", False: "without_audit"}


def audit_overhead(backend: str, options: Options) -> dict[str, Any]:
    warm, rounds = 2, options.overhead_rounds
    config = replace(
        Config(pipelines=options.overhead_pipelines, seed=options.seed),
        runs_per_job=warm + 2 * rounds,
    )
    generator = EventGenerator(config)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES.values()}
    cpu_us: dict[str, list[float]] = {f"{mode}_{part}": [] for mode in rates for part in CPU_PARTS}
    with database(backend, options.pg_url) as db, server_gc():
        writer = SwitchableWriter(db)
        events, _ = validated(generator, 0, warm)
        write_all(writer, events, options.overhead_batch)  # creates the jobs and datasets
        for r in range(rounds):
            # ABBA: each mode goes first every other round, so drift cancels out.
            for k, audited in enumerate((True, False) if r % 2 == 0 else (False, True)):
                first = warm + 2 * r + k
                events, _ = validated(generator, first, first + 1)
                writer.audited = audited
                with Cpu(_pg(db)) as meter:
                    seconds = write_all(writer, events, options.overhead_batch)
                rates[MODES[audited]].append(len(events) / seconds)
                for part in CPU_PARTS:
                    used = meter.cores.get(f"{part}_cores", 0.0) * seconds / len(events)
                    cpu_us[f"{MODES[audited]}_{part}"].append(used * 1e6)
            if r % 4 == 3 or r == rounds - 1:
                console.print(
                    f"  round {r + 1}/{rounds}: {rates['with_audit'][-1]:,.0f} events/s with "
                    f"audit, {rates['without_audit'][-1]:,.0f} without"
                )
        facts = store_facts(db)
        with db.read() as connection:
            intact = verify_log(connection).ok
        breakdown = audit_cost(db, events, options.overhead_batch)
    with_audit = percentile(rates["with_audit"], 50)
    without = percentile(rates["without_audit"], 50)
    # Each round's two measurements ran back to back: their ratio is the least disturbed by
    # load that comes and goes (the machine is shared).
    pairs = zip(rates["with_audit"], rates["without_audit"], strict=True)
    paired = [plain / audited - 1 for audited, plain in pairs]
    cpu_median = {k: round(percentile(v, 50)) for k, v in cpu_us.items()}
    cpu_with = sum(cpu_median[f"with_audit_{part}"] for part in CPU_PARTS)
    cpu_without = sum(cpu_median[f"without_audit_{part}"] for part in CPU_PARTS)
    return {
        "method": (
            "LineageWriter.write_batch, with the audit and with LineageWriter._apply overridden "
            "to call apply_events alone (no audit records built, no append): same savepoint, "
            "same FacetCache, same database, rounds alternating ABBA"
        ),
        "events_per_round_per_mode": config.jobs * 2,
        "rounds": rounds,
        "batch_size": options.overhead_batch,
        "jobs": config.jobs,
        "warmup_events": config.jobs * 2 * warm,
        "gc": "tune_garbage_collector(), as headwater serve",
        "events_per_s": {
            "with_audit": round(with_audit, 1),
            "without_audit": round(without, 1),
            "with_audit_rounds": [round(x) for x in rates["with_audit"]],
            "without_audit_rounds": [round(x) for x in rates["without_audit"]],
        },
        # Extra time per event with the audit, from the two medians (the target's measure).
        "overhead_pct": round((without / with_audit - 1) * 100, 1),
        "throughput_loss_pct": round((1 - with_audit / without) * 100, 1),
        "overhead_pct_paired_median": round(percentile(paired, 50) * 100, 1),
        "overhead_pct_paired_p25_p75": [
            round(percentile(paired, 25) * 100, 1),
            round(percentile(paired, 75) * 100, 1),
        ],
        "cpu_us_per_event": cpu_median,
        "cpu_overhead_pct": round((cpu_with / max(cpu_without, 1) - 1) * 100, 1),
        "audit_cost_us_per_event": breakdown,
        "audit_store": facts,
        "audit_log_intact": intact,
    }


# -- one backend -----------------------------------------------------------------------------


def _targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    modes = result["append"]
    best = max(modes, key=lambda m: m["entries_per_s"])
    meeting = [m["entries_per_transaction"] for m in modes if m["entries_per_s"] >= 5_000]
    entries = result["proofs"]["entries"]
    verify_target = VERIFY_TARGET_S_PER_MILLION * entries / 1e6
    verify = result["proofs"]["verify_log_with_checkpoint"]["seconds"]
    overhead = result["overhead"]["overhead_pct"]
    return [
        {
            "name": "append (entries/s)",
            "target": f">= {APPEND_TARGET_PER_S:,.0f} (SQLite)",
            "value": best["entries_per_s"],
            "mode": f"{best['entries_per_transaction']} per transaction",
            "modes_meeting": meeting,
            "met": bool(meeting) if backend == "sqlite" else None,
        },
        {
            "name": f"verify_log, {entries:,} entries (s)",
            "target": f"<= {verify_target:,.1f}"
            + ("" if entries == 1_000_000 else " (30 s per 1M, scaled)"),
            "value": verify,
            "met": verify <= verify_target,
        },
        {
            "name": "audit overhead on lineage ingest (%)",
            "target": f"<= {OVERHEAD_TARGET_PCT:.0f}",
            "value": overhead,
            "met": overhead <= OVERHEAD_TARGET_PCT,
        },
    ]


def run_backend(backend: str, options: Options) -> dict[str, Any]:
    started = datetime.now(UTC)
    machine = machine_info()
    machine["git_commit_short"] = _git("rev-parse", "--short", "HEAD")
    audit_files = (ROOT / "src/headwater/audit" / f for f in AUDIT_SOURCES)
    machine["audit_sha256"] = hashlib.sha256(b"".join(p.read_bytes() for p in audit_files))
    machine["audit_sha256"] = machine["audit_sha256"].hexdigest()[:16]
    versions: dict[str, Any] = {"sqlite": machine["sqlite"]}
    if backend == "postgresql":
        versions = {"postgresql": postgres_version(options.pg_url)}
    console.rule(f"[bold]{backend}[/]: audit log, {options.entries:,} entries")
    appended: list[dict[str, Any]] = []
    with database(backend, options.pg_url) as db:
        plan = [(options.single_entries(backend), 1)]
        plan += [(options.batched_entries, size) for size in options.batch_sizes]
        first = 1
        with server_gc():
            for count, per_transaction in plan:
                appended.append(append_rate(db, first, count, per_transaction))
                first += count
                console.print(
                    f"append, {per_transaction} per transaction: "
                    f"{appended[-1]['entries_per_s']:,.0f} entries/s ({count:,} entries, "
                    f"p50 {appended[-1]['transaction_ms']['p50']} ms per transaction)"
                )
            last = max(options.entries, first - 1)
            with _progress() as progress:
                build = build_store(db, first, last, options.build_batch, progress)
        console.print(
            f"store: {last:,} entries, {build['entries_per_s_appending']:,.0f} entries/s "
            f"in {options.build_batch:,}-entry transactions"
        )
        proofs = verify_and_prove(db, last, options)
        proofs["server_checkpoint"] = server_checkpoints(db, last + 1, 1_000)
        store = store_facts(db)
    console.print(f"lineage ingest with and without the audit, {options.overhead_rounds} rounds")
    overhead = audit_overhead(backend, options)
    console.print(
        f"audit overhead: {overhead['overhead_pct']} % ({overhead['events_per_s']['with_audit']:,.0f}"
        f" events/s with, {overhead['events_per_s']['without_audit']:,.0f} without)"
    )
    finished = datetime.now(UTC)
    result: dict[str, Any] = {
        "benchmark": "audit",
        "backend": backend,
        "duration_s": round((finished - started).total_seconds(), 1),
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "versions": versions,
        "machine": machine,
        "parameters": {
            **{k: v for k, v in asdict(options).items() if k not in ("out", "pg_url")},
            "single_entries": options.single_entries(backend),
            "store_entries": last,
            "entry_shape": "lineage.event, job target, ~300-byte details, 4 refs",
        },
        "append": appended,
        "build": build,
        "store": store,
        "proofs": proofs,
        "overhead": overhead,
    }
    result["targets"] = _targets(backend, result)
    return result


def write_results(result: dict[str, Any], out: Path) -> Path:
    """``audit-<backend>-<time>.json`` and ``audit-<backend>-latest.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"audit-{result['backend']}-"
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    paths = [Path(f"{stem}{s}.json") for s in (datetime.now().strftime("%Y%m%d-%H%M%S"), "latest")]
    for path in paths:
        path.write_bytes(data)
    return paths[0]


def _verdict(target: dict[str, Any]) -> str:
    if target["met"] is None:
        return f"no target here ({target['target']})"
    return f"{MET[target['met']]} ({target['target']})"


def print_summary(results: list[dict[str, Any]]) -> None:
    backends = (Column(r["backend"], justify="right") for r in results)
    table = Table("metric", *backends, title="headwater audit benchmark")

    def row(label: str, cells: list[str]) -> None:
        table.add_row(label, *cells)

    for i, mode in enumerate(results[0]["append"]):
        row(
            f"append, {mode['entries_per_transaction']:,} per transaction, entries/s",
            [f"{r['append'][i]['entries_per_s']:,.0f}" for r in results],
        )
    row(
        "store build, entries/s (appending)",
        [
            f"{r['build']['entries_per_s_appending']:,.0f} "
            f"({r['build']['entries_per_transaction']:,}/txn)"
            for r in results
        ],
    )
    row("entries verified", [f"{r['proofs']['entries']:,}" for r in results])
    row(
        "audit tables, bytes per entry",
        [f"{r['store']['bytes_per_entry'] or 'n/a'}" for r in results],
    )
    for key, label in (
        ("verify_log", "verify_log, no checkpoint"),
        ("verify_log_with_checkpoint", "verify_log, 1 checkpoint"),
        ("verify_log_server_gc", "verify_log, server GC"),
        ("checkpoint_now", "checkpoint_now"),
        ("log_tree", "log_tree"),
    ):
        row(f"{label}, s", [f"{r['proofs'][key]['seconds']:.2f}" for r in results])
    row(
        "checkpoint, server TreeCache cold / warm, s",
        [
            f"{r['proofs']['server_checkpoint']['cold_seconds']:.2f} / "
            f"{r['proofs']['server_checkpoint']['warm_seconds']:.2f}"
            for r in results
        ],
    )
    row(
        "inclusion_proof p50 / p95, us",
        [
            f"{r['proofs']['inclusion_proof']['us']['p50']} / "
            f"{r['proofs']['inclusion_proof']['us']['p95']}"
            for r in results
        ],
    )
    row(
        "lineage ingest with / without audit, events/s",
        [
            f"{r['overhead']['events_per_s']['with_audit']:,.0f} / "
            f"{r['overhead']['events_per_s']['without_audit']:,.0f}"
            for r in results
        ],
    )
    row("audit overhead on lineage ingest", [f"{r['overhead']['overhead_pct']} %" for r in results])
    row(
        "  paired median (p25-p75) / CPU per event",
        [
            f"{r['overhead']['overhead_pct_paired_median']} % "
            f"({r['overhead']['overhead_pct_paired_p25_p75'][0]}-"
            f"{r['overhead']['overhead_pct_paired_p25_p75'][1]}) / "
            f"{r['overhead']['cpu_overhead_pct']} %"
            for r in results
        ],
    )
    row(
        "audit per event: records / seal / append SQL, us",
        [
            " / ".join(
                f"{r['overhead']['audit_cost_us_per_event'][k]:.0f}"
                for k in ("build_records", "seal", "append_sql_estimate")
            )
            for r in results
        ],
    )
    for i, target in enumerate(results[0]["targets"]):
        row(
            f"target: {target['name'].split(',')[0]}",
            [_verdict(r["targets"][i]) for r in results],
        )
    console.print(table)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the store")
    parser.add_argument("--quick", action="store_true", help="smoke scale: 20,000 entries")
    parser.add_argument(
        "--single",
        type=int,
        default=None,
        help="entries appended one per transaction (default 5,000; 2,000 on PostgreSQL)",
    )
    parser.add_argument(
        "--batched-entries", type=int, default=None, help="per batch size (default 20,000)"
    )
    parser.add_argument("--build-batch", type=int, default=10_000, help="entries per transaction")
    parser.add_argument("--proofs", type=int, default=1_000)
    parser.add_argument(
        "--overhead-pipelines", type=int, default=1, help="100 jobs (200 events a round) each"
    )
    parser.add_argument("--overhead-rounds", type=int, default=None, help="default 16 per mode")
    parser.add_argument("--overhead-batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20250101)
    pg_default = f"$HEADWATER_TEST_PG_URL or {DEFAULT_PG_URL}"
    parser.add_argument("--pg-url", help=f"where scratch schemas go (default {pg_default})")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    return Options(
        backend=args.backend,
        entries=20_000 if args.quick else args.entries,
        single=args.single,
        batch_sizes=(100, 1_000),
        batched_entries=args.batched_entries or (5_000 if args.quick else 20_000),
        build_batch=args.build_batch,
        proofs=args.proofs,
        overhead_pipelines=args.overhead_pipelines,
        overhead_rounds=args.overhead_rounds or (4 if args.quick else 16),
        overhead_batch=args.overhead_batch,
        seed=args.seed,
        pg_url=args.pg_url or os.environ.get("HEADWATER_TEST_PG_URL") or DEFAULT_PG_URL,
        out=args.out,
        quick=args.quick,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    names = ("sqlite", "postgresql") if options.backend == "both" else (options.backend,)
    results: list[dict[str, Any]] = []
    try:
        for name in names:
            results.append(run_backend(name, options))
            saved = write_results(results[-1], options.out)
            console.print(
                f"results: {saved.relative_to(ROOT) if saved.is_relative_to(ROOT) else saved}"
            )
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: temporary database and scratch schema removed")
        return 130
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
