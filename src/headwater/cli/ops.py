"""``headwater health``: operations commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
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
    settings_or_exit,
)
from headwater.errors import BadRequestError, HeadwaterError

STATUS_STYLE = {"ok": "green", "down": "bold red", "off": "dim"}


def _report_from(url: str) -> dict[str, Any]:
    import httpx

    try:
        answer = httpx.get(f"{url.rstrip('/')}/health/ready", timeout=30)
    except httpx.HTTPError as exc:
        return {
            "status": "down",
            "checks": [
                {
                    "name": "server",
                    "status": "down",
                    "detail": f"{url} did not answer: {exc}",
                    "ms": 0.0,
                }
            ],
        }
    try:
        report = answer.json()
    except ValueError:
        report = None
    if not isinstance(report, dict) or not isinstance(report.get("checks"), list):
        fail(
            BadRequestError(f"{url} answered {answer.status_code}, not a readiness report", "--url")
        )
    return dict(report)


def _report_here(project: Path | None) -> dict[str, Any]:
    from headwater.ops import check_health
    from headwater.server import store_targets, webhook_sources

    settings = settings_or_exit(project=project)
    try:
        sources = webhook_sources(settings, secrets=False)
        with store_targets(settings, expect_consumer=bool(sources)) as targets:
            return check_health(targets).as_json()
    except HeadwaterError as exc:
        fail(exc)


@app.command()
def health(
    url: Annotated[
        str | None,
        typer.Option(help="Ask this running server (its /health/ready) instead of checking here."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="The project whose webhook sources need a consumer."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every component: metadata database, Iceberg catalog, warehouse writable, ingest
    consumer, scheduler, disk space. Exit 0 when none is down, 1 when one is."""
    report = _report_from(url) if url else _report_here(project)
    if as_json:
        print_json(report)
    else:
        table = Table(title=f"health: {report['status']}", title_justify="left")
        for column in ("component", "status", "detail", "time"):
            table.add_column(column, justify="right" if column == "time" else "left")
        for check in report["checks"]:
            style = STATUS_STYLE.get(check["status"], "white")
            table.add_row(
                check["name"],
                f"[{style}]{check['status']}[/]",
                check["detail"],
                f"{check['ms']:.0f} ms",
            )
        console.print(table)
    raise typer.Exit(0 if report["status"] == "ok" else 1)


@app.command()
def retention(
    older_than: Annotated[
        str | None,
        typer.Option(help="Purge what is older than this, e.g. 90d [default: retention_days]."),
    ] = None,
    grace: Annotated[
        str | None,
        typer.Option(
            help="Purge soft-deleted datasets and jobs only this long after their deletion "
            "[default: retention_grace_days]."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Rows per transaction.")
    ] = 10_000,
    execute: Annotated[
        bool, typer.Option("--execute", help="Purge; without this, only count what would go.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Purge lineage events, runs, versions, landed deliveries and notifications older than
    the policy, in batches; soft-delete idle datasets and jobs, and purge those soft-deleted
    past the grace period. Counts exactly first; the audit log is never purged."""
    from datetime import timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from headwater.ops.durations import parse_duration
    from headwater.ops.retention import Policy, apply_retention, plan_retention

    settings = settings_or_exit()
    try:
        age = parse_duration(older_than) if older_than else timedelta(days=settings.retention_days)
    except ValueError as exc:
        fail(BadRequestError(str(exc), "--older-than"))
    try:
        wait = parse_duration(grace) if grace else timedelta(days=settings.retention_grace_days)
    except ValueError as exc:
        fail(BadRequestError(str(exc), "--grace"))
    database = migrated_database(settings)
    policy = Policy.of(age, wait, batch_size)
    try:
        plan = plan_retention(database, policy)
        report = plan
        if execute:
            totals = {c.name: c.rows for c in plan.categories}
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err_console,
                disable=as_json,
            ) as bar:
                tasks = {
                    name: bar.add_task(name, total=max(total, 1), visible=total > 0)
                    for name, total in totals.items()
                }
                report = apply_retention(
                    database,
                    policy,
                    cli_actor(),
                    progress=lambda name, rows: bar.update(tasks[name], completed=rows),
                )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        database.dispose()
    if as_json:
        print_json(report.as_json())
        return
    view = Table(
        title=f"retention: older than {policy.cutoff.isoformat()[:19]} UTC",
        title_justify="left",
    )
    for column in ("what", "rows", "batches", ""):
        view.add_column(column, justify="right" if column in ("rows", "batches") else "left")
    for counted in report.categories:
        view.add_row(
            counted.name,
            f"{counted.rows:,}",
            str(counted.batches) if report.executed else "",
            counted.description,
        )
    console.print(view)
    if not execute:
        err_console.print("dry run: add --execute to purge", highlight=False)


LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@app.command()
def doctor(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="The project whose webhook sources to check."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Diagnose the install as the runbooks do: rows per layer side by side, models behind
    their inputs, tables to compact or expire, ingest lag and dead letters, failing tests,
    jobs without lineage, firing alerts, components down; each finding with the command that
    fixes it. Exit 0 with nothing worse than info, 1 with a warning or an error."""
    from headwater import ingest
    from headwater.ops.doctor import diagnose
    from headwater.server import configured_project, store_targets

    settings = settings_or_exit(project=project)
    try:
        loaded = configured_project(settings)
        sources = {} if loaded is None else ingest.webhook_sources(loaded, secrets=False)
        views = (
            set()
            if loaded is None
            else {
                f"{loaded.namespace}:{loaded.name}.{name}"
                for name, model in loaded.models.items()
                if model.config.materialized == "view"
            }
        )
        with store_targets(settings, expect_consumer=bool(sources)) as targets:
            found = diagnose(targets, sources, views)
    except HeadwaterError as exc:
        fail(exc)
    if as_json:
        print_json(found.as_json())
    else:
        layers = Table(title="rows per layer", title_justify="left")
        for column in ("layer", "tables", "rows", "last commit (UTC)"):
            layers.add_column(column, justify="right" if column in ("tables", "rows") else "left")
        for layer in found.layers:
            layers.add_row(
                layer.layer, str(layer.tables), f"{layer.rows:,}", (layer.updated_at or "")[:19]
            )
        console.print(layers)
        if not found.findings:
            console.print("[green]no findings[/]")
        else:
            view = Table(title=f"{len(found.findings)} finding(s)", title_justify="left")
            for column in ("level", "check", "subject", "problem", "fix"):
                view.add_column(column)
            for f in found.findings:
                view.add_row(
                    f"[{LEVEL_STYLE[f.level]}]{f.level}[/]", f.check, f.subject, f.problem, f.fix
                )
            console.print(view)
    raise typer.Exit(1 if found.worst in ("error", "warning") else 0)
