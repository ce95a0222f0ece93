"""``GET /api/v1/search``: datasets and jobs whose name matches a pattern.

As in Marquez, ``q`` matches anywhere in the name, case-insensitively, with ``%`` and ``_``
as wildcards; ``filter`` keeps datasets or jobs; ``sort`` is ``name`` or ``updated_at``.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.lineage.graph_factory import (
    NS,
    assert_400_naming,
    dataset,
    dataset_event,
    get_ok,
    post,
    run_event,
)

SEARCH = "/api/v1/search"


def search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get_ok(client, SEARCH, q=q, **params)
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [r["name"] for r in body["results"]]


@pytest.fixture
def sales(client: TestClient) -> TestClient:
    """Three "sales" names, created in an order that is not their name order.

    ``sales_a`` (dataset), then ``sales_job`` (job), then ``sales_b`` (dataset) — so by
    ``updated_at``, newest first, they read ``sales_b, sales_job, sales_a``. ``other`` never
    matches.
    """
    post(client, dataset_event(dataset("sales_a")))
    post(client, run_event("sales_job"))
    post(client, dataset_event(dataset("sales_b")), dataset_event(dataset("other")))
    return client


def test_results_have_marquez_fields(sales: TestClient) -> None:
    body = search(sales, "sales_a")
    assert body["totalCount"] == 1
    [result] = body["results"]
    assert result["type"] == "DATASET"
    assert result["name"] == "sales_a"
    assert result["namespace"] == NS
    assert result["nodeId"] == f"dataset:{NS}:sales_a"
    assert isinstance(result["updatedAt"], str)


def test_jobs_are_found_with_job_node_ids(sales: TestClient) -> None:
    [result] = search(sales, "job")["results"]
    assert (result["type"], result["nodeId"]) == ("JOB", f"job:{NS}:sales_job")


def test_q_matches_anywhere_in_the_name_ignoring_case(sales: TestClient) -> None:
    assert names(search(sales, "ALES")) == ["sales_a", "sales_b", "sales_job"]
    assert names(search(sales, "LES_B")) == ["sales_b"]


def test_percent_and_underscore_are_wildcards(sales: TestClient) -> None:
    assert names(search(sales, "s%b")) == ["sales_b", "sales_job"]
    assert names(search(sales, "s_les_")) == ["sales_a", "sales_b", "sales_job"]
    assert names(search(sales, "%")) == ["other", "sales_a", "sales_b", "sales_job"]


def test_nothing_matching_is_an_empty_list(sales: TestClient) -> None:
    assert search(sales, "nothing-like-this") == {"totalCount": 0, "results": []}


def test_filter_keeps_only_datasets_or_only_jobs(sales: TestClient) -> None:
    assert names(search(sales, "sales", filter="dataset")) == ["sales_a", "sales_b"]
    assert names(search(sales, "sales", filter="job")) == ["sales_job"]
    assert search(sales, "sales", filter="dataset")["totalCount"] == 2


def test_sort_by_name_is_the_default(sales: TestClient) -> None:
    assert names(search(sales, "sales")) == ["sales_a", "sales_b", "sales_job"]
    assert names(search(sales, "sales", sort="name")) == ["sales_a", "sales_b", "sales_job"]


def test_sort_by_updated_at_puts_the_newest_first(sales: TestClient) -> None:
    assert names(search(sales, "sales", sort="updated_at")) == ["sales_b", "sales_job", "sales_a"]


def test_sorting_happens_across_datasets_and_jobs_before_the_limit(sales: TestClient) -> None:
    """The limit cuts the merged, sorted list — not each kind separately."""
    assert names(search(sales, "sales", sort="updated_at", limit=2)) == ["sales_b", "sales_job"]
    assert names(search(sales, "sales", sort="name", limit=2)) == ["sales_a", "sales_b"]


def test_total_count_counts_every_match_not_just_the_page(sales: TestClient) -> None:
    # Marquez's totalCount is the size of the returned list; counting every match tells a
    # client that more results exist, which is what a total is for.
    body = search(sales, "sales", limit=1)
    assert len(body["results"]) == 1
    assert body["totalCount"] == 3


def test_namespace_restricts_the_search(client: TestClient) -> None:
    post(
        client,
        run_event("orders_job", namespace="east", outputs=["orders"]),
        run_event("orders_job", namespace="west"),
    )
    body = search(client, "orders", namespace="east")
    assert [(r["type"], r["namespace"]) for r in body["results"]] == [
        ("DATASET", "east"),
        ("JOB", "east"),
    ]
    assert body["totalCount"] == 2
    assert search(client, "orders", namespace="nowhere")["results"] == []


def test_before_and_after_take_dates(sales: TestClient) -> None:
    assert len(search(sales, "sales", after="2000-01-01")["results"]) == 3
    assert search(sales, "sales", before="2000-01-01")["results"] == []


def test_soft_deleted_datasets_and_jobs_are_not_found(sales: TestClient) -> None:
    sales.delete(f"/api/v1/namespaces/{NS}/datasets/sales_a")
    sales.delete(f"/api/v1/namespaces/{NS}/jobs/sales_job")
    body = search(sales, "sales")
    assert names(body) == ["sales_b"]
    assert body["totalCount"] == 1


def test_a_result_node_id_opens_its_lineage_graph(client: TestClient) -> None:
    """Names with colons and slashes round-trip from search to the graph."""
    pg = "postgres://db:5432"
    post(client, run_event("load", inputs=[dataset("/tmp/x/tbl", namespace=pg)]))
    [result] = search(client, "tbl")["results"]
    assert result["nodeId"] == f"dataset:{pg}:/tmp/x/tbl"
    graph = get_ok(client, "/api/v1/lineage", nodeId=result["nodeId"])
    assert {n["id"] for n in graph["graph"]} == {result["nodeId"], f"job:{NS}:load"}


def test_bad_parameters_are_400_naming_the_parameter(client: TestClient) -> None:
    assert_400_naming(
        client,
        SEARCH,
        [
            ({}, "q"),
            ({"q": ""}, "q"),
            ({"q": "x", "filter": "run"}, "filter"),
            ({"q": "x", "sort": "size"}, "sort"),
            ({"q": "x", "limit": "ten"}, "limit"),
            ({"q": "x", "limit": "-1"}, "limit"),
            ({"q": "x", "before": "soon"}, "before"),
        ],
    )
