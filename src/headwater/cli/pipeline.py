"""``headwater run``, ``test``, ``runs``, ``tables``, ``show`` and ``sql``: the pipeline."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from headwater.cli.common import (
    JsonOption,
    app,
    cli_actor,
    console,
    err_console,
    fail,
    migrated_database,
    print_json,
    runs_app,
    settings_or_exit,
    tables_app,
)
from headwater.config import Settings
from headwater.errors import BadRequestError, HeadwaterError
from headwater.lake import Lake, summary_rows

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="The pipeline project folder (has headwater.yml).")
]
SelectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        "-s",
        help="Models to run, dbt-style: name, +name (and upstream), name+ (and downstream), "
        "layer:staging, tag:x; space-separated = union, comma-joined = intersection. Repeatable.",
    ),
]

STATUS_STYLE = {
    "COMPLETED": "green",
    "FAILED": "bold red",
    "SKIPPED": "yellow",
    "RUNNING": "cyan",
    "pass": "green",
    "fail": "bold red",
    "warn": "yellow",
    "error": "bold red",
}


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def open_lake(settings: Settings, project_warehouse: str | None = None) -> Lake:
    settings.home.mkdir(parents=True, exist_ok=True)
    return Lake(settings.resolved_database_url, settings.resolved_warehouse(project_warehouse))


def _connect_current(lake: Lake) -> Any:
    """A DuckDB connection with every table of ``lake`` as a view at its current snapshot."""
    from headwater.pipeline.scan import connect, register

    connection = connect()
    for name in lake.table_names():
        table = lake.load(name)
        if table is not None:
            snapshot = table.current_snapshot()
            register(
                connection,
                name,
                lake.files(table, snapshot.snapshot_id if snapshot else None),
            )
    return connection


def _load(project_dir: Path) -> Any:
    from headwater.pipeline import build_graph, load_project

    try:
        project = load_project(project_dir)
        return project, build_graph(project)
    except HeadwaterError as exc:
        fail(exc)


class _ProgressView:
    """A live table of the models of a run: status, mode, rows read and written, time."""

    def __init__(self, models: list[str]) -> None:
        self.rows: dict[str, dict[str, Any]] = {name: {"status": "PENDING"} for name in models}
        self.started: dict[str, float] = {}
        self.caption = ""  # what happens besides the models (the demo's deliveries)

    def posted(self, done: int, total: int) -> None:
        self.caption = f"webhooks posted: {done:,} of {total:,}" if done < total else ""

    def update(self, name: str, status: str, outcome: Any) -> None:
        row = self.rows[name]
        row["status"] = status
        if status == "RUNNING":
            self.started[name] = time.monotonic()
        elif outcome is not None:
            record = outcome.record
            row.update(
                mode=record.mode,
                read=record.rows_read,
                written=record.rows_written,
                seconds=time.monotonic() - self.started.get(name, time.monotonic()),
                message=record.message or "",
                warnings=sum(1 for t in outcome.tests if t.status == "warn"),
            )

    def __rich__(self) -> Table:
        table = Table(title="headwater run", title_justify="left", caption=self.caption or None)
        for column in ("model", "status", "mode", "rows read", "rows written", "time", "note"):
            table.add_column(column, justify="right" if "rows" in column else "left")
        for name, row in self.rows.items():
            status = row["status"]
            shown = _styled(status) + (" ⏳" if status == "RUNNING" else "")
            note = row.get("message", "")
            if row.get("warnings"):
                note = f"{row['warnings']} warning(s) {note}".strip()
            table.add_row(
                name,
                shown,
                row.get("mode", ""),
                f"{row['read']:,}" if "read" in row else "",
                f"{row['written']:,}" if "written" in row else "",
                f"{row['seconds']:.1f}s" if "seconds" in row else "",
                note[:80],
            )
        return table


@app.command()
def run(
    project_dir: ProjectOption = Path("."),
    select: SelectOption = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild the selected models from their inputs' current snapshots.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline: the selected models (all by default), incrementally."""
    from headwater.pipeline import run_pipeline

    project, graph = _load(project_dir)
    settings = settings_or_exit()
    if settings.log_file is not None:  # the terminal shows the live table, the file the logs
        from headwater import logs

        logs.configure(settings)
    database = migrated_database(settings)
    lake = open_lake(settings, project.warehouse)
    try:
        view = _ProgressView(graph.select(select or []))
    except HeadwaterError as exc:
        fail(exc)
    live = (
        contextlib.nullcontext() if as_json else Live(view, console=console, refresh_per_second=4)
    )
    try:
        with live:
            result = run_pipeline(
                project,
                database,
                lake,
                select=select,
                full_refresh=full_refresh,
                actor=cli_actor(),
                progress=None if as_json else view.update,
                graph=graph,
            )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        lake.close()
        database.dispose()
    summary = {
        "run_id": result.run_uuid,
        "status": result.status,
        "models": {
            name: {
                "status": outcome.record.status,
                "mode": outcome.record.mode,
                "rows_read": outcome.record.rows_read,
                "rows_written": outcome.record.rows_written,
                "snapshot": outcome.record.snapshot_after,
                "attempts": outcome.record.attempts,
                "message": outcome.record.message,
                "notes": outcome.record.details.get("notes", []),
                "tests": {t.name: t.status for t in outcome.tests},
            }
            for name, outcome in result.outcomes.items()
        },
        "skipped": result.skipped,
        "undelivered_lineage_events": result.undelivered_events,
    }
    if result.undelivered_events:
        err_console.print(
            f"[yellow]warning:[/] {result.undelivered_events} OpenLineage events could not be "
            "delivered (see the log); the data was written"
        )
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"run {result.run_uuid}: {_styled(result.status)}; "
            f"details: headwater runs show {result.run_uuid[:8]}"
        )
    raise typer.Exit(0 if result.status == "COMPLETED" else 1)


