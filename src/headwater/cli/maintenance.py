"""``headwater table``: compact, expire, orphans, rollback and history of one Iceberg table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import (
    JsonOption,
    cli_actor,
    console,
    err_console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
    table_app,
)
from headwater.cli.pipeline import OptionalProject, lake_for, snapshot_at
from headwater.errors import HeadwaterError

TableArgument = Annotated[str, typer.Argument(metavar="TABLE", help="layer.table")]
ExecuteOption = Annotated[
    bool, typer.Option("--execute", help="Do it; without this, only say what would be done.")
]


def _run(project_dir: Any, operation: Callable[[Any, Any, str], Any]) -> Any:
    """Run ``operation(database, lake, actor)``, turning headwater errors into exit codes."""
    database = migrated_database(settings_or_exit())
    lake = lake_for(project_dir)
    try:
        return operation(database, lake, cli_actor())
    except HeadwaterError as exc:
        fail(exc)
    finally:
        lake.close()
        database.dispose()


def _print_report(report: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        print_json(report.as_json())
        return
    for line in lines:
        console.print(line, highlight=False)
    if not report.executed:
        err_console.print("dry run: add --execute to do it", highlight=False)


@table_app.command("compact")
def compact_command(
    table_name: TableArgument,
    target_size_mb: Annotated[
        int, typer.Option(min=1, max=16384, help="Size of the files to write, in MiB.")
    ] = 128,
    execute: ExecuteOption = False,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Rewrite the table's small files (and those carrying position deletes) into files of
    the target size, in one commit marked as maintenance: the rows stay the same, and
    incremental readers do not read them again."""
    from headwater.ops import compact_table

    report = _run(
        project_dir,
        lambda database, lake, actor: compact_table(
            database,
            lake,
            table_name,
            target_bytes=target_size_mb * 2**20,
            execute=execute,
            actor=actor,
        ),
    )
    facts = report.facts
    verb = "rewrote" if report.executed else "would rewrite"
    lines = [
        f"{report.table}: {verb} {facts['files_rewritten']} of {facts['files_before']} data files "
        f"({facts['bytes_rewritten'] / 2**20:,.1f} MiB, {facts['delete_files_applied']} delete "
        f"files applied) into about {facts['files_after'] - facts['files_before'] + facts['files_rewritten']}; "
        f"{facts['files_after']} files after",
    ]
    if not facts["files_rewritten"]:
        lines = [f"{report.table}: nothing to compact ({facts['files_before']} data files)"]
    elif report.executed:
        lines.append(f"snapshot {report.snapshot_before} -> {report.snapshot_after}")
    _print_report(report, as_json, lines)


