"""``headwater trigger`` and ``headwater schedules``: the built-in scheduler's work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import (
    JsonOption,
    app,
    console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
)
from headwater.errors import BadRequestError, HeadwaterError

schedules_app = typer.Typer(
    help="The schedules of headwater.yml: list them, see their runs.", no_args_is_help=True
)
app.add_typer(schedules_app, name="schedules")

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="The project whose headwater.yml holds `schedules:`."),
]
STATUS_STYLE = {"completed": "green", "failed": "bold red", "skipped": "yellow", "running": "cyan"}


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


@app.command()
def trigger(
    name: Annotated[str, typer.Argument(help="The schedule to run now, e.g. the pipeline's.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a schedule now, in this process, as the scheduler would (its lock included: never
    beside a run of it already going). Exit 0 when it completed, 1 when it failed or was
    skipped."""
    from headwater.ops import RUNNERS, load_schedules, run_schedule
    from headwater.server import scheduler_context

    settings = settings_or_exit(project=project)
    if settings.log_file is not None:
        from headwater import logs

        logs.configure(settings)
    database = migrated_database(settings)
    try:
        schedules = {s.name: s for s in load_schedules(settings)}
        if name not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            fail(BadRequestError(f"no schedule {name!r} in headwater.yml; known: {known}", "NAME"))
        context = scheduler_context(settings, database)
        run = run_schedule(
            schedules[name], context, RUNNERS, slot=datetime.now(UTC), trigger="manual"
        )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        database.dispose()
    assert run is not None  # a manual slot is this instant's: nobody else holds it
    if as_json:
        print_json(
            {"schedule": run.schedule, "kind": run.kind, "status": run.status, **run.details}
        )
    else:
        console.print(f"{run.schedule} ({run.kind}): {_styled(run.status)}")
        for key, value in run.details.items():
            console.print(f"  {key}: {value}", highlight=False, soft_wrap=True)
    raise typer.Exit(0 if run.status == "completed" else 1)


def _runs(database: Any, name: str | None, limit: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from headwater.db.schema import schedule_runs

    query = select(schedule_runs).order_by(schedule_runs.c.started_at.desc()).limit(limit)
    if name is not None:
        query = query.where(schedule_runs.c.schedule == name)
    with database.read() as connection:
        return [
            {
                "schedule": r.schedule,
                "kind": r.kind,
                "slot": r.slot.isoformat(),
                "trigger": r.trigger,
                "status": r.status,
                "started_at": r.started_at.isoformat(),
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                "instance": r.instance,
                "details": r.details,
            }
            for r in connection.execute(query)
        ]


@schedules_app.command("list")
def list_command(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Each schedule: what it runs, its cron, when it is next due and how its last run went."""
    from headwater.ops import load_schedules

    settings = settings_or_exit(project=project)
    try:
        schedules = load_schedules(settings)
    except HeadwaterError as exc:
        fail(exc)
    database = migrated_database(settings)
    try:
        last: dict[str, dict[str, Any]] = {}
        for run in _runs(database, None, 10_000):
            last.setdefault(run["schedule"], run)
    finally:
        database.dispose()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "run": s.kind,
            "cron": s.cron,
            "missed": s.missed,
            "next": s.next_slot(now).isoformat(),
            "options": dict(s.options),
            "last": last.get(s.name),
        }
        for s in schedules
    ]
    if as_json:
        print_json(rows)
        return
    view = Table(title="schedules (UTC)", title_justify="left")
    for column in ("schedule", "runs", "cron", "next", "last run", "status"):
        view.add_column(column)
    for row in rows:
        previous = row["last"]
        view.add_row(
            row["name"],
            row["run"],
            row["cron"],
            row["next"][:19],
            previous["started_at"][:19] if previous else "",
            _styled(previous["status"]) if previous else "",
        )
    console.print(view)


@schedules_app.command("history")
def history_command(
    name: Annotated[str | None, typer.Argument(help="Only this schedule's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest runs the scheduler started or `headwater trigger` ran, newest first."""
    database = migrated_database(settings_or_exit())
    try:
        runs = _runs(database, name, limit)
    finally:
        database.dispose()
    if as_json:
        print_json(runs)
        return
    view = Table(title="schedule runs", title_justify="left")
    for column in ("schedule", "slot", "trigger", "status", "took", "note"):
        view.add_column(column)
    for run in runs:
        took = ""
        if run["ended_at"]:
            seconds = (
                datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])
            ).total_seconds()
            took = f"{seconds:.1f}s"
        details = run["details"]
        note = details.get("error") or details.get("reason") or details.get("run_id") or ""
        view.add_row(
            run["schedule"],
            run["slot"][:19],
            run["trigger"],
            _styled(run["status"]),
            took,
            str(note),
        )
    console.print(view)