@app.command("test")
def test_command(
    project_dir: ProjectOption = Path("."),
    select: SelectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the data-quality tests of the selected models and the sources on the current
    tables, without writing anything; exit 1 if an error-severity test fails."""
    from headwater.pipeline.quality import blocking, run_tests

    project, graph = _load(project_dir)
    settings = settings_or_exit()
    lake = open_lake(settings, project.warehouse)
    names = graph.select(select or [])
    subjects = [(n, project.models[n].tests) for n in names] + (
        [(n, s.tests) for n, s in project.sources.items()] if not select else []
    )
    outcomes = []
    connection = _connect_current(lake)
    try:
        for name, tests in subjects:
            if tests and lake.load(name) is None:
                err_console.print(f"[yellow]skipped[/] {name}: the table does not exist yet")
                continue
            outcomes.extend(run_tests(connection, name, tests, name))
    finally:
        connection.close()
        lake.close()
    if as_json:
        print_json([dataclasses.asdict(outcome) for outcome in outcomes])
    else:
        _print_tests(outcomes)
    raise typer.Exit(1 if blocking(outcomes) else 0)


def _print_tests(outcomes: list[Any]) -> None:
    table = Table(title="tests", title_justify="left")
    for column in ("table", "test", "severity", "status", "failing rows"):
        table.add_column(column, justify="right" if column == "failing rows" else "left")
    for outcome in outcomes:
        table.add_row(
            outcome.model,
            outcome.name,
            outcome.severity,
            _styled(outcome.status),
            f"{outcome.failures:,}",
        )
    console.print(table)
    for outcome in outcomes:
        if outcome.status != "pass" and outcome.sample:
            console.print(f"[bold]{outcome.model} {outcome.name}[/] sample: {outcome.sample[:3]}")


@runs_app.command("list")
def runs_list(
    project: Annotated[str | None, typer.Option(help="Only this project's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest pipeline runs, newest first, with who started them: a person
    (``cli:<user>``), the scheduler (``scheduler:<schedule>``) or a trigger."""
    from headwater.pipeline.state import list_runs

    database = migrated_database(settings_or_exit())
    runs = list_runs(database, project, limit)
    database.dispose()
    if as_json:
        print_json(runs)
        return
    table = Table(title="pipeline runs", title_justify="left")
    for column in ("run", "project", "status", "started", "ended", "models", "selection", "by"):
        table.add_column(column)
    for item in runs:
        models = ", ".join(f"{count} {status.lower()}" for status, count in item["models"].items())
        table.add_row(
            item["run_uuid"][:8],
            item["project"],
            _styled(item["status"]),
            item["started_at"][:19],
            (item["ended_at"] or "")[:19],
            models,
            ("--full-refresh " if item["full_refresh"] else "") + item["selection"],
            item["actor"],  # cli:<user>, scheduler:<schedule> or trigger:<schedule>
        )
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A pipeline run id, or a unique prefix of it.")],
    as_json: JsonOption = False,
) -> None:
    """One pipeline run: each model run, what it read and wrote, and its tests."""
    from headwater.pipeline.state import show_run

    database = migrated_database(settings_or_exit())
    run_info = show_run(database, run_id)
    database.dispose()
    if run_info is None:
        fail(BadRequestError(f"no single pipeline run starts with {run_id!r}", "RUN_ID"))
    if as_json:
        print_json(run_info)
        return
    console.print(
        f"[bold]run {run_info['run_uuid']}[/] {run_info['project']} "
        f"{_styled(run_info['status'])} started {run_info['started_at'][:19]}"
    )
    table = Table(title_justify="left")
    for column in ("model", "status", "mode", "attempts", "read", "written", "snapshot", "reads"):
        table.add_column(column)
    for model in run_info["model_runs"]:
        reads = "; ".join(
            f"{name} {'+' if r['incremental'] else ''}{r['rows']:,}"
            for name, r in model["details"].get("reads", {}).items()
        )
        table.add_row(
            model["model"],
            _styled(model["status"]),
            model["mode"],
            str(model["attempts"]),
            f"{model['rows_read']:,}",
            f"{model['rows_written']:,}",
            str(model["snapshot_after"] or ""),
            reads,
        )
    console.print(table)
    for model in run_info["model_runs"]:
        for note in model["details"].get("notes", []):
            console.print(f"  {model['model']}: {note}")
        if model["message"]:
            console.print(f"  [red]{model['model']}: {model['message']}[/]")
    tests = Table(title="tests", title_justify="left")
    for column in ("model", "test", "severity", "status", "failing rows", "sample"):
        tests.add_column(column)
    for model in run_info["model_runs"]:
        for t in model["tests"]:
            tests.add_row(
                t["model"],
                t["name"],
                t["severity"],
                _styled(t["status"]),
                f"{t['failures']:,}",
                str(t["sample"][:2])[:100] if t["sample"] else "",
            )
    if tests.row_count:
        console.print(tests)


