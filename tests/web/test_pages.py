"""The UI's pages, rendered by the real app in-process on SQLite and PostgreSQL.

Specification: each page shows what the lineage store and the audit log hold about its subject
(dashboard counts, event rate, failing and running runs, stale datasets; a dataset's schema,
column lineage, quality, versions with the run that wrote each, audit trail; a job's SQL, runs
and their durations; a run's error and dataset versions; search; the audit log, filtered and
verified). A missing subject is a 404 page naming it, a bad argument a 400 naming the field;
nothing is fetched from another host.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from headwater import ops
from headwater.db import Database
from headwater.db.schema import datasets
from headwater.lake import Lake, dataset_id
from headwater.web import STATIC
from headwater.web.format import age
from tests.lineage.events_factory import dataset, run_event
from tests.pipeline.projects import append_orders, delivered_project, orders, run_project
from tests.web.shop_lineage import FAILED_RUN, ORDERS_RUN, SQL, post_history

PAGES = [
    "/",
    "/lineage",
    "/lineage?node=dataset:warehouse:staging.orders",
    "/datasets",
    "/dataset?namespace=warehouse&name=staging.orders",
    "/jobs",
    "/job?namespace=shop&name=etl.orders",
    f"/run?id={ORDERS_RUN}",
    "/search?q=orders",
    "/audit",
    "/docs",
]


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    post_history(client)
    return client


def text(html: str) -> str:
    """What a reader sees: tags and SVG drawings out, whitespace folded."""
    html = re.sub(r"<(svg|script)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def page(client: TestClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:500])
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def test_the_dashboard_counts_the_store_and_shows_runs_that_need_a_look(shop: TestClient) -> None:
    html = page(shop, "/")
    assert re.search(r'data-count="namespaces">2<', html)
    assert re.search(r'data-count="jobs">4<', html)
    assert re.search(r'data-count="datasets">3<', html)
    seen = text(html)
    assert "7 in the last 24 hours" in seen
    # Seven events arrived this hour: the chart's last bar says so in its tooltip.
    titles = re.findall(r"<rect [^>]*><title>([^<]*)</title>", html)
    assert len(titles) == 24 and titles[-1].endswith(": 7 events")
    failing = seen.split("Failing runs", 1)[1].split("Running", 1)[0]
    running = seen.split("Running", 1)[1].split("Alerts", 1)[0]
    assert "etl.broken" in failing and "FAILED" in failing and "etl.slow" not in failing
    assert "etl.slow" in running and "etl.broken" not in running
    assert "The alert rules have not been evaluated yet" in seen
    assert "Every dataset changed in the last 24 hours." in seen


def test_the_dashboard_shows_the_alerts_that_fire(shop: TestClient, database: Database) -> None:
    now = datetime.now(UTC)
    measured = [ops.Measurement("catalog_up", None, 0.0, "the catalog does not answer")]
    ops.evaluate_rules(database, ops.parse_alerts({}), measured, now=now, actor="test")
    alerts = text(page(shop, "/")).split("Alerts", 1)[1].split("Stale datasets", 1)[0]
    assert "CatalogDown" in alerts and "firing · critical" in alerts
    assert "runbook: docs/operations.md#catalogdown" in alerts
    ops.evaluate_rules(
        database,
        ops.parse_alerts({}),
        [ops.Measurement("catalog_up", None, 1.0)],
        now=now,
        actor="t",
    )
    assert "No alert is firing." in text(page(shop, "/"))


def test_a_dataset_no_run_wrote_for_longer_than_asked_is_stale(
    shop: TestClient, database: Database
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=3)
    with database.write() as connection:
        connection.execute(
            update(datasets)
            .where(datasets.c.name == "marts.revenue")
            .values(last_modified_at=long_ago)
        )
    stale = text(page(shop, "/")).split("Stale datasets", 1)[1]
    assert "warehouse · marts.revenue" in stale and "staging.orders" not in stale
    assert "marts.revenue" not in text(page(shop, "/?stale_hours=100")).split("Stale", 1)[1]


def test_a_dataset_page_shows_schema_lineage_quality_versions_and_audit(shop: TestClient) -> None:
    html = page(shop, "/dataset?namespace=warehouse&name=staging.orders")
    seen = text(html)
    assert re.search(r"Last changed (just now|\d+ min ago) \(20", seen)  # freshness
    assert "id BIGINT" in seen and "amount DECIMAL" in seen
    assert "id raw.orders.id (DIRECT)" in seen
    assert "not_null id pass" in seen and "unique id fail" in seen
    # The version is the producer's (an Iceberg snapshot id), with the run that wrote it.
    versions = seen.split("Versions", 1)[1]
    assert "5551234" in versions and ORDERS_RUN in versions
    assert "1 pass, 1 fail" in versions  # the quality history, version by version
    assert f'href="/run?id={ORDERS_RUN}"' in html
    assert "lineage.event" in seen.split("Audit trail", 1)[1]
    assert 'href="/lineage?node=dataset%3Awarehouse%3Astaging.orders"' in html
    assert 'href="/lineage?node=dataset%3Awarehouse%3Astaging.orders&amp;column=id"' in html


def test_a_job_page_shows_its_sql_datasets_and_runs(shop: TestClient) -> None:
    html = page(shop, "/job?namespace=shop&name=etl.orders")
    seen = text(html)
    assert SQL in seen
    assert "Facets sql" in seen
    assert "warehouse · raw.orders" in seen.split("Inputs", 1)[1].split("Outputs", 1)[0]
    assert "warehouse · staging.orders" in seen.split("Outputs", 1)[1]
    # The run went from minute 0 to minute 2 of the fixture: 120 seconds.
    assert re.search(rf"{ORDERS_RUN} COMPLETED .* 120\.00 s", seen)
    assert re.search(r'<rect class="bar ok"[^>]*><title>[^<]*COMPLETED, 120\.0 s</title>', html)


def test_a_failed_run_page_shows_its_error_and_what_it_read(shop: TestClient) -> None:
    seen = text(page(shop, f"/run?id={FAILED_RUN}"))
    assert "FAILED" in seen
    assert "division by zero in revenue" in seen.split("Error", 1)[1]
    assert "warehouse · staging.orders" in seen.split("Read", 1)[1].split("Wrote", 1)[0]


def test_search_finds_jobs_and_datasets_by_part_of_their_name(shop: TestClient) -> None:
    found = text(page(shop, "/search?q=orders"))
    assert "etl.orders job shop" in found
    assert "staging.orders dataset warehouse" in found
    assert "raw.orders dataset warehouse" in found
    assert "Nothing matches “nothing-like-it”." in text(page(shop, "/search?q=nothing-like-it"))
    assert "Nothing matches" not in text(page(shop, "/search"))


def test_lists_of_datasets_and_jobs_can_be_narrowed_to_a_namespace(shop: TestClient) -> None:
    assert "3 datasets." in text(page(shop, "/datasets"))
    assert "3 datasets in warehouse." in text(page(shop, "/datasets?namespace=warehouse"))
    jobs = text(page(shop, "/jobs?namespace=shop"))
    assert "4 jobs in shop." in jobs and "etl.broken shop FAILED" in jobs


def test_long_lists_of_datasets_and_jobs_come_in_pages_of_a_hundred(shop: TestClient) -> None:
    # 101 more jobs, one writing 150 tables: 153 datasets and 105 jobs in all.
    wide = [dataset(f"wide.t{i:03d}", "warehouse") for i in range(150)]
    events = [run_event("COMPLETE", job="etl.wide", namespace="shop", outputs=wide)]
    events += [run_event("COMPLETE", job=f"etl.more{i:03d}", namespace="shop") for i in range(100)]
    assert shop.post("/api/v1/lineage/batch", json=events).json()["failed_events"] == []

    first = page(shop, "/datasets")  # by name: marts.revenue, raw.orders, staging.orders, wide.*
    assert "1-100 of 153 datasets." in text(first)
    assert len(re.findall(r'href="/dataset\?', first)) == 100
    assert "wide.t096" in first and "wide.t097" not in first
    assert 'href="/datasets?offset=100"' in first and 'rel="prev"' not in first
    second = page(shop, "/datasets?offset=100")
    assert "101-153 of 153 datasets." in text(second) and "wide.t097" in second
    assert 'rel="prev" href="/datasets"' in second and 'rel="next"' not in second
    narrowed = page(shop, "/datasets?namespace=warehouse")
    assert "1-100 of 153 datasets in warehouse." in text(narrowed)
    assert 'href="/datasets?namespace=warehouse&amp;offset=100"' in narrowed

    jobs = page(shop, "/jobs?namespace=shop&offset=100")
    assert "101-105 of 105 jobs in shop." in text(jobs)
    assert 'rel="prev" href="/jobs?namespace=shop"' in jobs
    past = page(shop, "/jobs?namespace=shop&offset=500")  # an old link after a purge, say
    assert "Nothing from 501 on: 105 jobs in shop. First page" in text(past)
    assert 'href="/jobs?namespace=shop">First page' in past
    assert "Nothing from 201 on: 153 datasets." in text(page(shop, "/datasets?offset=200"))


def test_the_audit_page_filters_the_log_and_verifies_it_when_asked(shop: TestClient) -> None:
    seen = text(page(shop, "/audit"))
    assert "latest signed checkpoint" in seen and "Verify the whole chain now" in seen
    assert "lineage.event" in seen
    filtered = text(page(shop, "/audit?action=nothing.such"))
    assert "No entries match." in filtered
    verified = text(page(shop, "/audit?verify=true"))
    assert re.search(r"Verified: \d+ entries, the hash chain and \d+ stored checkpoints", verified)


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/dataset?namespace=warehouse&name=nope", 404, "dataset 'warehouse:nope' not found"),
        ("/job?namespace=shop&name=nope", 404, "job"),
        ("/run?id=33333333-3333-4333-8333-333333333333", 404, "run"),
        ("/dataset?namespace=warehouse", 400, "name"),
        ("/lineage?node=dataset:a:b&depth=1001", 400, "depth"),
        ("/lineage?direction=sideways", 400, "direction"),
        ("/?stale_hours=0", 400, "stale_hours"),
        ("/audit?offset=-1", 400, "offset"),
    ],
)
def test_a_missing_subject_or_a_bad_argument_is_an_error_that_names_it(
    shop: TestClient, path: str, status: int, says: str
) -> None:
    answer = shop.get(path)
    assert answer.status_code == status
    assert says in unescape(answer.text)


def test_assets_are_served_from_the_package_and_nothing_else(shop: TestClient) -> None:
    assert shop.get("/static/explorer.js").headers["content-type"].startswith("text/javascript")
    for library in ["dagre.esm.js", "swagger-ui-bundle.js", "swagger-ui.css"]:
        assert shop.get(f"/static/vendor/{library}").status_code == 200, library
    assert shop.get("/static/..%2f..%2fserver.py").status_code == 404
    assert shop.get("/static/nope.css").status_code == 404


def test_no_page_or_asset_refers_to_another_host(shop: TestClient) -> None:
    for path in PAGES:
        html = page(shop, path)
        for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
            assert reference.startswith(("/", "#")), (path, reference)
            if reference.startswith("/static/"):
                assert shop.get(reference).status_code == 200, reference
    # headwater's own assets name no other host at all. (The vendored libraries quote URLs in
    # their messages; that they fetch nothing elsewhere is the browser tests' check.)
    for asset in STATIC.rglob("*"):
        if (
            asset.is_file()
            and asset.suffix in {".js", ".css", ".svg"}
            and "vendor" not in asset.parts
        ):
            body = asset.read_text()
            external = re.findall(
                r"""(?:url\(|import\s[^'"]*from\s|@import\s)['"]?(https?:)""", body
            )
            assert not external, asset
            assert "https://" not in body and "http://" not in body.replace(
                "http://www.w3.org/2000/svg", ""
            ), asset


def test_a_headwater_table_shows_its_snapshots_with_their_runs_and_rows_at_each(
    client: TestClient, database: Database, lake: Lake, tmp_path: Path
) -> None:
    # The app's warehouse is <home>/warehouse, the lake fixture's too: the same tables.
    root = delivered_project(tmp_path / "project", lake, count=3)
    first = run_project(root, database, lake)
    append_orders(lake, orders(3, 2))
    second = run_project(root, database, lake)
    assert first.status == second.status == "COMPLETED"
    table = lake.load("staging.stg_orders")
    assert table is not None
    namespace, name = dataset_id(table.location())
    snapshots = [s.snapshot_id for s in table.snapshots()]
    html = page(client, f"/dataset?{urlencode({'namespace': namespace, 'name': name})}")
    seen = text(html)
    assert "Iceberg snapshots of staging.stg_orders" in seen
    for snapshot_id in snapshots:
        assert str(snapshot_id) in seen
    runs = re.findall(r'href="/run\?id=([0-9a-f-]{36})"', html.split("Iceberg snapshots", 1)[1])
    assert len(set(runs)) == 2  # each run's commit names that run, and its page exists
    for run in set(runs):
        assert client.get(f"/run?id={run}").status_code == 200
    # Newest first, shown by default: five rows; the first snapshot had three.
    assert "Rows as of snapshot" in seen and seen.count(" e4 ") == 1
    old = page(
        client,
        f"/dataset?{urlencode({'namespace': namespace, 'name': name, 'version': snapshots[0]})}",
    )
    preview = text(old).split("Rows as of snapshot", 1)[1]
    assert "first 3" in preview and " e2 " in preview and " e3 " not in preview
    wrong = client.get(
        f"/dataset?{urlencode({'namespace': namespace, 'name': name, 'version': 12345})}"
    )
    assert wrong.status_code == 400 and "has no snapshot 12345" in wrong.text


@pytest.mark.parametrize(
    ("ago", "says"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=5), "5 min ago"),
        (timedelta(hours=3, minutes=50), "3 h ago"),
        (timedelta(days=2, hours=23), "2 d ago"),
    ],
)
def test_freshness_is_said_in_the_largest_whole_unit(ago: timedelta, says: str) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert age((now - ago).isoformat(), now) == says
    assert age(None, now) == "never"
