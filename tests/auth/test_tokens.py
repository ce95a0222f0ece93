"""API tokens: stored only as hashes, shown once, expiring, revocable, and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from headwater import audit, auth
from headwater.auth.tokens import authenticate, hash_token
from headwater.db import Database
from headwater.db.schema import api_tokens
from headwater.errors import BadRequestError, NotFoundError, UnauthorizedError


def create(
    database: Database, name: str, role: auth.Role, expires_at: datetime | None = None
) -> str:
    with database.write() as connection:
        token, _ = auth.create_token(
            connection, name, role, actor="cli:tester", expires_at=expires_at
        )
    return token


def who(database: Database, token: str) -> auth.Principal:
    with database.read() as connection:
        return authenticate(connection, token)


def test_a_token_is_stored_only_as_its_sha256(database: Database) -> None:
    token = create(database, "airflow", auth.Role.WRITER)
    assert token.startswith("hw_") and len(token) > 40
    with database.read() as connection:
        [row] = connection.execute(select(api_tokens)).all()
    assert row.token_hash == hash_token(token)
    assert token not in str(tuple(row))
    assert row.prefix == token[:10]


def test_a_token_authenticates_as_its_name_and_role(database: Database) -> None:
    token = create(database, "airflow", auth.Role.WRITER)
    assert who(database, token) == auth.Principal("airflow", auth.Role.WRITER)
    assert who(database, token).actor == "token:airflow"


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("reader", "reader", True),
        ("reader", "writer", False),
        ("writer", "writer", True),
        ("writer", "admin", False),
        ("admin", "reader", True),
        ("admin", "admin", True),
    ],
)
def test_roles_are_ordered_reader_writer_admin(role: str, needed: str, allowed: bool) -> None:
    assert auth.Role(role).allows(auth.Role(needed)) is allowed


def test_an_unknown_token_is_invalid(database: Database) -> None:
    create(database, "airflow", auth.Role.READER)
    with pytest.raises(UnauthorizedError, match="invalid"):
        who(database, "hw_not-a-token")


def test_an_expired_token_is_refused_as_expired(database: Database) -> None:
    token = create(database, "short", auth.Role.READER, datetime.now(UTC) + timedelta(hours=1))
    with database.write() as connection:
        connection.execute(
            api_tokens.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with pytest.raises(UnauthorizedError, match="expired"):
        who(database, token)
    with database.read() as connection:
        [info] = auth.list_tokens(connection)
    assert info.status(datetime.now(UTC)) == "expired"


def test_a_revoked_token_is_refused_and_revoking_again_changes_nothing(
    database: Database,
) -> None:
    token = create(database, "old", auth.Role.ADMIN)
    with database.write() as connection:
        first = auth.revoke_token(connection, "old", actor="cli:tester")
    with database.write() as connection:
        again = auth.revoke_token(connection, "old", actor="cli:someone")
    assert again.revoked_at == first.revoked_at
    assert again.revoked_by == "cli:tester"
    with pytest.raises(UnauthorizedError, match="revoked"):
        who(database, token)


def test_creating_and_revoking_are_audited_without_the_token(database: Database) -> None:
    token = create(database, "ci", auth.Role.WRITER)
    with database.write() as connection:
        auth.revoke_token(connection, "ci", actor="cli:tester")
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, newest_first=False)
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("token.create", "token:ci", "cli:tester"),
        ("token.revoke", "token:ci", "cli:tester"),
    ]
    assert all(token not in e.details and token[10:] not in e.details for e in entries)


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 129, "ünïcode"])
def test_a_bad_name_is_refused_naming_the_field(database: Database, name: str) -> None:
    with pytest.raises(BadRequestError, match=r"^name:"):
        create(database, name, auth.Role.READER)


def test_a_duplicate_name_is_refused_and_stores_nothing_more(database: Database) -> None:
    create(database, "twice", auth.Role.READER)
    with pytest.raises(BadRequestError, match="exists already"):
        create(database, "twice", auth.Role.ADMIN)
    with database.read() as connection:
        assert len(auth.list_tokens(connection)) == 1
        assert audit.log_size(connection) == 1


def test_an_expiry_in_the_past_is_refused(database: Database) -> None:
    with pytest.raises(BadRequestError, match=r"^expires:"):
        create(database, "late", auth.Role.READER, datetime.now(UTC) - timedelta(minutes=1))


def test_revoking_an_unknown_token_is_not_found(database: Database) -> None:
    with pytest.raises(NotFoundError), database.write() as connection:
        auth.revoke_token(connection, "ghost", actor="cli:tester")


def test_an_unknown_role_names_the_choices() -> None:
    with pytest.raises(BadRequestError, match="reader, writer, admin"):
        auth.parse_role("owner")