def lake_for(project_dir: Path | None) -> Lake:
    warehouse = None
    if project_dir is not None:
        project, _graph = _load(project_dir)
        warehouse = project.warehouse
    return open_lake(settings_or_exit(), warehouse)


OptionalProject = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="A project whose warehouse to use, if it names one."),
]


@tables_app.command("list")
def tables_list(project_dir: OptionalProject = None, as_json: JsonOption = False) -> None:
    """Every Iceberg table: current snapshot, rows, files, size, last change."""
    lake = lake_for(project_dir)
    rows: list[dict[str, Any]] = []
    try:
        for name in lake.table_names():
            table = lake.load(name)
            if table is None:
                continue
            snapshot = table.current_snapshot()
            summary = (
                snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
            )
            rows.append(
                {
                    "table": name,
                    "snapshot": snapshot.snapshot_id if snapshot else None,
                    "snapshots": len(table.snapshots()),
                    "rows": summary_rows(summary),
                    "files": int(summary.get("total-data-files", 0)),
                    "bytes": int(summary.get("total-files-size", 0)),
                    "updated": (
                        datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat()
                        if snapshot
                        else None
                    ),
                }
            )
    finally:
        lake.close()
    if as_json:
        print_json(rows)
        return
    table_view = Table(title="tables", title_justify="left")
    for column in ("table", "snapshot", "snapshots", "rows", "files", "size", "updated"):
        table_view.add_column(
            column, justify="right" if column in ("rows", "files", "size") else "left"
        )
    for row in rows:
        table_view.add_row(
            row["table"],
            str(row["snapshot"] or ""),
            str(row["snapshots"]),
            f"{row['rows']:,}",
            str(row["files"]),
            f"{row['bytes'] / 1024:,.0f} KiB",
            (row["updated"] or "")[:19],
        )
    console.print(table_view)


