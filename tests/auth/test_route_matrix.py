"""Every route, for every kind of caller, gives the status its access rule calls for.

The routes come from the app itself (its OpenAPI paths and its top-level Starlette routes), not
from ``ROUTE_RULES``, so a route added without a rule fails here: the coverage test lists it,
and its row of the matrix fails. With auth enabled:

* a public route answers everyone, whatever token they present, with neither 401 nor 403;
* a protected route answers a caller with no token, an unknown token, an expired token or a
  revoked one with 401, ``WWW-Authenticate: Bearer`` and the Marquez error body
  ``{"code": 401, "message": ...}`` saying why;
* a valid token whose role is below the rule (reader < writer < admin) gets 403;
* a valid token at or above the rule gets anything but 401, 403 or a server error;
* every refusal is in the audit log with its status and reason, never with the token.

With auth disabled (the embedded default) every request acts as the anonymous admin.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.routing import Route

from headwater.access_rules import ROUTE_RULES
from headwater.auth import Open, Role, create_token, revoke_token
from headwater.config import load_settings
from headwater.db import Database, upgrade
from headwater.db.schema import api_tokens
from headwater.server import create_app
from tests.conftest import Backend

Endpoint = tuple[str, str]  # (method, path template)

HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"}
RUN_ID = "33333333-3333-4333-8333-333333333333"
VERSION = "44444444-4444-4444-8444-444444444444"

# Plausible values for path parameters; a parameter not listed here gets "x".
PATH_VALUES = {
    "namespace": "shop",
    "dataset": "orders",
    "job": "etl",
    "run_id": RUN_ID,
    "version": VERSION,
    "tag": "pii",
    "field": "id",
    "source": "src",
}
# Query strings that let a route with required parameters actually run for allowed callers.
QUERIES = {
    ("GET", "/api/v1/lineage"): {"nodeId": "dataset:shop:orders"},
    ("GET", "/api/v1/column-lineage"): {"nodeId": "dataset:shop:orders"},
    ("GET", "/api/v1/search"): {"q": "orders"},
    ("GET", "/api/v1/audit/proof/inclusion"): {"seq": "1"},
    ("GET", "/api/v1/audit/proof/consistency"): {"first": "1"},
    ("GET", "/api/v1/audit/history"): {"target": "dataset:shop:orders"},
}
# Harmless bodies; POST and PUT routes not listed get ``{}`` (an invalid lineage event, which
# an allowed caller must see refused with 400, not 401 or 403).
BODIES: dict[Endpoint, Any] = {
    ("PUT", "/api/v1/namespaces/{namespace}"): {"ownerName": "me"},
    ("POST", "/api/v1/lineage/batch"): [],
}
PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
# The role order, written out here rather than taken from `Role.allows`, which is under test.
RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


def may(role: Role, rule: Role) -> bool:
    """Whether a token with ``role`` may use a route that needs ``rule``."""
    return RANK[role] >= RANK[rule]


def routes_of(app: FastAPI) -> set[Endpoint]:
    """Every (method, path template) ``app`` serves.

    Every API route is in the OpenAPI description (the routes of included routers are not
    reachable otherwise through public attributes); the API description's own routes
    (``/openapi.json``, ``/docs``...) are plain Starlette routes at the top of the route table.
    HEAD, which Starlette adds beside the GET of each of those, is left out.
    """
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in HTTP_METHODS
    }
    for route in app.router.routes:
        if isinstance(route, Route):
            served |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return served


@cache
def served_routes() -> list[Endpoint]:
    """The route table of an app built on a scratch database, to parametrise the matrix."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'routes.db'}"
        database = Database(url)
        try:
            upgrade(database)
            settings = load_settings(database_url=url, home=Path(scratch), auth_enabled=True)
            return sorted(routes_of(create_app(settings, database)), key=lambda e: (e[1], e[0]))
        finally:
            database.dispose()


def url_of(endpoint: Endpoint) -> str:
    """A concrete URL for ``endpoint``: plausible path parameters, and required queries."""
    path = PARAMETER.sub(lambda m: PATH_VALUES.get(m.group(1), "x"), endpoint[1])
    query = QUERIES.get(endpoint)
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


