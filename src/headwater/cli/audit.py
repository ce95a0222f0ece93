"""``headwater audit``: verify, export, history, checkpoint, keygen."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from headwater import audit
from headwater.cli.common import (
    EXIT_TAMPERED,
    JsonOption,
    audit_app,
    console,
    err_console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
)
from headwater.errors import BadRequestError, HeadwaterError


def _signing_key() -> audit.SigningKey:
    from headwater.server import signing_key

    try:
        return signing_key(settings_or_exit())
    except HeadwaterError as exc:
        fail(exc)


@audit_app.command("verify")
def verify(
    from_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-checkpoint",
            help="A checkpoint (JSON from GET /api/v1/audit/checkpoint) or an export kept by "
            "an auditor; the log must extend it. Repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the hash chain, every stored checkpoint and the auditor's; exit 3 on tampering."""
    copies = []
    try:
        copies = [audit.read_auditor_copy(path) for path in from_checkpoint or []]
    except HeadwaterError as exc:
        fail(exc)
    database = migrated_database(settings_or_exit())
    with database.read() as connection, Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("verifying", total=audit.log_size(connection))
        report = audit.verify_log(connection, copies, lambda n: bar.advance(task, n))
    database.dispose()
    if as_json:
        print_json(report.as_json())
    elif report.finding is None:
        console.print(
            f"[bold green]audit log intact[/]: {report.entries} entries, root "
            f"{report.root_hash}, {report.checkpoints_checked} checkpoints checked",
            highlight=False,
        )
        for note in report.notes:
            console.print(f"note: {note}", highlight=False)
    else:
        finding = report.finding
        err_console.print(
            f"[bold red]audit log TAMPERED[/] ({finding.kind}) at entry {finding.position}: "
            f"{finding.message}",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(EXIT_TAMPERED)


@audit_app.command("checkpoint")
def checkpoint(as_json: JsonOption = False) -> None:
    """Sign a checkpoint of the whole log now (keep it: an auditor's anchor)."""
    key = _signing_key()
    database = migrated_database(settings_or_exit())
    with database.write() as connection:
        made = audit.checkpoint_now(connection, key)
    database.dispose()
    if as_json:
        print_json(made.as_json())
    else:
        console.print(
            f"checkpoint: {made.tree_size} entries, root {made.root_hash}, {made.time}, "
            f"key {made.key_id}",
            highlight=False,
        )


@audit_app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: stdout].")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="Only jsonl.")] = "jsonl",
) -> None:
    """Export the log as JSON Lines: a fresh signed checkpoint, then every entry with its
    inclusion proof."""
    if format != "jsonl":
        fail(BadRequestError(f"{format!r} is not supported; use jsonl", "--format"))
    key = _signing_key()
    database = migrated_database(settings_or_exit())
    with database.write() as connection:
        made = audit.checkpoint_now(connection, key)
    with database.read() as connection:
        if output is None:
            count = audit.write_export(connection, made, sys.stdout.buffer)
        else:
            with output.open("wb") as out, Progress(console=err_console) as progress:
                task = progress.add_task("exporting", total=made.tree_size)
                count = audit.write_export(
                    connection, made, out, lambda n: progress.advance(task, n)
                )
    database.dispose()
    if output is not None:
        console.print(f"exported {count} entries and checkpoint to {output}", highlight=False)


@audit_app.command("history")
def history(
    target: Annotated[str, typer.Argument(help="e.g. dataset:<namespace>:<name>")],
    as_json: JsonOption = False,
) -> None:
    """The story of one dataset (or job, run, token): every run that wrote it with its
    versions, every delete and maintenance operation, oldest first."""
    database = migrated_database(settings_or_exit())
    with database.read() as connection:
        items = audit.target_history(connection, target)
    database.dispose()
    if as_json:
        print_json({"target": target, "history": [i.as_json() for i in items]})
        return
    if not items:
        console.print(f"no audit entries about {target}", highlight=False)
        return
    table = Table("seq", "time", "actor", "action", "role", "run", "version", "summary")
    for item in items:
        table.add_row(
            str(item.seq),
            item.time,
            item.actor,
            item.action,
            item.role,
            item.run or "",
            item.version or "",
            item.summary,
        )
    console.print(table)


@audit_app.command("keygen")
def keygen() -> None:
    """Print a new Ed25519 signing key for HEADWATER_AUDIT_SIGNING_KEY (keep it secret)."""
    seed = audit.generate_seed()
    key = audit.parse_seed(seed)
    print(f"HEADWATER_AUDIT_SIGNING_KEY={seed}")
    err_console.print(f"public key {key.public_key} (key id {key.key_id})", highlight=False)