def _print_arrow(data: Any, title: str) -> None:
    view = Table(title=title, title_justify="left")
    for name in data.schema.names:
        view.add_column(name)
    for row in data.to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)


def snapshot_at(lake: Lake, table: Any, as_of: str, option: str = "--as-of") -> int:
    """The snapshot ``as_of`` names: a snapshot id, or the one current at an ISO time."""
    if as_of.isdigit():
        if table.snapshot_by_id(int(as_of)) is None:
            fail(BadRequestError(f"{'.'.join(table.name())} has no snapshot {as_of}", option))
        return int(as_of)
    try:
        when = datetime.fromisoformat(as_of)
    except ValueError:
        fail(BadRequestError("must be a snapshot id or an ISO timestamp", option))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # like every time headwater shows: UTC
    snapshot = lake.snapshot_as_of(table, when)
    if snapshot is None:
        fail(BadRequestError(f"the table had no snapshot at {as_of}", option))
    return snapshot


@app.command()
def show(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help="layer.table")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="A snapshot id or an ISO timestamp: time travel."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="Rows to show.")] = 20,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Rows of an Iceberg table, now or as of a snapshot or time."""
    lake = lake_for(project_dir)
    try:
        table = lake.load(table_name.lower())
        if table is None:
            fail(BadRequestError(f"no table {table_name}; see headwater tables list", "TABLE"))
        snapshot = snapshot_at(lake, table, as_of) if as_of else None
        data = table.scan(snapshot_id=snapshot, limit=limit).to_arrow()
    finally:
        lake.close()
    if as_json:
        print_json(data.to_pylist())
    else:
        label = f" as of snapshot {snapshot}" if snapshot else ""
        _print_arrow(data, f"{table_name}{label} ({data.num_rows} rows)")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A DuckDB query over layer.table names.")],
    limit: Annotated[int, typer.Option(min=1, max=1000000, help="Rows to show.")] = 100,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Query the current Iceberg tables with DuckDB (read-only)."""
    import duckdb

    lake = lake_for(project_dir)
    connection = _connect_current(lake)
    try:
        try:
            data = connection.sql(query).limit(limit).to_arrow_table()
        except (duckdb.Error, AttributeError) as exc:
            fail(BadRequestError(str(exc).splitlines()[0], "query"))
    finally:
        connection.close()
        lake.close()
    if as_json:
        print_json(data.to_pylist())
    else:
        _print_arrow(data, f"{data.num_rows} rows")


