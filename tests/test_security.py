"""Safe defaults: loopback-only without auth, security headers, CORS allow-list, body limits,
and secrets that never reach logs, error messages or the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from headwater import audit
from headwater.config import load_settings
from headwater.db import Database
from headwater.errors import ConfigError
from headwater.server import check_bind, create_app, record_configuration
from tests.conftest import Backend, free_port, running_server
from tests.test_cli import headwater

SEED = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_are_served_without_auth(host: str) -> None:
    assert check_bind(load_settings(host=host), insecure=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "lineage.example.com"])
def test_other_addresses_need_auth_or_an_explicit_insecure_flag(host: str) -> None:
    with pytest.raises(ConfigError, match="HEADWATER_AUTH_ENABLED"):
        check_bind(load_settings(host=host), insecure=False)
    warning = check_bind(load_settings(host=host), insecure=True)
    assert warning is not None and "--insecure" in warning
    assert check_bind(load_settings(host=host, auth_enabled=True), insecure=False) is None


def test_serve_refuses_a_public_address_without_auth_before_binding(tmp_path: Path) -> None:
    env = {"HEADWATER_HOME": str(tmp_path)}
    assert headwater("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    result = headwater(
        "serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "not a loopback address and auth is off" in result.stderr
    assert "--insecure" in result.stderr


@pytest.mark.parametrize(
    ("origins", "message"),
    [(["*"], "'*' is refused"), (["lineage.example.com"], "is not an origin")],
)
def test_cors_origins_must_be_listed_origins(origins: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(cors_origins=origins)


@pytest.fixture
def guarded(backend: Backend, database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        database_url=backend.url,
        home=tmp_path,
        max_body_bytes=1000,
        cors_origins=["https://lineage.example.com"],
    )
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as client:
        yield client


def test_every_answer_carries_security_headers(guarded: TestClient) -> None:
    for response in (guarded.get("/api/v1/namespaces"), guarded.get("/api/v1/nothing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    docs = guarded.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["X-Frame-Options"] == "DENY"
    # Swagger UI is headwater's own copy, started inline: inline code, but no other origin.
    policy = docs.headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy and "default-src 'self'" in policy
    assert "http" not in policy and "*" not in policy


def test_cors_answers_only_listed_origins(guarded: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = guarded.options(
        "/api/v1/lineage", headers={"Origin": "https://lineage.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://lineage.example.com"
    other = guarded.options(
        "/api/v1/lineage", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    plain = guarded.get("/api/v1/namespaces", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_no_cors_by_default(client: TestClient) -> None:
    response = client.get("/api/v1/namespaces", headers={"Origin": "https://lineage.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_bodies_over_the_limit_are_413_on_every_route(guarded: TestClient) -> None:
    big = b'{"ownerName": "' + b"x" * 2000 + b'"}'
    declared = guarded.put("/api/v1/namespaces/shop", content=big)
    assert declared.status_code == 413, declared.text
    assert "1000-byte limit" in declared.json()["message"]

    def chunks() -> Iterator[bytes]:
        yield big[:600]
        yield big[600:]

    streamed = guarded.put("/api/v1/namespaces/shop", content=chunks())
    assert streamed.status_code == 413, streamed.text
    assert guarded.get("/api/v1/namespaces/shop").status_code == 404  # nothing half-written


def test_configuration_changes_are_audited_without_secrets(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    first = load_settings(database_url=backend.url, home=tmp_path, audit_signing_key=SEED)
    assert record_configuration(database, first, "cli:tester")
    assert not record_configuration(database, first, "cli:tester")  # unchanged: no entry
    changed = load_settings(
        database_url=backend.url, home=tmp_path, audit_signing_key=SEED, port=5001
    )
    assert record_configuration(database, changed, "cli:tester")
    with database.read() as connection:
        entries, total = audit.list_entries(connection, action="config.change")
    assert total == 2
    assert json.loads(entries[0].details)["changed"] == {"port": [5000, 5001]}
    assert all(SEED not in e.details for e in entries)


@pytest.mark.slow
def test_secrets_never_reach_logs_errors_or_the_audit_log(backend: Backend, tmp_path: Path) -> None:
    """A server with a signing key, a database password (PostgreSQL) and tokens in play: none
    of them appears in its log, its answers or the audit log."""
    url = make_url(backend.url)
    password = "pg-pass-Zq81"
    if backend.name == "postgresql":  # trust auth accepts any password; it must not leak
        backend = Backend(backend.name, url.set(password=password).render_as_string(False))
    database = Database(backend.url)
    from headwater import auth

    with database.write() as connection:
        token, _ = auth.create_token(connection, "ci", auth.Role.READER, actor="cli:tester")
    database.dispose()
    wrong = "hw_" + "w" * 43
    env = {
        "HEADWATER_AUTH_ENABLED": "true",
        "HEADWATER_AUDIT_SIGNING_KEY": SEED,
        "HEADWATER_LOG_LEVEL": "debug",
    }
    answers = []
    with running_server(backend, tmp_path, env) as server:
        for headers in ({"Authorization": f"Bearer {wrong}"}, {"Authorization": f"Basic {wrong}"}):
            answers.append(httpx.get(f"{server.url}/api/v1/namespaces", headers=headers).text)
        good = {"Authorization": f"Bearer {token}"}
        answers.append(httpx.get(f"{server.url}/api/v1/nothing", headers=good).text)
        answers.append(httpx.get(f"{server.url}/api/v1/audit/checkpoint").text)
        answers.append(
            httpx.get(f"{server.url}/api/v1/audit", params={"limit": 1000}, headers=good).text
        )
        everything = answers[-1]
    assert '"config.change"' in everything and '"auth.denied"' in everything
    seen = "\n".join([*answers, server.log.read_text()])
    for secret in (SEED, token, wrong, password):
        assert secret not in seen
