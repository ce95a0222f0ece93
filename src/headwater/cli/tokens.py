"""``headwater token``: create (shown once), list, revoke; each audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from headwater import auth
from headwater.cli.common import (
    JsonOption,
    cli_actor,
    console,
    err_console,
    fail,
    migrated_database,
    print_json,
    settings_or_exit,
    token_app,
)
from headwater.errors import BadRequestError, HeadwaterError

DURATION = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w``, or an ISO-8601 date or time (UTC if no zone)."""
    match = DURATION.match(text.strip())
    if match:
        return now + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequestError(
            f"{text!r} is neither a duration like 30d / 12h nor an ISO-8601 date", "--expires"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name to know the token by, e.g. airflow-prod.")],
    role: Annotated[str, typer.Option(help="reader, writer or admin.")] = "reader",
    expires: Annotated[
        str | None, typer.Option(help="Lifetime (30d, 12h) or an ISO-8601 date [default: never].")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    now = datetime.now(UTC)
    try:
        chosen = auth.parse_role(role)
        expires_at = parse_expiry(expires, now) if expires else None
    except HeadwaterError as exc:
        fail(exc)
    database = migrated_database(settings_or_exit())
    try:
        with database.write() as connection:
            token, info = auth.create_token(
                connection, name, chosen, actor=cli_actor(), expires_at=expires_at
            )
    except HeadwaterError as exc:
        fail(exc)
    finally:
        database.dispose()
    if as_json:
        print_json({"token": token, **info.as_json(now)})
        return
    print(token)
    err_console.print(
        f"token {name!r} ({chosen}) created; it is shown only now: store it safely. "
        "Send it as Authorization: Bearer <token> (openlineage-python: auth type api_key).",
        highlight=False,
    )


@token_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List tokens (names, roles, status; never the tokens themselves)."""
    database = migrated_database(settings_or_exit())
    with database.read() as connection:
        tokens = auth.list_tokens(connection)
    database.dispose()
    now = datetime.now(UTC)
    if as_json:
        print_json([t.as_json(now) for t in tokens])
        return
    table = Table("name", "prefix", "role", "status", "created", "by", "expires")
    for t in tokens:
        expiry = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
        created = t.created_at.isoformat(timespec="seconds")
        table.add_row(t.name, t.prefix, t.role, t.status(now), created, t.created_by, expiry)
    console.print(table)


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")], as_json: JsonOption = False
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    database = migrated_database(settings_or_exit())
    try:
        with database.write() as connection:
            info = auth.revoke_token(connection, name, actor=cli_actor())
    except HeadwaterError as exc:
        fail(exc)
    finally:
        database.dispose()
    if as_json:
        print_json(info.as_json(datetime.now(UTC)))
    else:
        console.print(f"token {name!r} revoked at {info.revoked_at}", highlight=False)
