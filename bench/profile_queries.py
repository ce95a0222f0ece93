"""Profile the lineage and column-lineage queries in-process: ``python -m bench.profile_queries``.

Loads one or more benchmark pipelines (100 jobs, 312 tables each) with a few runs per job
through ``LineageWriter``, then runs ``lineage_graph`` and ``column_lineage_graph`` at depth 20
for sampled nodes under cProfile: the time per query without and with the profiler, the
statements per query, and the top functions. A depth-20 walk covers a whole pipeline whatever
the store's size, so a small store shows the per-query cost faithfully.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.console import Console
from sqlalchemy import Connection, event

from bench.generator import Config, EventGenerator
from bench.profile_ingest import database, validated, write_all
from bench.support import DEFAULT_PG_URL, percentile
from headwater.lineage import LineageWriter
from headwater.lineage.column_graph import column_lineage_graph
from headwater.lineage.graph import lineage_graph
from headwater.server import tune_garbage_collector

console = Console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_queries", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--pipelines", type=int, default=2)
    parser.add_argument("--runs-per-job", type=int, default=2)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    config = replace(Config(pipelines=args.pipelines), runs_per_job=args.runs_per_job)
    generator = EventGenerator(config)
    rng = random.Random(7)
    nodes = generator.sample_nodes(rng, args.queries)
    fields = generator.sample_fields(rng, args.queries)
    with database(args.backend, args.pg_url) as db:
        events, _ = validated(generator, 0, config.runs_per_job)
        write_all(LineageWriter(db), events, 200)
        console.print(f"{args.backend}: loaded {len(events):,} events, {config.jobs} jobs")
        del events
        tune_garbage_collector()  # as `headwater serve` does: no full collections mid-query
        statements = [0]

        @event.listens_for(db.read_engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            statements[0] += 1

        kinds: list[tuple[str, list[str], Callable[[Connection, str], dict[str, Any]]]] = [
            ("lineage", nodes, lambda c, n: lineage_graph(c, n, depth=20, max_nodes=2000)),
            (
                "column-lineage",
                fields,
                lambda c, n: column_lineage_graph(c, n, depth=20, with_downstream=False),
            ),
        ]
        for name, ids, query in kinds:
            times: list[float] = []
            sizes: list[int] = []
            statements[0] = 0
            for node in ids:
                began = time.perf_counter()
                with db.read() as connection:
                    sizes.append(len(query(connection, node)["graph"]))
                times.append(time.perf_counter() - began)
            per_query = statements[0] / len(ids)
            profiler = cProfile.Profile()
            profiler.enable()
            for node in ids:
                with db.read() as connection:
                    query(connection, node)
            profiler.disable()
            console.rule(f"{name}: {len(ids)} queries at depth 20")
            console.print(
                f"p50 {percentile(times, 50) * 1e3:.1f} ms, p95 {percentile(times, 95) * 1e3:.1f} "
                f"ms, {sum(sizes) / len(sizes):.0f} nodes and {per_query:.0f} SQL statements "
                "per query on average"
            )
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
