"""The root command and the database and server commands."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from headwater import __version__, logs
from headwater.cli.common import (
    app,
    cli_actor,
    console,
    db_app,
    err_console,
    fail,
    settings_or_exit,
)
from headwater.errors import HeadwaterError


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"headwater {__version__}")
        raise typer.Exit()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the metadata database migrations (safe to run again)."""
    from headwater.db import Database, current_revision, upgrade

    settings = settings_or_exit()
    try:
        database = Database(settings.resolved_database_url)
        before = current_revision(database)
        upgrade(database)
        after = current_revision(database)
    except HeadwaterError as exc:
        fail(exc)
    url = database.write_engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"{url}: already at revision {after}")
    else:
        console.print(f"{url}: upgraded {before or 'empty'} -> {after}")
    database.dispose()


@db_app.command("status")
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the database URL and whether migrations are applied (exit 1 if not)."""
    import json

    from headwater.db import Database, current_revision, head_revision

    settings = settings_or_exit()
    try:
        database = Database(settings.resolved_database_url)
        current = current_revision(database)
    except HeadwaterError as exc:
        fail(exc)
    head = head_revision()
    url = database.write_engine.url.render_as_string(hide_password=True)
    if as_json:
        print(json.dumps({"url": url, "current": current, "head": head, "ready": current == head}))
    else:
        table = Table("database", "current revision", "latest revision", "ready")
        table.add_row(url, current or "-", head, "yes" if current == head else "no")
        console.print(table)
    database.dispose()
    if current != head:
        raise typer.Exit(1)


@db_app.command("app-role")
def db_app_role(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the servers connect as.")],
    schema: Annotated[str, typer.Option(help="The schema headwater's tables are in.")] = "public",
    execute: Annotated[
        bool, typer.Option("--execute", help="Run the statements (as the tables' owner).")
    ] = False,
) -> None:
    """Print (or with --execute, run) the grants that let ROLE use headwater on PostgreSQL
    without the right to change or delete audit entries (docs/security.md)."""
    from headwater import audit
    from headwater.db import Database, app_role_statements
    from headwater.errors import BadRequestError

    settings = settings_or_exit()
    database = Database(settings.resolved_database_url)
    if database.backend != "postgresql":
        fail(BadRequestError("app roles are a PostgreSQL feature", "HEADWATER_DATABASE_URL"))
    statements = app_role_statements(database.write_engine.dialect, role, schema)
    if not execute:
        console.print("\n".join(f"{s};" for s in statements), highlight=False, soft_wrap=True)
        err_console.print("dry run: add --execute to run these as the owner", highlight=False)
        return
    details = {"role": role, "schema": schema, "statements": statements}
    try:
        with database.write() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
            audit.append(
                connection, audit.AuditRecord("db.grant", f"role:{role}", cli_actor(), details)
            )
    except Exception as exc:  # the driver's message names the missing role or privilege
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        fail(BadRequestError(reason, "role"))
    finally:
        database.dispose()
    console.print(f"granted {role} the application privileges on {schema}", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [default: 5000].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes, e.g. one per core [default: 1].")
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Serve a non-loopback address without auth (prints a warning)."
        ),
    ] = False,
) -> None:
    """Run the API server and the web UI at / (refuses an un-migrated database, and a
    non-loopback address without auth unless --insecure)."""
    import uvicorn

    from headwater.server import (
        check_bind,
        create_app,
        record_configuration,
        tune_garbage_collector,
    )

    settings = settings_or_exit(host=host, port=port, workers=workers)
    logs.configure(settings)
    try:
        warning = check_bind(settings, insecure=insecure)
        application = create_app(settings)  # also checks the database before forking
        record_configuration(application.state.database, settings, cli_actor())
    except HeadwaterError as exc:
        fail(exc)
    if warning:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if settings.workers == 1:
        tune_garbage_collector()
        uvicorn.run(
            application,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=None,  # headwater.logs has configured every logger
        )
        return
    # Worker processes build their own app from the environment: pass the CLI's choices on.
    os.environ["HEADWATER_HOST"], os.environ["HEADWATER_PORT"] = settings.host, str(settings.port)
    uvicorn.run(
        "headwater.server:app_from_environment",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # each worker configures its own (server.app_from_environment)
    )