@dataclass(frozen=True)
class Caller:
    """Who sends a request: ``role`` for a valid token, ``refusal`` (the reason word the 401
    must give) for none or a token that does not authenticate."""

    label: str
    token: str | None
    role: Role | None = None
    refusal: str | None = None
    name: str | None = None  # the valid token's name, which refusals are audited under

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    client: TestClient
    callers: list[Caller]

    @property
    def admin(self) -> Caller:
        return next(c for c in self.callers if c.role is Role.ADMIN)

    def send(self, endpoint: Endpoint, caller: Caller) -> Any:
        method = endpoint[0]
        body = BODIES.get(endpoint, {} if method in ("POST", "PUT") else None)
        return self.client.request(method, url_of(endpoint), json=body, headers=caller.headers)


@pytest.fixture
def world(backend: Backend, database: Database, tmp_path: Path) -> Iterator[World]:
    """The app with auth enabled on ``backend``, and one caller of each kind.

    Token names say nothing of their state, so that a 401 message naming the token cannot
    pass for one saying why it was refused.
    """
    settings = load_settings(database_url=backend.url, home=tmp_path, auth_enabled=True)
    app = create_app(settings, database)
    with database.write() as connection:
        reader, _ = create_token(connection, "matrix-r", Role.READER, actor="test")
        writer, _ = create_token(connection, "matrix-w", Role.WRITER, actor="test")
        admin, _ = create_token(connection, "matrix-a", Role.ADMIN, actor="test")
        soon = datetime.now(UTC) + timedelta(hours=1)
        lapsed, _ = create_token(connection, "matrix-x", Role.ADMIN, actor="test", expires_at=soon)
        withdrawn, _ = create_token(connection, "matrix-y", Role.ADMIN, actor="test")
    with database.write() as connection:
        past = datetime.now(UTC) - timedelta(minutes=1)
        connection.execute(
            update(api_tokens).where(api_tokens.c.name == "matrix-x").values(expires_at=past)
        )
        revoke_token(connection, "matrix-y", actor="test")
    callers = [
        Caller("no token", None, refusal="missing"),
        Caller("bad token", "hw_" + uuid.uuid4().hex + "0123456789a", refusal="invalid"),
        Caller("expired token", lapsed, refusal="expired"),
        Caller("revoked token", withdrawn, refusal="revoked"),
        Caller("reader", reader, role=Role.READER, name="matrix-r"),
        Caller("writer", writer, role=Role.WRITER, name="matrix-w"),
        Caller("admin", admin, role=Role.ADMIN, name="matrix-a"),
    ]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(client, callers)


def problems_of(endpoint: Endpoint, caller: Caller, response: Any) -> list[str]:
    """What is wrong with ``response`` to ``caller`` on ``endpoint`` (empty when right)."""
    rule = ROUTE_RULES[endpoint]
    where = f"{endpoint[0]} {endpoint[1]} as {caller.label}"
    status = response.status_code
    answer = f"{status} {response.text[:300]}"
    if status >= 500:
        return [f"{where}: server error {answer}"]
    if isinstance(rule, Open):
        return [f"{where}: public route refused: {answer}"] if status in (401, 403) else []
    if caller.role is None:
        problems = error_problems(where, response, 401)
        if response.headers.get("www-authenticate") != "Bearer":
            problems.append(
                f"{where}: WWW-Authenticate is {response.headers.get('www-authenticate')!r}"
            )
        if not problems and caller.refusal not in response.json()["message"]:
            problems.append(f"{where}: message does not say {caller.refusal!r}: {answer}")
        return problems
    if not may(caller.role, rule):
        return error_problems(where, response, 403)
    return [f"{where}: {rule} route refused: {answer}"] if status in (401, 403) else []


def error_problems(where: str, response: Any, status: int) -> list[str]:
    """What keeps ``response`` from being Marquez's ``status`` error body."""
    if response.status_code != status:
        return [f"{where}: status {response.status_code}, wanted {status}: {response.text[:300]}"]
    body = response.json()
    if not isinstance(body, dict) or set(body) != {"code", "message"} or body["code"] != status:
        return [f"{where}: body {body!r} is not {{code: {status}, message}}"]
    if not isinstance(body["message"], str) or not body["message"]:
        return [f"{where}: empty message"]
    return []


def test_every_route_has_a_rule_and_every_rule_a_route(world: World) -> None:
    """``ROUTE_RULES`` lists exactly the routes the app serves: none missing, none stale."""
    app = world.client.app
    assert isinstance(app, FastAPI)
    served = routes_of(app)
    missing = sorted(served - ROUTE_RULES.keys(), key=lambda e: (e[1], e[0]))
    stale = sorted(ROUTE_RULES.keys() - served, key=lambda e: (e[1], e[0]))
    assert not missing, "routes without a rule in ROUTE_RULES: " + ", ".join(
        f"{m} {p}" for m, p in missing
    )
    assert not stale, "rules naming no served route: " + ", ".join(f"{m} {p}" for m, p in stale)
    assert served == set(served_routes()), "the app's routes differ between backends"


