"""Access control for every request: one rule per route, checked before the route runs.

Rules are keyed by (method, route path template), e.g. ``("DELETE",
"/api/v1/namespaces/{namespace}/datasets/{dataset}")``, and say which role a request needs, or
that the route is public (health, the audit checkpoint) or authenticates by a signature of its
own (webhooks). A route that has no rule is refused with 403 whatever the token, so a new
route cannot be left open by forgetting it; the route-table test fails on it too.

With auth disabled (the embedded default, which the server only allows on a loopback address)
every request acts as the anonymous admin. Every refusal (401 or 403) is counted in
``headwater_auth_denied_total`` and written to the audit log, never with the token presented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from fastapi import Request
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from headwater import audit
from headwater.auth.tokens import ANONYMOUS, Principal, Role, authenticate
from headwater.db import Database
from headwater.errors import ForbiddenError, UnauthorizedError

log = logging.getLogger("headwater.auth")

DENIED = Counter(
    "headwater_auth_denied_total",
    "Requests refused by access control, by HTTP status and reason.",
    ["status", "reason"],
)


class Open(StrEnum):
    PUBLIC = "public"  # anyone, no token
    SIGNED = "signed"  # the route checks the request's signature itself (webhooks)


Access = Role | Open
Rules = Mapping[tuple[str, str], Access]


# The UI's sign-in cookie (HttpOnly, SameSite=Strict), set by POST /login.
TOKEN_COOKIE = "headwater_token"


def authenticate_token(database: Database, token: str) -> Principal:
    """The principal ``token`` stands for; `UnauthorizedError` saying why not otherwise."""
    with database.read() as connection:
        return authenticate(connection, token)


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 when there is none."""
    if header is None:
        raise UnauthorizedError("missing Authorization: Bearer <token>", "missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Authorization must be Bearer <token>", "malformed")
    return token.strip()


def actor_of(scope_state: Any) -> str:
    """The audit actor of a request (``request.state``): its token, or ``anonymous``."""
    principal: Principal = getattr(scope_state, "principal", ANONYMOUS)
    return principal.actor


class AccessControl:
    """The app-wide dependency applying `Rules`: ``FastAPI(dependencies=[Depends(it)])``.

    It runs once routing has chosen the route, so it keys on the route's own path template;
    it sets ``request.state.principal`` for the route (and the audit actor).
    """

    def __init__(self, *, rules: Rules, database: Database, enabled: bool) -> None:
        self.rules = rules
        self.database = database
        self.enabled = enabled

    async def __call__(self, request: Request) -> None:
        route = request.scope.get("route")
        template = str(getattr(route, "path", request.url.path))
        method = "GET" if request.method == "HEAD" else request.method
        try:
            request.state.principal = await self._principal(request, method, template)
        except (UnauthorizedError, ForbiddenError) as exc:
            await self._deny(request, method, template, exc)
            raise

    async def _principal(self, request: Request, method: str, template: str) -> Principal:
        rule = self.rules.get((method, template))
        if rule is None:
            log.error("no access rule for %s %s: refused", method, template)
            raise ForbiddenError(f"no access rule for {method} {template}", "no-rule")
        if not self.enabled or isinstance(rule, Open):
            return ANONYMOUS
        header = request.headers.get("authorization")
        cookie = request.cookies.get(TOKEN_COOKIE)
        # A browser signed in to the UI sends its token as a cookie. It counts for reads only:
        # a page elsewhere can make a browser send a cookie with a form post, never a header.
        token = cookie if header is None and cookie and method == "GET" else bearer_token(header)
        principal = await run_in_threadpool(self._authenticate, token)
        if not principal.role.allows(rule):
            request.state.principal = principal  # the refusal's actor
            raise ForbiddenError(
                f"token {principal.name!r} has role {principal.role}; "
                f"{method} {template} needs {rule}",
            )
        return principal

    def _authenticate(self, token: str) -> Principal:
        return authenticate_token(self.database, token)

    async def _deny(
        self,
        request: Request,
        method: str,
        template: str,
        exc: UnauthorizedError | ForbiddenError,
    ) -> None:
        DENIED.labels(str(exc.status), exc.reason).inc()
        record = audit.AuditRecord(
            "auth.denied",
            f"route:{method} {template}",
            actor_of(request.state),
            {
                "status": exc.status,
                "reason": exc.reason,
                # As sent: the decoded path carries routing placeholders for encoded slashes.
                "path": request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
                "client": request.client.host if request.client else None,
            },
        )
        try:
            await run_in_threadpool(self._record, record)
        except Exception as failure:  # the refusal stands even when it cannot be recorded
            log.error("could not audit a refused request: %s", type(failure).__name__)

    def _record(self, record: audit.AuditRecord) -> None:
        with self.database.write() as connection:
            audit.append(connection, record)