@app.command()
def demo(
    project_dir: Annotated[
        Path, typer.Option("--project", "-p", help="The shop project folder.")
    ] = Path("examples/shop"),
    orders: Annotated[
        int,
        typer.Option(min=100, max=5_000_000, help="Orders in the initial load (batch 0)."),
    ] = 20_000,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the lineage API until Ctrl-C.")
    ] = False,
    port: Annotated[int | None, typer.Option(help="Port for --serve [default: 5000].")] = None,
) -> None:
    """Run the shop demo on embedded defaults: generate a day of orders and send it in as
    production data arrives (signed webhooks to the inbox for the web store and payments, a
    pulled database for the point of sale), run the pipeline, feed a day more, run it again
    incrementally, and summarise."""
    from headwater.db import Database, upgrade
    from headwater.demo import run_demo
    from headwater.demo.feed import demo_environment
    from headwater.server import record_configuration

    if not (project_dir / "headwater.yml").is_file():
        fail(
            BadRequestError(
                f"{project_dir} holds no headwater.yml; run from the repository root or pass "
                "--project examples/shop",
                "--project",
            )
        )
    project, graph = _load(project_dir)
    settings = settings_or_exit(port=port, host="127.0.0.1")
    demo_environment(settings.home)
    try:
        database = Database(settings.resolved_database_url)
        upgrade(database)
        record_configuration(database, settings, cli_actor())
    except HeadwaterError as exc:
        fail(exc)
    lake = open_lake(settings, project.warehouse)
    view = _ProgressView(list(graph.order))
    try:
        with Live(view, console=console, refresh_per_second=4) as live:
            summary = run_demo(
                project,
                database,
                lake,
                settings,
                orders=orders,
                posted=view.posted,
                actor=cli_actor(),
                progress=view.update,
                announce=lambda message: live.console.print(f"[bold]demo[/]: {message}"),
            )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        lake.close()
    _print_demo(summary, settings)
    if serve:
        _serve_demo(settings, database)


def _print_demo(summary: Any, settings: Settings) -> None:
    layers = Table(title="rows per table", title_justify="left")
    layers.add_column("table")
    layers.add_column("rows", justify="right")
    for name, count in summary.tables.items():
        layers.add_row(name, f"{count:,}")
    console.print(layers)
    last = summary.runs[-1]
    incremental = Table(
        title=f"batch {last.batch}: what the run read and wrote", title_justify="left"
    )
    for column in ("model", "mode", "rows read", "rows written", "table rows", "tests"):
        incremental.add_column(column, justify="right" if "rows" in column else "left")
    for name, outcome in last.result.outcomes.items():
        record = outcome.record
        tests = ", ".join(
            f"{t.name} {_styled(t.status)}" for t in outcome.tests if t.status != "pass"
        )
        passed = sum(1 for t in outcome.tests if t.status == "pass")
        incremental.add_row(
            name,
            record.mode,
            f"{record.rows_read:,}",
            f"{record.rows_written:,}",
            f"{summary.tables.get(name, 0):,}" if record.mode != "view" else "",
            (f"{passed} passed" + (f"; {tests}" if tests else "")) if outcome.tests else "",
        )
    console.print(incremental)
    for run_info in summary.runs:
        landed = sum(run_info.fed.landed.values())
        console.print(
            f"batch {run_info.batch}: {landed:,} raw rows landed; run "
            f"{run_info.result.run_uuid[:8]} {_styled(run_info.result.status)}"
        )
    base = f"http://127.0.0.1:{settings.port}"
    console.print(
        "\n[bold]Where to look next[/]\n"
        f"  headwater runs show {last.result.run_uuid[:8]}     what each model read, wrote, tested\n"
        "  headwater tables list                 snapshots, rows and files of every table\n"
        '  headwater sql "SELECT * FROM marts.entity_coverage"\n'
        "  headwater ingest status -p examples/shop   webhooks received, refused, landed\n"
        "  headwater show marts.daily_revenue --limit 5\n"
        "  headwater audit verify                the tamper-evident log of every commit\n"
        f"  headwater serve, then {base}/lineage?node=job:shop:shop.marts.daily_revenue   the UI\n"
        f"  headwater serve, then {base}/api/v1/namespaces/shop/jobs   lineage (Marquez API)\n"
        "  make demo again                       feeds and runs one more day",
        highlight=False,
        soft_wrap=True,
    )


def _serve_demo(settings: Settings, database: Any) -> None:
    import uvicorn

    from headwater import logs
    from headwater.server import create_app, tune_garbage_collector

    application = create_app(settings, database)
    console.print(f"Serving http://127.0.0.1:{settings.port}/api/v1 until Ctrl-C.")
    tune_garbage_collector()
    logs.configure(settings)
    uvicorn.run(
        application,
        host="127.0.0.1",
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # headwater.logs has configured every logger
    )
