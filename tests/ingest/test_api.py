"""REST APIs pulled page by page: every record once, only what is new on each pull, retries
that honour Retry-After, the position in the table's snapshots, a killed pull finished by the
next."""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import datasets, jobs, namespaces
from headwater.errors import ConfigError
from headwater.faults import FAULT_VARIABLE
from headwater.ingest import api as api_module
from headwater.ingest.api import ApiSource, api_sources, pull_api
from headwater.ingest.tables import PullError
from headwater.lake import Lake
from headwater.pipeline import load_project
from tests.conftest import Backend
from tests.ingest.deliveries import Killed, killed_at
from tests.ingest.shop_api import Failure, ShopApi, running_api
from tests.ingest.test_cli import cli
from tests.test_cli import headwater

SOURCE = """\
tables:
  shop_customers:
    api:
      url: {base}/cursor
      headers: {{Authorization: "Bearer ${{SHOP_TOKEN}}"}}
      records: data
      pagination: {{style: cursor, param: starting_after, next: meta.next_cursor}}
      incremental: {{param: updated_since, field: updated_at}}
      batch_records: 3
      max_attempts: 3
    columns:
      id: long
      email: string
      updated_at: timestamp
"""
ENV = {"SHOP_TOKEN": "sesame"}


@pytest.fixture
def shop() -> Iterator[ShopApi]:
    with running_api() as api:
        yield api


def _source(root: Path, text: str, **changes: object) -> ApiSource:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "headwater.yml").write_text("name: api_test\n")
    (root / "sources" / "shop.yml").write_text(text)
    [source] = api_sources(load_project(root), ENV)
    # Retries wait milliseconds here, not the half second a real API deserves.
    return dataclasses.replace(source, backoff_s=0.01, **changes)  # type: ignore[arg-type]


def _cursor_source(tmp_path: Path, shop: ShopApi, **changes: object) -> ApiSource:
    return _source(tmp_path / "project", SOURCE.format(base=shop.base), **changes)


def _minutes(shop: ShopApi, count: int) -> None:
    """Records 0..count-1, record n updated at 10:0n."""
    for n in range(count):
        shop.add(n, f"2026-12-01T10:0{n}:00Z")


def _landed_minutes(count: int) -> list[tuple[int, str]]:
    """What `_landed` shows once the records of `_minutes` (count of them) have landed."""
    return [(n, f"01 10:0{n}") for n in range(count)]


def _landed(lake: Lake) -> list[tuple[int, str]]:
    table = lake.load("raw.shop_customers")
    assert table is not None
    rows = table.scan().to_arrow().to_pylist()
    return sorted((r["id"], r["updated_at"].strftime("%d %H:%M")) for r in rows)


def _snapshots(lake: Lake) -> int:
    table = lake.load("raw.shop_customers")
    assert table is not None
    return len(table.metadata.snapshots)


def test_cursor_pages_are_landed_in_batches_and_a_pull_with_nothing_new_commits_nothing(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    _minutes(shop, 7)
    source = _cursor_source(tmp_path, shop)
    batches = pull_api(database, lake, source, actor="t") or []
    # Pages of 2; a commit once 3 records are waiting, and the rest at the end.
    assert [b.rows for b in batches] == [4, 3]
    assert _landed(lake) == _landed_minutes(7)
    assert batches[-1].mark["since"] == "2026-12-01T10:06:00+00:00"
    cursors = [params.get("starting_after") for _, _, params in shop.requests]
    assert cursors == [None, "1", "3", "5"]

    snapshots = _snapshots(lake)
    assert pull_api(database, lake, source, actor="t") == []
    # The API filters with >=: the record at `since` comes again and is known by its digest.
    assert shop.requests[-1][2] == {"updated_since": "2026-12-01T10:06:00+00:00"}
    assert _snapshots(lake) == snapshots
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, action="ingest.pull.land")
    assert len(entries) == 2