@pytest.mark.parametrize("endpoint", served_routes(), ids=lambda e: f"{e[0]} {e[1]}")
def test_route_answers_each_caller_as_its_rule_says(world: World, endpoint: Endpoint) -> None:
    """Public: nobody is refused. Protected: no/bad/expired/revoked token → 401 saying why;
    a role below the rule → 403; at or above it → neither. Refusals are audited without the
    token; nothing is a server error."""
    if endpoint not in ROUTE_RULES:
        pytest.fail(f"{endpoint[0]} {endpoint[1]} has no rule in ROUTE_RULES")
    problems: list[str] = []
    for caller in world.callers:
        problems += problems_of(endpoint, caller, world.send(endpoint, caller))
    problems += audit_problems(world, endpoint)
    assert not problems, "\n".join(problems)


def audit_problems(world: World, endpoint: Endpoint) -> list[str]:
    """Each refusal on ``endpoint`` is one ``auth.denied`` entry with status, reason and the
    refused caller's actor; no audit answer holds any presented token."""
    admin = world.admin.headers
    denied = world.client.get("/api/v1/audit?action=auth.denied&limit=1000", headers=admin)
    everything = world.client.get("/api/v1/audit?limit=10000", headers=admin)
    if denied.status_code != 200 or everything.status_code != 200:
        return [f"audit log unreadable: {denied.status_code} {everything.status_code}"]
    problems = [
        f"audit answer holds the {caller.label}'s token"
        for caller in world.callers
        if caller.token is not None
        and (caller.token in denied.text or caller.token in everything.text)
    ]
    target = f"route:{endpoint[0]} {endpoint[1]}"
    entries = [e for e in orjson.loads(denied.content)["entries"] if e["target"] == target]
    found = sorted((e["details"]["status"], e["details"]["reason"], e["actor"]) for e in entries)
    rule = ROUTE_RULES[endpoint]
    wanted: list[tuple[int, str, str]] = []
    if not isinstance(rule, Open):
        for caller in world.callers:
            if caller.refusal is not None:
                wanted.append((401, caller.refusal, "anonymous"))
            elif caller.role is not None and not may(caller.role, rule):
                wanted.append((403, "role", f"token:{caller.name}"))
    if found != sorted(wanted):
        problems.append(f"{target}: audited refusals {found}, wanted {sorted(wanted)}")
    problems += [
        f"{target}: entry {e['seq']} details lack the request path: {e['details']}"
        for e in entries
        if e["details"].get("path") != url_of(endpoint).split("?")[0]
    ]
    return problems


def test_a_route_without_a_rule_is_refused_and_flagged(world: World) -> None:
    """A route nobody wrote a rule for is refused with 403 even to an admin, and the route
    table the coverage test reads lists it."""
    app = world.client.app
    assert isinstance(app, FastAPI)

    @app.get("/api/v1/unlisted")
    def unlisted() -> dict[str, str]:
        return {"open": "no"}

    assert ("GET", "/api/v1/unlisted") in routes_of(app) - ROUTE_RULES.keys()
    response = world.client.get("/api/v1/unlisted", headers=world.admin.headers)
    assert error_problems("GET /api/v1/unlisted as admin", response, 403) == []
    assert "no access rule" in response.json()["message"]


def test_with_auth_disabled_every_request_is_the_anonymous_admin(client: TestClient) -> None:
    """Auth off (the default): protected routes answer without a token, and a token sent
    anyway is not even looked at; what a request changes is audited as ``anonymous``."""
    assert client.get("/api/v1/namespaces").status_code == 200
    bogus = {"Authorization": "Bearer hw_not-a-token"}
    assert client.get("/api/v1/namespaces", headers=bogus).status_code == 200
    put = client.put("/api/v1/namespaces/shop", json={"ownerName": "me"})
    assert put.status_code == 200, put.text
    deleted = client.delete("/api/v1/namespaces/shop")
    assert deleted.status_code == 200, deleted.text
    log = client.get("/api/v1/audit?action=namespace").json()["entries"]
    assert {(e["action"], e["actor"]) for e in log} == {
        ("namespace.put", "anonymous"),
        ("namespace.delete", "anonymous"),
    }
    denied = client.get("/api/v1/audit?action=auth.denied").json()
    assert denied["totalCount"] == 0