@table_app.command("expire")
def expire_command(
    table_name: TableArgument,
    older_than: Annotated[
        str,
        typer.Option(help="Expire snapshots committed before this: an age (7d, 12h) or ISO time."),
    ],
    retain_last: Annotated[
        int, typer.Option(min=1, help="Always keep this many of the newest snapshots.")
    ] = 5,
    execute: ExecuteOption = False,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Expire old snapshots and delete the data and metadata files only they referred to.
    Snapshots an incremental reader still needs (from its watermark on) are kept."""
    from headwater.ops import expire_table, parse_point_in_time

    try:
        cutoff = parse_point_in_time(older_than, "--older-than")
    except HeadwaterError as exc:
        fail(exc)
    report = _run(
        project_dir,
        lambda database, lake, actor: expire_table(
            database,
            lake,
            table_name,
            older_than=cutoff,
            retain_last=retain_last,
            execute=execute,
            actor=actor,
        ),
    )
    facts = report.facts
    verb = "expired" if report.executed else "would expire"
    lines = [
        f"{report.table}: {verb} {len(facts['snapshots_expired'])} snapshot(s) older than "
        f"{facts['older_than'][:19]}, keeping {facts['snapshots_kept']}; "
        f"{'deleted' if report.executed else 'would delete'} {facts['files_deleted']} file(s)"
    ]
    lines += [f"  kept {s}: {why}" for s, why in facts["kept_because"].items()]
    _print_report(report, as_json, lines)


@table_app.command("orphans")
def orphans_command(
    table_name: TableArgument,
    older_than: Annotated[
        str,
        typer.Option(
            help="Only files last changed before this (an age or ISO time): newer ones may be "
            "a write in progress."
        ),
    ] = "3d",
    execute: ExecuteOption = False,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Find (with --execute, delete) files under the table's location that no snapshot or
    metadata file refers to: left by crashed writes or interrupted expiries."""
    from headwater.ops import orphan_files, parse_point_in_time

    try:
        cutoff = parse_point_in_time(older_than, "--older-than")
    except HeadwaterError as exc:
        fail(exc)
    report = _run(
        project_dir,
        lambda database, lake, actor: orphan_files(
            database, lake, table_name, older_than=cutoff, execute=execute, actor=actor
        ),
    )
    facts = report.facts
    verb = "deleted" if report.executed else "found"
    lines = [
        f"{report.table}: {verb} {len(facts['orphans'])} orphan file(s), "
        f"{facts['orphan_bytes'] / 2**20:,.1f} MiB, older than {facts['older_than'][:19]}"
    ]
    lines += [f"  {path}" for path in facts["orphans"][:50]]
    _print_report(report, as_json, lines)


@table_app.command("rollback")
def rollback_command(
    table_name: TableArgument,
    to: Annotated[
        str, typer.Option("--to", help="A snapshot id, or an ISO time: the snapshot current then.")
    ],
    execute: ExecuteOption = False,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Make an earlier snapshot current again. Nothing is deleted: a later rollback can undo
    it. Incremental readers whose watermark is past it rebuild from the table."""
    from headwater.ops import load_table, rollback_table

    def operation(database: Any, lake: Any, actor: str) -> Any:
        snapshot = snapshot_at(lake, load_table(lake, table_name), to, "--to")
        return rollback_table(database, lake, table_name, to=snapshot, execute=execute, actor=actor)

    report = _run(project_dir, operation)
    facts = report.facts
    verb = "rolled back" if report.executed else "would roll back"
    lines = [
        f"{report.table}: {verb} from snapshot {report.snapshot_before} "
        f"({facts['rows_before']:,} rows) to {report.snapshot_after} ({facts['rows_after']:,} rows)"
    ]
    if facts["readers_rebuilding"]:
        lines.append(
            "  these read it incrementally and will rebuild: "
            + ", ".join(facts["readers_rebuilding"])
        )
    _print_report(report, as_json, lines)


@table_app.command("history")
def history_command(
    table_name: TableArgument,
    project_dir: OptionalProject = None,
    as_json: JsonOption = False,
) -> None:
    """Every snapshot of the table, newest first: when, what operation, rows, the run that
    committed it and, from the audit log, who."""
    from headwater.ops import table_history

    entries = _run(
        project_dir, lambda database, lake, actor: table_history(database, lake, table_name)
    )
    if as_json:
        print_json(
            [
                {
                    "snapshot": e.snapshot.snapshot_id,
                    "parent": e.snapshot.parent_id,
                    "committed_at": e.snapshot.committed_at.isoformat(),
                    "operation": e.snapshot.operation,
                    "maintenance": e.snapshot.maintenance,
                    "rows": e.snapshot.rows,
                    "added_rows": e.snapshot.added_rows,
                    "run": e.snapshot.run,
                    "actor": e.actor,
                    "action": e.action,
                    "current": e.current,
                }
                for e in entries
            ]
        )
        return
    view = Table(title=f"{table_name}: {len(entries)} snapshots", title_justify="left")
    for column in ("snapshot", "committed", "operation", "rows", "added", "run", "by", ""):
        view.add_column(column, justify="right" if column in ("rows", "added") else "left")
    for e in entries:
        operation = e.snapshot.operation + (
            f" ({e.snapshot.maintenance})" if e.snapshot.maintenance else ""
        )
        view.add_row(
            str(e.snapshot.snapshot_id),
            e.snapshot.committed_at.isoformat()[:19],
            operation,
            f"{e.snapshot.rows:,}",
            f"{e.snapshot.added_rows:,}",
            (e.snapshot.run or "")[:8],
            e.actor or "",
            "[bold]current[/]" if e.current else "",
        )
    console.print(view)
