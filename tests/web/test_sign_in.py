"""Signing in to the UI when auth is on, on SQLite and PostgreSQL.

Specification: a browser asking for a page without a token is sent to the sign-in page, which
sends it back; an API client still gets its 401. A good token is kept in an HttpOnly,
SameSite=Strict cookie that then lets the browser read pages and the API, and never write; a
bad or empty one is refused with the reason and sets nothing. Sign-in only sends back to this
server's own paths. Signing out forgets the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headwater.auth import TOKEN_COOKIE, Role, create_token
from headwater.config import load_settings
from headwater.db import Database
from headwater.server import create_app
from tests.conftest import Backend
from tests.lineage.events_factory import run_event

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def guarded(backend: Backend, database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(database_url=backend.url, home=tmp_path, auth_enabled=True)
    app = create_app(settings, database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def token(database: Database, role: Role) -> str:
    with database.write() as connection:
        plain, _ = create_token(connection, f"ui-{role}", role, actor="test")
    return plain


def test_a_browser_is_asked_to_sign_in_and_an_api_client_gets_401(guarded: TestClient) -> None:
    answer = guarded.get("/jobs?namespace=shop", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fjobs%3Fnamespace%3Dshop"
    assert guarded.get(answer.headers["location"]).status_code == 200
    api = guarded.get("/jobs")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"] == "Bearer"


def test_a_good_token_is_kept_in_a_strict_http_only_cookie_and_reads(
    guarded: TestClient, database: Database
) -> None:
    answer = guarded.post(
        "/login", data={"token": token(database, Role.READER), "next": "/jobs?namespace=shop"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs?namespace=shop"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert guarded.get("/jobs", headers=HTML).status_code == 200
    assert "Sign out" in guarded.get("/", headers=HTML).text
    # What the explorer fetches in the browser.
    assert guarded.get("/api/v1/namespaces").status_code == 200


def test_the_cookie_never_writes(guarded: TestClient, database: Database) -> None:
    guarded.post("/login", data={"token": token(database, Role.WRITER)})
    assert guarded.cookies.get(TOKEN_COOKIE)
    sent = guarded.post("/api/v1/lineage", json=run_event("START"))
    assert sent.status_code == 401  # a form elsewhere could make a browser send the cookie


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({}, 400, "token: paste an API token"),
        ({"token": "   "}, 400, "token: paste an API token"),
        ({"token": "hw_not-a-real-token"}, 401, "token: invalid token"),
    ],
)
def test_a_bad_or_empty_token_is_refused_with_why_and_sets_nothing(
    guarded: TestClient, form: dict[str, str], status: int, says: str
) -> None:
    answer = guarded.post("/login", data=form)
    assert answer.status_code == status and says in answer.text
    assert "set-cookie" not in answer.headers


def test_sign_in_sends_back_to_this_server_only(guarded: TestClient, database: Database) -> None:
    reader = token(database, Role.READER)
    for target in ["//evil.example/x", "https://evil.example/", "jobs"]:
        answer = guarded.post("/login", data={"token": reader, "next": target})
        assert answer.headers["location"] == "/", target


def test_signing_out_forgets_the_token(guarded: TestClient, database: Database) -> None:
    guarded.post("/login", data={"token": token(database, Role.READER)})
    answer = guarded.post("/logout")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert f'{TOKEN_COOKIE}=""' in answer.headers["set-cookie"]
    assert guarded.get("/jobs", headers=HTML).status_code == 303
