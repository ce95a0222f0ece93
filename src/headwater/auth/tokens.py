"""API tokens: created, listed, revoked, and checked on every request.

A token is ``hw_`` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256 is
stored: tokens are random, not chosen by people, so a slow password hash would add nothing
but latency to every request; a stolen database yields no usable token. The plain token is
shown once, when created. Creating and revoking are audited in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from headwater import audit
from headwater.db.schema import api_tokens
from headwater.errors import BadRequestError, NotFoundError, UnauthorizedError

TOKEN_PREFIX = "hw_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


class Role(StrEnum):
    """What a token may do; each role may do everything the ones before it may."""

    READER = "reader"  # GET
    WRITER = "writer"  # lineage and ingest writes, tags
    ADMIN = "admin"  # deletes, maintenance, tokens, retention

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a token's name and role, or the anonymous embedded user."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.name}" if self.name != ANONYMOUS.name else self.name


# Auth disabled (embedded, loopback only): every request acts as this admin.
ANONYMOUS = Principal("anonymous", Role.ADMIN)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    prefix: str
    role: Role
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_json(self, now: datetime) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "name": self.name,
            "prefix": self.prefix,
            "role": str(self.role),
            "status": self.status(now),
            "createdAt": when(self.created_at),
            "createdBy": self.created_by,
            "expiresAt": when(self.expires_at),
            "revokedAt": when(self.revoked_at),
            "revokedBy": self.revoked_by,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        row.name,
        row.prefix,
        Role(row.role),
        row.created_at,
        row.created_by,
        row.expires_at,
        row.revoked_at,
        row.revoked_by,
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise BadRequestError(f"must be one of {choices}, not {value!r}", "role") from None


def create_token(
    connection: Connection,
    name: str,
    role: Role,
    *,
    actor: str,
    expires_at: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """A new token named ``name``: (the plain token, to show once; what is stored)."""
    if not NAME.match(name):
        raise BadRequestError(
            "must be 1-128 letters, digits or _.@- and start with a letter or digit", "name"
        )
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise BadRequestError("must be in the future", "expires")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row: dict[str, Any] = {
        "name": name,
        "token_hash": hash_token(token),
        "prefix": token[:10],
        "role": str(role),
        "created_at": now,
        "created_by": actor,
        "expires_at": expires_at,
    }
    try:
        with connection.begin_nested():
            connection.execute(api_tokens.insert(), row)
    except IntegrityError:
        raise BadRequestError(f"a token named {name!r} exists already", "name") from None
    details = {"role": str(role), "prefix": row["prefix"]}
    if expires_at is not None:
        details["expiresAt"] = expires_at.isoformat()
    audit.append(connection, audit.AuditRecord("token.create", f"token:{name}", actor, details))
    info = TokenInfo(name, row["prefix"], role, now, actor, expires_at, None, None)
    return token, info


def list_tokens(connection: Connection) -> list[TokenInfo]:
    return [_info(row) for row in connection.execute(select(api_tokens).order_by(api_tokens.c.id))]


def revoke_token(connection: Connection, name: str, *, actor: str) -> TokenInfo:
    """Revoke the token ``name`` (again is a no-op that says when it was revoked)."""
    row = connection.execute(select(api_tokens).where(api_tokens.c.name == name)).first()
    if row is None:
        raise NotFoundError("token", name)
    if row.revoked_at is not None:
        return _info(row)
    now = datetime.now(UTC)
    connection.execute(
        update(api_tokens).where(api_tokens.c.id == row.id).values(revoked_at=now, revoked_by=actor)
    )
    audit.append(
        connection,
        audit.AuditRecord("token.revoke", f"token:{name}", actor, {"prefix": row.prefix}),
    )
    return replace(_info(row), revoked_at=now, revoked_by=actor)


_BY_HASH = select(
    api_tokens.c.name, api_tokens.c.role, api_tokens.c.expires_at, api_tokens.c.revoked_at
).where(api_tokens.c.token_hash == bindparam("token_hash"))


def authenticate(connection: Connection, token: str) -> Principal:
    """The principal ``token`` stands for; `UnauthorizedError` saying why not otherwise."""
    row = connection.execute(_BY_HASH, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise UnauthorizedError("invalid token", "invalid")
    if row.revoked_at is not None:
        raise UnauthorizedError(f"token {row.name!r} was revoked", "revoked")
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        raise UnauthorizedError(f"token {row.name!r} expired", "expired")
    return Principal(row.name, Role(row.role))
