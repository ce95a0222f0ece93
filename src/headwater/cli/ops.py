"""``headwater health``: operations commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import JsonOption, app, console, fail, print_json, settings_or_exit
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
    from headwater.db import Database
    from headwater.lake import Lake
    from headwater.ops import check_health
    from headwater.server import health_targets, webhook_sources

    settings = settings_or_exit(project=project)
    try:
        sources = webhook_sources(settings)
        database = Database(settings.resolved_database_url)
    except HeadwaterError as exc:
        fail(exc)
    opened: list[Lake] = []

    def lake() -> Lake:
        if not opened:
            opened.append(Lake(settings.resolved_database_url, settings.resolved_warehouse()))
        return opened[0]

    try:
        report = check_health(
            health_targets(settings, database, lake, expect_consumer=bool(sources))
        )
    finally:
        for each in opened:
            each.close()
        database.dispose()
    return report.as_json()


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
