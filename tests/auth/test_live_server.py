"""A real server with auth on, tokens made by the real CLI, events sent by the real
openlineage-python client with an ``api_key`` (which it sends as ``Authorization: Bearer``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.http import HttpConfig, HttpTransport

from headwater import auth
from headwater.db import Database
from tests.conftest import Backend, LiveServer, running_server
from tests.test_cli import headwater

pytestmark = pytest.mark.slow


@pytest.fixture
def secured(backend: Backend, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server with auth enabled, and a token per role."""
    tokens = {}
    database = Database(backend.url)
    for role in auth.Role:
        with database.write() as connection:
            tokens[str(role)], _ = auth.create_token(
                connection, f"{role}-bot", role, actor="cli:tester"
            )
    database.dispose()
    with running_server(backend, tmp_path, {"HEADWATER_AUTH_ENABLED": "true"}) as server:
        yield server, tokens


def client_for(server: LiveServer, api_key: str) -> OpenLineageClient:
    config = {
        "url": server.url,
        "endpoint": "api/v1/lineage",
        "auth": {"type": "api_key", "apiKey": api_key},
        "retry": {"total": 0, "status_forcelist": []},
    }
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))


def event(job: str) -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="shop", name=job),
        producer="https://github.com/headwater/tests/v1",
        outputs=[OutputDataset(namespace="shop", name="orders")],
    )


def test_a_writer_token_sends_lineage_and_the_audit_names_it(
    secured: tuple[LiveServer, dict[str, str]],
) -> None:
    server, tokens = secured
    client_for(server, tokens["writer"]).emit(event("load_orders"))
    reader = {"Authorization": f"Bearer {tokens['reader']}"}
    answer = httpx.get(f"{server.url}/api/v1/audit", params={"action": "lineage"}, headers=reader)
    assert answer.status_code == 200, answer.text
    [entry] = answer.json()["entries"]
    assert (entry["actor"], entry["target"]) == ("token:writer-bot", "job:shop:load_orders")


def test_without_a_good_token_lineage_is_refused_counted_and_audited(
    secured: tuple[LiveServer, dict[str, str]],
) -> None:
    server, tokens = secured
    bad_key = "hw_" + "x" * 43
    with pytest.raises(Exception, match="401"):
        client_for(server, bad_key).emit(event("sneaky"))
    with pytest.raises(Exception, match="403"):
        client_for(server, tokens["reader"]).emit(event("sneaky"))
    assert httpx.post(f"{server.url}/api/v1/lineage", json={}).status_code == 401

    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    metrics = httpx.get(f"{server.url}/metrics", headers=admin).text
    assert 'headwater_auth_denied_total{reason="invalid",status="401"} 1.0' in metrics
    assert 'headwater_auth_denied_total{reason="role",status="403"} 1.0' in metrics
    assert 'headwater_auth_denied_total{reason="missing",status="401"} 1.0' in metrics

    denied = httpx.get(
        f"{server.url}/api/v1/audit", params={"action": "auth.denied"}, headers=admin
    ).json()
    reasons = sorted((e["details"]["status"], e["details"]["reason"]) for e in denied["entries"])
    assert reasons == [(401, "invalid"), (401, "missing"), (403, "role")]
    assert {e["target"] for e in denied["entries"]} == {"route:POST /api/v1/lineage"}
    assert "token:reader-bot" in {e["actor"] for e in denied["entries"]}
    everything = httpx.get(f"{server.url}/api/v1/audit", headers=admin).text
    for secret in (bad_key, *tokens.values()):
        assert secret not in everything
        assert secret not in server.log.read_text()


def test_a_revoked_token_stops_working_at_once(
    secured: tuple[LiveServer, dict[str, str]], backend: Backend, tmp_path: Path
) -> None:
    server, tokens = secured
    headers = {"Authorization": f"Bearer {tokens['reader']}"}
    assert httpx.get(f"{server.url}/api/v1/namespaces", headers=headers).status_code == 200
    env = {"HEADWATER_DATABASE_URL": backend.url, "HEADWATER_HOME": str(tmp_path)}
    revoked = headwater("token", "revoke", "reader-bot", env=env, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    answer = httpx.get(f"{server.url}/api/v1/namespaces", headers=headers)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["message"]


def test_health_and_the_checkpoint_are_public(secured: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = secured
    assert httpx.get(f"{server.url}/api/v1/health").status_code == 200
    assert httpx.get(f"{server.url}/api/v1/audit/checkpoint").json()["algorithm"] == "Ed25519"
