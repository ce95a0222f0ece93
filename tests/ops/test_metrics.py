"""``/metrics``: the store's figures, read at scrape time, and this process's counters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from headwater import ingest
from headwater.config import load_settings
from headwater.db import Database
from headwater.lake import Lake
from headwater.server import create_app
from tests.ingest.deliveries import store, web_sources
from tests.pipeline.projects import delivered_project, run_project

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture
def app_client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(database_url=database.url, home=tmp_path)
    app = create_app(settings, database)
    # Every test reads figures it has just changed: no caching between scrapes.
    app.state.store_metrics.cache_s = 0.0
    with TestClient(app) as client:
        yield client


def test_a_pipeline_run_shows_as_durations_outcomes_tables_and_lineage(
    database: Database, lake: Lake, tmp_path: Path, app_client: TestClient
) -> None:
    project = delivered_project(tmp_path / "project", lake, count=20)
    assert run_project(project, database, lake).status == "COMPLETED"
    samples = scrape(app_client)

    for model in ("staging.stg_orders", "analytics.order_log", "marts.totals"):
        labels = {"project": "shoptest", "model": model}
        assert value(samples, "headwater_model_run_duration_seconds_count", **labels) == 1
        assert (
            value(samples, "headwater_model_run_duration_seconds_bucket", le="+Inf", **labels) == 1
        )
        assert value(samples, "headwater_model_run_duration_seconds_sum", **labels) > 0
        assert value(samples, "headwater_model_runs_total", status="COMPLETED", **labels) == 1
        buckets = [
            v
            for labels_, v in series(samples, "headwater_model_run_duration_seconds_bucket").items()
            if ("model", model) in labels_
        ]
        assert buckets == sorted(buckets), "histogram buckets are cumulative"

    assert value(samples, "headwater_table_rows", table="raw.orders") == 20
    assert value(samples, "headwater_table_rows", table="staging.stg_orders") == 20
    assert value(samples, "headwater_table_data_files", table="staging.stg_orders") >= 1
    assert value(samples, "headwater_table_bytes", table="staging.stg_orders") > 0
    assert value(samples, "headwater_table_snapshots", table="marts.totals") == 1

    assert value(samples, "headwater_lineage_events_total") >= 8  # START + COMPLETE per run
    # The three models and marts.totals' tests job read or write tables; the pipeline's
    # parent job touches none itself.
    assert value(samples, "headwater_lineage_coverage_ratio", kind="jobs") == 4 / 5
    assert value(samples, "headwater_lineage_coverage_ratio", kind="datasets") == 1.0
    freshness = series(samples, "headwater_dataset_freshness_seconds")
    assert len(freshness) == 4 and all(0 <= age < 600 for age in freshness.values())

    assert value(samples, "headwater_database_bytes") > 0
    assert value(samples, "headwater_warehouse_bytes") > 0


def test_failing_quality_tests_are_counted_by_model_and_severity(
    database: Database, lake: Lake, tmp_path: Path, app_client: TestClient
) -> None:
    from headwater.pipeline import load_project
    from headwater.pipeline.runner import ensure_sources
    from tests.pipeline.projects import MODELS, append_orders, orders, write_project

    files = {
        **MODELS,
        "marts/marts.yml": "models:\n  totals:\n    tests:\n"
        "      - row_count: {min: 5, severity: warn}\n",
    }
    root = write_project(tmp_path / "project", files)
    ensure_sources(load_project(root), lake)
    append_orders(lake, orders(0, 3))
    run_project(root, database, lake)
    samples = scrape(app_client)
    assert (
        value(
            samples,
            "headwater_quality_test_failures_total",
            model="marts.totals",
            severity="warn",
            status="warn",
        )
        == 1
    )


def test_the_inbox_shows_backlog_lag_and_rows_landed(
    database: Database,
    lake: Lake,
    tmp_path: Path,
    app_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = web_sources(tmp_path / "project", monkeypatch)
    store(database, range(5))
    before = scrape(app_client)
    labels = {"source": "web", "topic": "orders"}
    assert value(before, "headwater_ingest_backlog", **labels) == 5
    assert value(before, "headwater_ingest_lag_seconds", **labels) >= 0
    assert value(before, "headwater_ingest_stored_total", **labels) == 5

    ingest.consume(database, lake, ingest.topics_of(sources), actor="test", once=True)
    after = scrape(app_client)
    assert value(after, "headwater_ingest_backlog", **labels) == 0
    assert value(after, "headwater_ingest_lag_seconds", **labels) == 0
    assert value(after, "headwater_ingest_rows_landed_total", **labels) == 5
    assert value(after, "headwater_table_rows", table="raw.web_orders") == 5


def test_request_latency_is_labelled_by_route_template_not_by_path(
    app_client: TestClient,
) -> None:
    app_client.get("/api/v1/namespaces/shop")
    app_client.get("/api/v1/namespaces/other")
    app_client.get("/no/such/page")
    samples = scrape(app_client)
    routes = {
        dict(labels)["route"]
        for labels in series(samples, "headwater_http_request_duration_seconds_count")
    }
    assert "/api/v1/namespaces/{namespace}" in routes
    assert "unmatched" in routes
    assert not any("shop" in route for route in routes)
