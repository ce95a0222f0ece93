"""What every command shares: the Typer apps, consoles, errors to exit codes, the actor."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated, NoReturn

import orjson
import typer
from rich.console import Console

from headwater.config import Settings, load_settings
from headwater.db import Database
from headwater.errors import BadRequestError, ConfigError, HeadwaterError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    help="headwater: lakehouse pipelines that record everything they do.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify, export, history, checkpoints.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")
runs_app = typer.Typer(help="Pipeline runs: list, show.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
tables_app = typer.Typer(help="The warehouse's Iceberg tables.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
table_app = typer.Typer(
    help="Maintain one Iceberg table: compact, expire, orphans, rollback, history. "
    "Destructive commands are dry runs unless --execute.",
    no_args_is_help=True,
)
app.add_typer(table_app, name="table")

EXIT_TAMPERED = 3
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(exc: HeadwaterError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    raise typer.Exit(2 if isinstance(exc, ConfigError | BadRequestError) else 1)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(exc)


def cli_actor() -> str:
    """The audit actor of a command: the operating-system user who ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return f"cli:uid-{os.getuid()}"


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def migrated_database(settings: Settings) -> Database:
    """The metadata DB, refusing one without the latest migrations (as ``serve`` does)."""
    from headwater.db import Database, ensure_migrated

    try:
        database = Database(settings.resolved_database_url)
        ensure_migrated(database)
    except HeadwaterError as exc:
        fail(exc)
    return database
