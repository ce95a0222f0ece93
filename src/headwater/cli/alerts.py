"""``headwater alerts``: evaluate the rules now, list alerts, show the rules in effect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import (
    JsonOption,
    app,
    cli_actor,
    console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
)
from headwater.errors import HeadwaterError

alerts_app = typer.Typer(
    help="Alert rules on health, ingest, pipelines, lineage and storage: evaluate, list, rules.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="The project whose headwater.yml holds `alerts:`."),
]
STATE_STYLE = {"firing": "bold red", "pending": "yellow", "ok": "green"}


def _alert_json(alert: Any) -> dict[str, Any]:
    return {
        "key": alert.key,
        "rule": alert.rule,
        "subject": alert.subject,
        "state": alert.state,
        "severity": alert.severity,
        "value": alert.value,
        "threshold": alert.threshold,
        "since": alert.since.isoformat(),
        "summary": alert.summary,
        "detail": alert.detail,
        "runbook": alert.runbook,
    }


def _print_alerts(alerts: list[Any], title: str) -> None:
    view = Table(title=title, title_justify="left")
    for column in ("alert", "state", "severity", "value", "threshold", "since", "summary"):
        view.add_column(column, justify="right" if column in ("value", "threshold") else "left")
    for alert in alerts:
        view.add_row(
            alert.key,
            f"[{STATE_STYLE.get(alert.state, 'white')}]{alert.state}[/]",
            alert.severity,
            "" if alert.value is None else f"{alert.value:g}",
            f"{alert.threshold:g}",
            alert.since.isoformat()[:19],
            alert.summary,
        )
    console.print(view)


@alerts_app.command("evaluate")
def evaluate_command(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Measure every signal and run one round of the rules: fire, repeat after the cooldown,
    resolve, notify. The scheduler does this every minute."""
    from headwater.ops import evaluate_alerts, load_alerts
    from headwater.ops.alerts import current_alerts
    from headwater.server import store_targets, webhook_sources

    settings = settings_or_exit(project=project)
    try:
        config = load_alerts(settings)
        expect = bool(webhook_sources(settings, secrets=False))
        with store_targets(settings, expect_consumer=expect, migrated=True) as targets:
            evaluation, measurements = evaluate_alerts(targets, config, cli_actor())
            with targets.database.read() as connection:
                alerts = current_alerts(connection)
    except HeadwaterError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "ran": evaluation.ran,
                "measurements": [_measured(m) for m in measurements],
                "transitions": [
                    {"key": t.key, "before": t.before, "after": t.after, "value": t.value}
                    for t in evaluation.transitions
                ],
                "deliveries": [
                    {"notifier": d.notifier, "alert": d.notification.key, "error": d.error}
                    for d in evaluation.deliveries
                ],
                "alerts": [_alert_json(a) for a in alerts],
            }
        )
        return
    if not evaluation.ran:
        console.print("another evaluation was running: nothing done")
        return
    for t in evaluation.transitions:
        console.print(f"{t.key}: {t.before} -> {t.after}", highlight=False)
    for d in evaluation.deliveries:
        outcome = "delivered" if d.delivered else f"[red]not delivered: {d.error}[/]"
        console.print(f"{d.notification.key} {d.notification.state} via {d.notifier}: {outcome}")
    _print_alerts(
        [a for a in alerts if a.state != "ok"], f"{len(measurements)} measurements; alerts"
    )


def _measured(measurement: Any) -> dict[str, Any]:
    return {
        "signal": measurement.signal,
        "subject": measurement.subject,
        "value": measurement.value,
        "detail": measurement.detail,
    }


@alerts_app.command("list")
def list_command(
    every: Annotated[bool, typer.Option("--all", help="Also the alerts that are ok.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The alerts as of the last evaluation, firing first. Exit 1 when one is firing."""
    from headwater.ops.alerts import current_alerts

    database = migrated_database(settings_or_exit())
    try:
        with database.read() as connection:
            alerts = current_alerts(connection)
    finally:
        database.dispose()
    shown = alerts if every else [a for a in alerts if a.state != "ok"]
    if as_json:
        print_json([_alert_json(a) for a in shown])
    else:
        _print_alerts(shown, f"alerts ({datetime.now(UTC).isoformat()[:19]} UTC)")
    raise typer.Exit(1 if any(a.state == "firing" for a in alerts) else 0)


@alerts_app.command("rules")
def rules_command(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """The rules in effect: the defaults with what headwater.yml changes, and its own."""
    from headwater.ops import load_alerts

    settings = settings_or_exit(project=project)
    try:
        config = load_alerts(settings)
    except HeadwaterError as exc:
        fail(exc)
    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "signal": r.signal,
            "subject": r.subject,
            "condition": f"{r.condition} {r.threshold:g}",
            "for": r.for_.total_seconds(),
            "severity": r.severity,
            "notify": list(r.notify),
            "cooldown": r.cooldown.total_seconds(),
            "runbook": r.runbook,
        }
        for r in config.rules
    ]
    if as_json:
        print_json(rows)
        return
    view = Table(title="alert rules", title_justify="left")
    for column in ("rule", "signal", "when", "for", "severity", "notify", "cooldown"):
        view.add_column(column)
    for row in rows:
        view.add_row(
            row["name"],
            row["signal"] + (f" [{row['subject']}]" if row["subject"] else ""),
            row["condition"],
            f"{row['for']:g}s",
            row["severity"],
            ", ".join(row["notify"]),
            f"{row['cooldown']:g}s",
        )
    console.print(view)
