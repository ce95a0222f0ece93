"""Profile the lineage write path in-process: ``python -m bench.profile_ingest``.

No HTTP: events from the benchmark generator are decoded and validated up front (timed on
their own), then ``LineageWriter.write_batch`` runs under cProfile. The first rounds of runs
create the jobs and datasets unprofiled; the profiled rounds are the steady state the full
benchmark spends nearly all its time in (later runs of known jobs). Prints events/s without
and with the profiler, time per category (database driver, SQLAlchemy, headwater, JSON,
hashing) and the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from bench.generator import Config, EventGenerator
from bench.support import (
    DEFAULT_PG_URL,
    create_schema,
    drop_schema,
    new_schema_name,
    with_search_path,
)
from headwater.db import Database, upgrade
from headwater.lineage import LineageWriter, validate_event
from headwater.lineage.events import LineageEvent, decode_json
from headwater.server import tune_garbage_collector

console = Console()

CATEGORIES = (  # first match wins, on "file:function" of each profiled function
    ("database driver (sqlite3/psycopg C calls)", ("sqlite3", "psycopg", "<built-in method _")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("JSON (orjson)", ("orjson",)),
    ("hashing (hashlib)", ("hashlib", "_hashlib", "openssl_sha")),
    ("headwater", ("headwater",)),
    ("tenacity/uuid/datetime", ("tenacity", "uuid", "datetime")),
)


@contextmanager
def database(backend: str, pg_url: str) -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="headwater-profile-") as tmp:
        if backend == "sqlite":
            db = Database(f"sqlite:///{Path(tmp) / 'profile.db'}")
            schema = None
        else:
            schema = new_schema_name("profile")
            create_schema(pg_url, schema)
            db = Database(with_search_path(pg_url, schema))
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
            if schema is not None:
                drop_schema(pg_url, schema)


def validated(generator: EventGenerator, first: int, last: int) -> tuple[list[LineageEvent], float]:
    raw = list(generator.events(first, last))
    began = time.perf_counter()
    events = [validate_event(decode_json(body)) for body in raw]
    return events, time.perf_counter() - began


def write_all(writer: LineageWriter, events: list[LineageEvent], batch: int) -> float:
    began = time.perf_counter()
    for i in range(0, len(events), batch):
        outcomes = writer.write_batch(events[i : i + batch])
        bad = [o for o in outcomes if not o.stored]
        if bad:
            raise RuntimeError(f"{len(bad)} events not stored: {bad[0]}")
    return time.perf_counter() - began


def category(key: tuple[str, int, str]) -> str:
    where = f"{key[0]}:{key[2]}"
    for name, needles in CATEGORIES:
        if any(n in where for n in needles):
            return name
    return "other (Python stdlib, builtins)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_ingest", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--pipelines", type=int, default=1, help="100 jobs each")
    parser.add_argument("--warm-rounds", type=int, default=2, help="unprofiled runs per job")
    parser.add_argument("--rounds", type=int, default=2, help="timed, then profiled, rounds")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's GC thresholds (the server tunes them)",
    )
    parser.add_argument("--save", type=Path, help="write the raw profile (pstats) here")
    args = parser.parse_args(argv)

    warm, rounds = args.warm_rounds, args.rounds
    config = replace(Config(pipelines=args.pipelines), runs_per_job=warm + 2 * rounds)
    generator = EventGenerator(config)
    with database(args.backend, args.pg_url) as db:
        writer = LineageWriter(db)
        if not args.default_gc:
            tune_garbage_collector()  # as `headwater serve` does
        events, _ = validated(generator, 0, warm)
        seconds = write_all(writer, events, args.batch)
        console.print(
            f"{args.backend}: {config.jobs} jobs; {len(events):,} warm-up events (creating "
            f"jobs and datasets): {len(events) / seconds:,.0f} events/s"
        )

        events, parse_s = validated(generator, warm, warm + rounds)
        size = sum(len(orjson.dumps(orjson.loads(e.payload))) for e in events[:200]) / 200
        seconds = write_all(writer, events, args.batch)
        console.print(
            f"steady state, {len(events):,} events (~{size / 1024:.1f} KiB each): "
            f"decode+validate {len(events) / parse_s:,.0f} events/s "
            f"({parse_s / len(events) * 1e6:,.0f} us each); "
            f"write_batch {len(events) / seconds:,.0f} events/s "
            f"({seconds / len(events) * 1e3:.2f} ms each)"
        )

        events, _ = validated(generator, warm + rounds, warm + 2 * rounds)
        profiler = cProfile.Profile()
        profiler.enable()
        seconds = write_all(writer, events, args.batch)
        profiler.disable()
        console.print(
            f"profiled: {len(events):,} events, {len(events) / seconds:,.0f} events/s "
            "under cProfile"
        )

    stats = pstats.Stats(profiler)
    if args.save:
        stats.dump_stats(args.save)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by_category: dict[str, float] = {}
    for key, value in raw.items():
        by_category[category(key)] = by_category.get(category(key), 0.0) + value[2]
    table = Table(title="self time by category")
    table.add_column("category")
    table.add_column("share", justify="right")
    table.add_column("ms / event", justify="right")
    for name, t in sorted(by_category.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{t / total:.0%}", f"{t / len(events) * 1e3:.3f}")
    console.print(table)

    calls = {}
    for key, value in raw.items():
        if "headwater" in key[0] or "sqlalchemy/engine/base.py" in key[0]:
            calls[key] = value
    table = Table(title="calls per event (headwater functions and SQL executions)")
    table.add_column("function")
    table.add_column("calls/event", justify="right")
    table.add_column("cumulative ms/event", justify="right")
    for key, value in sorted(calls.items(), key=lambda kv: -kv[1][3])[:15]:
        table.add_row(
            f"{Path(key[0]).name}:{key[1]}({key[2]})",
            f"{value[1] / len(events):.1f}",
            f"{value[3] / len(events) * 1e3:.3f}",
        )
    console.print(table)

    stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
