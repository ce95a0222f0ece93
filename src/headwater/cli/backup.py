"""``headwater backup``: create, verify and restore archives of the whole store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from headwater.cli.common import (
    EXIT_TAMPERED,
    JsonOption,
    app,
    cli_actor,
    console,
    err_console,
    fail,
    print_json,
    settings_or_exit,
)
from headwater.errors import HeadwaterError

if TYPE_CHECKING:  # headwater.ops loads the lake (PyIceberg): only the commands import it
    from headwater.ops.backup_archive import Progress as ProgressCallback

backup_app = typer.Typer(
    help="Back up the whole store (metadata DB, Iceberg catalog and files, audit checkpoint) "
    "into one archive; verify an archive; restore one into an empty store.",
    no_args_is_help=True,
)
app.add_typer(backup_app, name="backup")

ArchiveArgument = Annotated[Path, typer.Argument(metavar="ARCHIVE", help="A backup archive.")]


@contextmanager
def _bars() -> Iterator[ProgressCallback]:
    """A progress callback drawing one Rich bar per stage (bytes done of bytes in all, or a
    pulsing bar when the total is unknown), on stderr and gone when done."""
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield progress


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _facts(title: str, rows: list[tuple[str, str]]) -> Table:
    view = Table(title=title, title_justify="left", show_header=False)
    view.add_column(style="bold")
    view.add_column()
    for name, value in rows:
        view.add_row(name, value)
    return view


@backup_app.command("create")
def create(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Archive to write [default: <home>/backups/headwater-<UTC time>.tar.gz]."
        ),
    ] = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data/--no-data",
            help="Include the tables' data files (--no-data: metadata only; the data files "
            "must still be at their locations when restoring).",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Write one archive: a consistent copy of the metadata DB, the Iceberg metadata files it
    points at (and the data files), and a fresh signed audit checkpoint."""
    from headwater.ops.backup import create_backup

    settings = settings_or_exit()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path or settings.home / "backups" / f"headwater-{stamp}.tar.gz"
    try:
        with _bars() as progress:
            result = create_backup(
                settings, target, include_data=data, progress=progress, actor=cli_actor()
            )
    except HeadwaterError as exc:
        fail(exc)
    if as_json:
        print_json(result.as_json())
        return
    manifest = result.manifest
    summary = manifest.summary()
    files = f"{summary['files']:,} in the archive"
    if not manifest.includes_data:
        files += f", {summary['files_expected_at_location']:,} data files left at their location"
    console.print(
        _facts(
            f"backup written: {result.path}",
            [
                ("size", f"{_size(result.bytes)} ({_size(summary['bytes'])} before compression)"),
                ("sha256", result.sha256),
                ("database", f"{manifest.backend}, revision {manifest.migration_revision}"),
                ("tables", f"{summary['tables']:,} ({summary['rows']:,} rows)"),
                ("files", files),
                (
                    "audit",
                    f"{manifest.audit_log_size:,} entries, checkpoint of "
                    f"{manifest.checkpoint.tree_size:,} signed by {manifest.checkpoint.key_id}",
                ),
                ("took", f"{result.seconds:.1f} s"),
            ],
        )
    )
    if manifest.tables:
        tables = Table("table", "snapshot", "rows", "snapshots", title_justify="left")
        for table in manifest.tables:
            tables.add_row(
                table.name, str(table.snapshot_id or "-"), f"{table.rows:,}", str(table.snapshots)
            )
        console.print(tables)


@backup_app.command("verify")
def verify(archive: ArchiveArgument, as_json: JsonOption = False) -> None:
    """Check an archive without restoring it: every member's checksum, the database copy,
    that each file the archived tables need is there, and the archived audit log against the
    backup's signed checkpoint. Exit 1 if anything is wrong, 3 if the audit log is tampered."""
    from headwater.ops.backup import verify_backup

    try:
        with _bars() as progress:
            result = verify_backup(archive, progress=progress)
    except HeadwaterError as exc:
        fail(exc)
    if as_json:
        print_json(result.as_json())
    elif result.ok:
        manifest = result.manifest
        assert manifest is not None  # an archive that verifies has one
        expected = (
            ""
            if manifest.includes_data
            else f"; {result.files_expected:,} data files present at their location"
        )
        console.print(
            f"[bold green]archive OK[/]: {result.members_checked:,} members checked{expected}; "
            f"audit log of {manifest.audit_log_size:,} entries verifies against the checkpoint "
            f"of {manifest.checkpoint.tree_size:,}",
            highlight=False,
        )
        console.print(f"sha256 {result.archive_sha256}", highlight=False)
    else:
        problems = Table("where", "problem", title=f"{archive}: NOT OK", title_justify="left")
        for found in result.problems:
            problems.add_row(found.where, found.message)
        err_console.print(problems)
    if result.ok:
        return
    only_audit = all(p.where == "audit" for p in result.problems)
    raise typer.Exit(EXIT_TAMPERED if only_audit and result.audit_tampered else 1)


@backup_app.command("restore")
def restore(archive: ArchiveArgument, as_json: JsonOption = False) -> None:
    """Restore an archive into the store the current settings name (HEADWATER_DATABASE_URL,
    HEADWATER_HOME, HEADWATER_WAREHOUSE), which must be empty; the warehouse files go back to
    their recorded locations. Then check migrations and verify the audit log (exit 3 if it
    does not verify). Exit 2 if the target is not empty."""
    from headwater.ops.backup import restore_backup

    settings = settings_or_exit()
    try:
        with _bars() as progress:
            result = restore_backup(archive, settings, progress=progress, actor=cli_actor())
    except HeadwaterError as exc:
        fail(exc)
    report = result.audit
    if as_json:
        print_json(result.as_json())
    else:
        manifest = result.manifest
        migrations = (
            f"ok (revision {result.revision})"
            if result.migrations_ok
            else f"revision {result.revision}, latest is {result.head}: run `headwater db upgrade`"
        )
        audit_line = (
            f"intact: {report.entries:,} entries, root {report.root_hash}"
            if report.ok
            else f"TAMPERED: {report.finding.message if report.finding else ''}"
        )
        console.print(
            _facts(
                f"restored {archive} into {result.target}",
                [
                    ("backup", f"{manifest.backup_id} of {manifest.created_at}"),
                    ("tables", f"{len(manifest.tables):,}"),
                    (
                        "files",
                        f"{result.files_written:,} written, {result.files_in_place:,} already "
                        "in place",
                    ),
                    ("migrations", migrations),
                    ("audit log", audit_line),
                    ("took", f"{result.seconds:.1f} s"),
                ],
            )
        )
        for note in result.notes:
            console.print(f"note: {note}", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_TAMPERED)