def test_each_pull_lands_only_new_records_and_new_versions(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    shop.add(1, "2026-12-01T10:00:00Z")
    shop.add(2, "2026-12-01T10:05:00Z")
    source = _cursor_source(tmp_path, shop)
    pull_api(database, lake, source, actor="t")
    shop.add(3, "2026-12-01T10:05:00Z")  # at exactly `since`, but not landed yet
    shop.add(1, "2026-12-01T11:00:00Z", email="new@x.org")  # a new version
    [batch] = pull_api(database, lake, source, actor="t") or []
    assert batch.rows == 2
    assert _landed(lake) == [(1, "01 10:00"), (1, "01 11:00"), (2, "01 10:05"), (3, "01 10:05")]


@pytest.mark.parametrize(
    ("path", "pagination"),
    [
        ("pages", "{style: page, param: page, start: 1, size_param: per_page, size: 2}"),
        ("link", "{style: link}"),
    ],
)
def test_page_numbers_and_link_headers_are_followed_to_the_last_page(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path, path: str, pagination: str
) -> None:
    _minutes(shop, 5)
    text = SOURCE.format(base=shop.base).replace("/cursor", f"/{path}")
    text = text.replace(
        "{style: cursor, param: starting_after, next: meta.next_cursor}", pagination
    )
    if path == "link":
        text = text.replace("      records: data\n", "")  # the page is the list itself
    source = _source(tmp_path / "project", text)
    pull_api(database, lake, source, actor="t")
    assert _landed(lake) == _landed_minutes(5)
    shop.add(9, "2026-12-01T12:00:00Z")
    [batch] = pull_api(database, lake, source, actor="t") or []
    assert batch.rows == 1
    assert shop.requests[-1][2]["updated_since"] == "2026-12-01T10:04:00+00:00"


def test_429_and_5xx_are_retried_and_retry_after_is_honoured(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    shop.add(1, "2026-12-01T10:00:00Z")
    shop.failures = [Failure(429, {"Retry-After": "1"}), Failure(503)]
    [batch] = pull_api(database, lake, _cursor_source(tmp_path, shop), actor="t") or []
    assert batch.rows == 1
    times = [at for at, _, _ in shop.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95  # Retry-After: 1
    assert times[2] - times[1] < 0.9  # the 503 had none: a short jittered backoff


def test_a_request_that_times_out_is_tried_again(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    shop.add(1, "2026-12-01T10:00:00Z")
    shop.failures = [Failure(200, delay_s=1.0)]
    source = _cursor_source(tmp_path, shop, timeout_s=0.3)
    [batch] = pull_api(database, lake, source, actor="t") or []
    assert batch.rows == 1
    assert len(shop.requests) == 2


def test_when_retries_run_out_the_pull_stops_and_keeps_what_it_committed(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    _minutes(shop, 6)
    source = _cursor_source(tmp_path, shop)
    original = api_module._get
    calls = 0

    def failing_after_two_pages(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            shop.failures = [Failure(503)] * 3
        return original(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api_module, "_get", failing_after_two_pages)
        with pytest.raises(PullError, match=r"GET .*/cursor: HTTP 503 after 3 attempts"):
            pull_api(database, lake, source, actor="t")
    assert _landed(lake) == _landed_minutes(4)  # the first two pages
    [batch] = pull_api(database, lake, source, actor="t") or []
    assert batch.rows == 2  # from the saved cursor on: nothing twice
    assert _landed(lake) == _landed_minutes(6)


def test_other_4xx_answers_stop_the_pull_at_once_with_the_reason(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    source = _cursor_source(tmp_path, shop, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(PullError, match=r"HTTP 401 Unauthorized: .*bad token"):
        pull_api(database, lake, source, actor="t")
    assert len(shop.requests) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>", "the page is not JSON"),
        (b'{"data": {"id": 1}}', "the page's 'data' is not a list of records"),
        (b'{"data": [1]}', "record 1 is not a JSON object"),
    ],
)
def test_a_page_that_is_not_a_list_of_records_stops_the_pull(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path, body: bytes, expected: str
) -> None:
    shop.failures = [Failure(200, body=body)]
    with pytest.raises(PullError, match=expected):
        pull_api(database, lake, _cursor_source(tmp_path, shop), actor="t")


def test_a_record_with_a_wrong_type_is_landed_with_the_reason_and_its_payload(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    shop.records = [{"id": "seven", "email": "c7@x.org", "updated_at": "2026-12-01T10:00:00Z"}]
    pull_api(database, lake, _cursor_source(tmp_path, shop), actor="t")
    table = lake.load("raw.shop_customers")
    assert table is not None
    [row] = table.scan().to_arrow().to_pylist()
    assert row["id"] is None and row["email"] == "c7@x.org"
    assert row["_hw_error"] == 'id: expected a whole number, got "seven"'
    assert '"id":"seven"' in row["_hw_payload"]


@pytest.mark.parametrize("point", ["before-append", "after-append"])
def test_a_pull_killed_at_a_commit_is_finished_by_the_next_with_every_record_once(
    shop: ShopApi,
    database: Database,
    lake: Lake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    _minutes(shop, 7)
    source = _cursor_source(tmp_path, shop)
    pull_api(database, lake, dataclasses.replace(source, max_pages=2), actor="t")  # 4 landed
    monkeypatch.setattr(api_module, "fault_point", killed_at(point))
    with pytest.raises(Killed):
        pull_api(database, lake, source, actor="t")
    monkeypatch.undo()
    batches = pull_api(database, lake, source, actor="t") or []
    # Killed after its commit: recorded, not fetched again; before: fetched and landed now.
    assert [(b.recovered, b.rows) for b in batches] == [(point == "after-append", 3)]
    assert _landed(lake) == _landed_minutes(7)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("url: ", "url: ftp://x"), "api.url: must be an http:// or https:// URL"),
        (("SHOP_TOKEN", "NO_SUCH_TOKEN"), "api.headers.Authorization: environment variable"),
        (("style: cursor, ", "style: scroll, "), "api.pagination.style: must be one of"),
        (("next: meta.next_cursor", "nxt: x"), "api.pagination.nxt: unknown key"),
        (("field: updated_at", "field: changed"), "api.incremental.field: 'changed' is not"),
        (("batch_records: 3", "batch_records: 0"), "api.batch_records: must be a whole number"),
        (("max_attempts: 3", "timeout_s: -1"), "api.timeout_s: must be a number of seconds"),
        (("      records: data\n", "      record: data\n"), "api.record: unknown key"),
    ],
)
def test_a_bad_api_block_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = SOURCE.format(base="http://127.0.0.1:1").replace(*change)
    with pytest.raises(ConfigError, match=f"sources/shop.yml: tables.shop_customers.{expected}"):
        _source(tmp_path / "project", text)


def test_an_api_is_named_as_openlineage_names_a_dataset_by_uri(tmp_path: Path) -> None:
    text = SOURCE.format(base="https://shop.example:8443/v1")
    source = _source(tmp_path / "project", text)
    assert source.dataset() == ("https://shop.example:8443", "/v1/cursor")


def test_ingest_pull_lands_an_api_and_reports_the_run_to_lineage(
    shop: ShopApi, backend: Backend, database: Database, tmp_path: Path
) -> None:
    shop.add(1, "2026-12-01T10:00:00Z")
    _cursor_source(tmp_path, shop)
    env = {
        **ENV,
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": str(tmp_path / "warehouse"),
    }
    result = cli("ingest", "pull", "--json", "-p", str(tmp_path / "project"), env=env)
    assert result.returncode == 0, result.stderr
    [landed] = json.loads(result.stdout)
    assert (landed["kind"], landed["rows"], landed["mark"]["since"]) == (
        "api",
        1,
        "2026-12-01T10:00:00+00:00",
    )
    with database.read() as connection:
        assert set(connection.execute(select(jobs.c.name)).scalars()) == {
            "ingest.api.shop_customers"
        }
        named = select(namespaces.c.name, datasets.c.name).join(
            namespaces, namespaces.c.id == datasets.c.namespace_id
        )
        names = {tuple(row) for row in connection.execute(named)}
    assert (shop.base, "/cursor") in names

    table = cli("ingest", "pull", "-p", str(tmp_path / "project"), env=env)
    assert table.returncode == 0, table.stderr
    assert "0 new file(s) or batch(es)" in table.stdout


def test_a_pass_ending_on_a_page_with_nothing_new_still_saves_its_position(
    shop: ShopApi, database: Database, lake: Lake, tmp_path: Path
) -> None:
    _minutes(shop, 4)
    source = _cursor_source(tmp_path, shop)
    pull_api(database, lake, dataclasses.replace(source, max_pages=1), actor="t")
    shop.records = shop.records[:2]  # what the next page held is gone
    [position] = pull_api(database, lake, source, actor="t") or []
    assert (position.rows, position.mark["since"]) == (0, "2026-12-01T10:01:00+00:00")
    assert pull_api(database, lake, source, actor="t") == []
    assert shop.requests[-1][2] == {"updated_since": "2026-12-01T10:01:00+00:00"}


def test_a_pull_process_killed_before_and_after_a_commit_lands_every_record_once(
    shop: ShopApi, backend: Backend, lake: Lake, tmp_path: Path
) -> None:
    # Real processes, SIGKILLed by HEADWATER_FAULT_INJECT (no clean-up, no finally).
    _minutes(shop, 7)
    _cursor_source(tmp_path, shop)
    env = {
        **ENV,
        "HEADWATER_DATABASE_URL": backend.url,
        "HEADWATER_HOME": str(tmp_path / "home"),
        "HEADWATER_WAREHOUSE": lake.warehouse,
    }
    pull = ("ingest", "pull", "--json", "-p", str(tmp_path / "project"))
    for point in ("before-append", "after-append"):
        fault = {FAULT_VARIABLE: f"{point}@ingest:raw.shop_customers"}
        killed = headwater(*pull, env={**env, **fault}, cwd=tmp_path)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = headwater(*pull, env=env, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    # The first kill lost its batch before the commit; the second committed one and died before
    # recording it; the last run recorded that one and landed the rest.
    assert [(b["recovered"], b["rows"]) for b in json.loads(finished.stdout)] == [
        (True, 4),
        (False, 3),
    ]
    assert _landed(lake) == _landed_minutes(7)
