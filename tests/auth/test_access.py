"""The access-control dependency on its own: rule kinds beyond roles."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from headwater import audit
from headwater.auth import AccessControl, Open, Role
from headwater.db import Database
from headwater.errors import HeadwaterError
from headwater.responses import error_body


def app_with(database: Database, rules: dict[tuple[str, str], Role | Open]) -> TestClient:
    access = AccessControl(rules=rules, database=database, enabled=True)
    app = FastAPI(dependencies=[Depends(access)])

    @app.post("/ingest/{source}")
    def ingest(source: str) -> dict[str, str]:
        return {"source": source}

    @app.get("/private")
    def private() -> dict[str, str]:
        return {"ok": "yes"}

    @app.exception_handler(HeadwaterError)
    async def _error(_: object, exc: HeadwaterError) -> object:
        return error_body(exc.status, exc.message)

    return TestClient(app)


def test_a_signed_route_needs_no_token_and_a_role_route_does(database: Database) -> None:
    """Webhook routes check their own signatures: access control lets them through, while
    every other route still needs its role."""
    client = app_with(
        database, {("POST", "/ingest/{source}"): Open.SIGNED, ("GET", "/private"): Role.READER}
    )
    assert client.post("/ingest/shopify").json() == {"source": "shopify"}
    refused = client.get("/private")
    assert refused.status_code == 401
    with database.read() as connection:
        [entry], _ = audit.list_entries(connection)
    assert (entry.action, entry.target) == ("auth.denied", "route:GET /private")
