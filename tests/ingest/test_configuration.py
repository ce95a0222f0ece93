"""The ingest declarations of a project are audited when they change, and hold no secret."""

from __future__ import annotations

from pathlib import Path

import orjson

from headwater import audit
from headwater.db import Database
from headwater.ingest import record_sources
from headwater.ingest.configuration import ACTION
from headwater.pipeline import load_project
from tests.ingest.projects import SECRET, WEB, write_project

API = """\
tables:
  shop_customers:
    api:
      url: https://shop.example/v1/customers
      headers: {Authorization: "Bearer literal-token", X-Shop: "${SHOP}"}
      params: {api_key: k-123}
    columns: {id: long}
"""


def _entries(database: Database) -> list[dict[str, object]]:
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, action=ACTION, newest_first=False)
    return [orjson.loads(entry.details) for entry in entries]


def test_the_declarations_are_recorded_once_and_again_only_when_they_change(
    database: Database, tmp_path: Path
) -> None:
    root = write_project(tmp_path)
    assert record_sources(database, load_project(root), "t") is True
    assert record_sources(database, load_project(root), "t") is False

    rotated = WEB.replace("secret_env: WEB_SECRET", "secret_env: [WEB_SECRET_NEW, WEB_SECRET]")
    write_project(tmp_path, web=rotated.replace("      email: string\n", "", 1))
    assert record_sources(database, load_project(root), "t") is True
    first, second = _entries(database)
    assert first["changed"] == {"webhooks.web": [None, first["sources"]["webhooks"]["web"]]}  # type: ignore[index]
    before, after = second["changed"]["webhooks.web"]  # type: ignore[index]
    assert (before["secret_env"], after["secret_env"]) == (
        "WEB_SECRET",
        ["WEB_SECRET_NEW", "WEB_SECRET"],
    )
    assert "email" in before["topics"]["raw.web_orders"]
    assert "email" not in after["topics"]["raw.web_orders"]


def test_no_secret_token_or_key_reaches_the_log(database: Database, tmp_path: Path) -> None:
    root = write_project(tmp_path)
    (root / "sources" / "shop.yml").write_text(API)
    record_sources(database, load_project(root), "t")
    [entry] = _entries(database)
    text = orjson.dumps(entry).decode()
    assert SECRET not in text and "literal-token" not in text and "k-123" not in text
    pulled = entry["sources"]["pulls"]["raw.shop_customers"]  # type: ignore[index]
    assert pulled["headers"] == ["Authorization", "X-Shop"]
    assert pulled["params"] == ["api_key"]
    assert pulled["url"] == "https://shop.example/v1/customers"
