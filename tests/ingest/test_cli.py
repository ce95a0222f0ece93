"""``headwater ingest``: consume, status, dead-letters (and their replay), send; and ``up``.

The commands run in-process through Typer's runner (the same code as ``python -m headwater``,
without a new interpreter's two seconds of imports each); ``up`` and ``send`` against a real
server process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import select

from headwater import ingest
from headwater.db import Database
from headwater.db.schema import ingest_inbox
from headwater.ingest.inbox import store_one
from tests.conftest import Backend, running_server
from tests.ingest.deliveries import order, store
from tests.ingest.projects import SECRETS_ENV, WEB, write_project


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str]) -> Ran:
    """``headwater ARGS`` in this process, with ``env`` added to the environment."""
    from typer.testing import CliRunner

    from headwater.cli import app

    result = CliRunner().invoke(app, list(args), env=env)
    # Rich wraps at the terminal's width: compare words, not line breaks.
    return Ran(result.exit_code, result.stdout, " ".join(result.stderr.split()))


def _env(backend: Backend, tmp_path: Path, project: Path) -> dict[str, str]:
    return {
        **SECRETS_ENV,
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(tmp_path / "warehouse"),
        "HEADWATER_PROJECT": str(project),
    }


def _dead(database: Database, event_id: str, payload: dict[str, object]) -> None:
    delivery = ingest.Delivery(
        "web",
        "orders",
        event_id,
        None,
        datetime.now(UTC),
        orjson.dumps(payload),
        dead_reason="total: expected a number",
    )
    with database.write() as connection:
        store_one(connection, delivery)


def test_consume_once_then_status_shows_what_was_landed(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    env = _env(backend, tmp_path, project)
    store(database, range(5))
    landed = cli("ingest", "consume", "--once", "--project", str(project), env=env)
    assert landed.returncode == 0, landed.stderr
    assert "landed 5 deliveries of web/orders in raw.web_orders" in landed.stdout
    assert "1 batch(es), 5 deliveries landed" in landed.stdout
    store(database, range(5, 7))
    status = cli("ingest", "status", "--json", "--project", str(project), env=env)
    assert status.returncode == 0, status.stderr
    rows = {f"{r['source']}/{r['topic']}": r for r in json.loads(status.stdout)}
    orders = rows["web/orders"]
    assert (orders["received"], orders["waiting"], orders["landed"], orders["batches"]) == (
        7,
        2,
        5,
        1,
    )
    assert orders["lag_s"] >= 0 and orders["table"] == "raw.web_orders"
    assert rows["web/customers"]["received"] == 0
    table = cli("ingest", "status", "--project", str(project), env=env)
    assert "headwater ingest status" in table.stdout and "backlog" in table.stdout


def test_dead_letters_are_listed_and_replayed_after_the_declaration_is_fixed(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    env = _env(backend, tmp_path, project)
    _dead(database, "evt-text", {**order(1), "total": "12,50"})
    listed = cli("ingest", "dead-letters", "--json", "--project", str(project), env=env)
    [letter] = json.loads(listed.stdout)
    assert (letter["event_id"], letter["reason"]) == ("evt-text", "total: expected a number")
    # The provider sends amounts as text: declare it so, and replay.
    (project / "sources" / "web.yml").write_text(WEB.replace("total: double", "total: string"))
    fixed = cli(
        "ingest",
        "dead-letters",
        "--replay",
        "--json",
        "--project",
        str(project),
        env=env,
    )
    assert json.loads(fixed.stdout) == {"replayed": [letter["id"]], "still_dead": {}}
    with database.read() as connection:
        assert list(connection.execute(select(ingest_inbox.c.event_id)).scalars()) == ["evt-text"]


def test_up_receives_what_send_posts_and_lands_it_in_one_process(
    backend: Backend, tmp_path: Path
) -> None:
    import time

    from headwater.lake import Lake

    project = write_project(tmp_path / "project")
    env = _env(backend, tmp_path, project)
    body = tmp_path / "order.json"
    body.write_bytes(orjson.dumps(order(3)))
    args = ["ingest", "send", str(body), "--source", "web", "--topic", "orders"]
    with running_server(backend, tmp_path, env, ("up", "--project", str(project))) as server:
        sent = cli(
            *args, "--url", server.url, "--event-id", "e3", "--project", str(project), env=env
        )
        assert sent.returncode == 0, sent.stderr
        assert '200 {"status":"stored","event_id":"e3"}' in sent.stdout
        again = cli(
            *args, "--url", server.url, "--event-id", "e3", "--project", str(project), env=env
        )
        assert (again.returncode, '"status":"duplicate"' in again.stdout) == (0, True)
        lake = Lake(backend.url, tmp_path / "warehouse")
        deadline = time.monotonic() + 30
        landed: list[str] = []
        while not landed and time.monotonic() < deadline:
            time.sleep(0.2)
            table = lake.load("raw.web_orders")
            if table is not None and table.current_snapshot() is not None:
                landed = table.scan().to_arrow().column("_hw_event_id").to_pylist()
        lake.close()
    assert landed == ["e3"], server.log.read_text()[-2000:]


def test_bad_input_is_named_and_exits_2(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    env = {
        **SECRETS_ENV,
        "HEADWATER_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "HEADWATER_HOME": str(tmp_path / "home"),
    }
    send = ["ingest", "send", "nothing.json", "--source", "web", "--project", str(project)]
    # Signing needs the secret (landing and status do not).
    result = cli(*send, "--topic", "orders", env={**env, "WEB_SECRET": ""})
    assert result.returncode == 2
    assert "sources/web.yml: webhook.secret_env: environment variable WEB_SECRET is not set" in (
        result.stderr
    )
    missing = cli(*send, "--topic", "orders", env=env)
    assert (missing.returncode, "FILE: cannot read nothing.json" in missing.stderr) == (2, True)
    wrong = cli(*send, "--topic", "nope", env=env)
    assert wrong.returncode == 2
    assert "--topic: no topic web/nope; known: web/orders, web/customers" in wrong.stderr
