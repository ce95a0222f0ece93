"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``HEADWATER_TEST_PG_URL`` (default: the local test server). Each test
gets its own schema, dropped afterwards. Without a server the PostgreSQL cases are skipped
with a loud message, except under ``CI=true`` where a missing server fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from headwater.config import load_settings
from headwater.db import Database, upgrade
from headwater.lake import Lake
from headwater.server import create_app

PG_URL = os.environ.get(
    "HEADWATER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# The shared reference data sits beside the checkout (../shared/reference), in CI as here.
REFERENCE = Path(
    os.environ.get(
        "HEADWATER_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"
    )
)


@pytest.fixture(autouse=True)
def _openlineage_environment() -> Iterator[None]:
    """Leave the OpenLineage variables as the test found them.

    The client itself writes some: given ``OPENLINEAGE_URL`` it adds
    ``OPENLINEAGE__TRANSPORT__TRANSPORTS__DEFAULT_HTTP__*`` aliases to ``os.environ``, which
    monkeypatch does not know to remove, so every later test in the process would find a
    user-configured client (and emit nothing into the local store)."""
    before = {k: v for k, v in os.environ.items() if k.startswith("OPENLINEAGE")}
    yield
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "no server here"
        return str(exc).splitlines()[0]


PG_PROBLEM = _pg_available()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PG_PROBLEM is None:
        return [f"PostgreSQL tests: {make_url(PG_URL).render_as_string(hide_password=True)}"]
    banner = "!" * 78
    return [banner, f"PostgreSQL tests SKIPPED: no server at {PG_URL}: {PG_PROBLEM}", banner]


@dataclass
class Backend:
    name: str
    url: str


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parameters for a fixture that runs on every backend."""


@contextmanager
def fresh_backend(kind: str, tmp_path: Path, *, migrated: bool) -> Iterator[Backend]:
    """A new database on ``kind`` (a file under ``tmp_path``, or a PostgreSQL schema), removed
    afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'headwater.db'}"
        if migrated:
            upgrade(Database(url))
        yield Backend("sqlite", url)
        return
    if PG_PROBLEM is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_URL}: {PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {PG_PROBLEM}")
    schema = f"hw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    if migrated:
        database = Database(url_text)
        upgrade(database)
        database.dispose()
    try:
        yield Backend("postgresql", url_text)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, migrated metadata database on each backend."""
    with fresh_backend(request.param, tmp_path, migrated=True) as fresh:
        yield fresh


@pytest.fixture
def pg_database(tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated PostgreSQL database, for what only PostgreSQL has (TRUNCATE, roles)."""
    with fresh_backend("postgresql", tmp_path, migrated=True) as fresh:
        db = Database(fresh.url)
        yield db
        db.dispose()


@pytest.fixture(params=BACKENDS)
def empty_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database on each backend with no schema at all (no migration applied)."""
    with fresh_backend(request.param, tmp_path, migrated=False) as fresh:
        yield fresh


@pytest.fixture
def database(backend: Backend) -> Iterator[Database]:
    db = Database(backend.url)
    yield db
    db.dispose()


@pytest.fixture
def lake(database: Database, tmp_path: Path) -> Iterator[Lake]:
    """An Iceberg warehouse under ``tmp_path`` whose catalog is in ``database``."""
    lake = Lake(database.url, tmp_path / "warehouse")
    yield lake
    lake.close()


@pytest.fixture
def client(backend: Backend, database: Database, tmp_path: Path) -> Iterator[TestClient]:
    """The real app in-process, on ``backend``."""
    settings = load_settings(database_url=backend.url, home=tmp_path)
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_server(
    backend: Backend,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = ("serve",),
) -> Iterator[LiveServer]:
    """``headwater serve`` (or another serving ``command``) as a real process on a free
    loopback port, with extra ``env``."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    env = {
        **os.environ,
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path),
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headwater",
                *command,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start:\n{log.read_text()}")
        time.sleep(0.1)
    try:
        yield LiveServer(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def live_server(backend: Backend, tmp_path: Path) -> Iterator[LiveServer]:
    """``headwater serve`` as a real process on a free loopback port."""
    with running_server(backend, tmp_path) as server:
        yield server


def reference_events(folder: str) -> list[tuple[str, Any]]:
    """(file name, decoded event) for every JSON file under ``shared/reference/<folder>``."""
    import json

    root = REFERENCE / folder
    if not root.is_dir():
        pytest.fail(
            f"reference data {root} is missing: check out beside ../shared or set "
            "HEADWATER_REFERENCE to the shared/reference folder"
        )
    files = sorted(root.rglob("*.json"), key=lambda p: (str(p.parent), _numeric(p.stem)))
    return [(str(p.relative_to(REFERENCE)), json.loads(p.read_text())) for p in files]


def _numeric(stem: str) -> tuple[int, str]:
    return (int(stem), "") if stem.isdigit() else (10**9, stem)
