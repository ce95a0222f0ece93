"""Every error the API gives has Marquez's shape: ``{"code": N, "message": "..."}``.

Each test walks a table of requests and reports every row that broke the rule at once, so a
regression shows its whole extent. Bad input is a 4xx naming the parameter or the thing that
was not found — never a 500.
"""

from __future__ import annotations

import gzip
import uuid
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from tests.lineage.graph_factory import NS, dataset, post, q, run_event

API = "/api/v1"
RUN = "33333333-3333-4333-8333-333333333333"
MISSING = str(uuid.uuid4())
PG = "postgres://db:5432"
JSON = {"Content-Type": "application/json"}

# (method, url, text the message must contain)
Case = tuple[str, str, str]


class Response(Protocol):
    """What these tests read of a TestClient response (httpx or httpx2, as Starlette picks)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    @property
    def text(self) -> str: ...

    @property
    def request(self) -> Any: ...

    def json(self) -> Any: ...


def shape_problems(response: Response, status: int, named: str) -> list[str]:
    """What is wrong with ``response`` as a ``status`` error naming ``named`` (empty if ok)."""
    where = f"{response.request.method} {response.request.url}"
    if response.status_code != status:
        return [f"{where}: status {response.status_code}, wanted {status}: {response.text}"]
    if not response.headers.get("content-type", "").startswith("application/json"):
        return [f"{where}: content-type {response.headers.get('content-type')}"]
    body = response.json()
    problems: list[str] = []
    if not isinstance(body, dict) or set(body) != {"code", "message"}:
        return [f"{where}: body {body!r} is not {{code, message}}"]
    if body["code"] != status:
        problems.append(f"{where}: code {body['code']} != status {status}")
    if not isinstance(body["message"], str) or not body["message"]:
        problems.append(f"{where}: empty message")
    elif named not in body["message"]:
        problems.append(f"{where}: message {body['message']!r} does not name {named!r}")
    return problems


def check_all(client: TestClient, cases: list[Case], status: int) -> None:
    problems: list[str] = []
    for method, url, named in cases:
        problems += shape_problems(client.request(method, url), status, named)
    assert not problems, "\n".join(problems)


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """Job ``load`` reads ``raw`` and writes ``orders`` in `NS`; one more dataset under `PG`."""
    post(
        client,
        run_event("load", inputs=["raw"], outputs=[dataset("orders", fields=["id"])], run_id=RUN),
        run_event("pg_reader", inputs=[dataset("/tmp/x/tbl", namespace=PG)]),
    )
    return client


NOT_FOUND: list[Case] = [
    ("GET", f"{API}/namespaces/nope", "nope"),
    ("DELETE", f"{API}/namespaces/nope", "nope"),
    ("GET", f"{API}/namespaces/{q('postgres://nope:1')}", "postgres://nope:1"),
    ("GET", f"{API}/namespaces/nope/datasets", "nope"),
    ("GET", f"{API}/namespaces/nope/jobs", "nope"),
    ("GET", f"{API}/namespaces/nope/datasets/orders", "nope"),
    ("GET", f"{API}/namespaces/{NS}/datasets/ghost", "ghost"),
    ("GET", f"{API}/namespaces/{q(PG)}/datasets/{q('/no/such')}", "/no/such"),
    ("GET", f"{API}/namespaces/{NS}/datasets/ghost/versions", "ghost"),
    ("GET", f"{API}/namespaces/{NS}/datasets/orders/versions/{MISSING}", MISSING),
    ("DELETE", f"{API}/namespaces/{NS}/datasets/ghost", "ghost"),
    ("POST", f"{API}/namespaces/{NS}/datasets/ghost/tags/PII", "ghost"),
    ("DELETE", f"{API}/namespaces/{NS}/datasets/ghost/tags/PII", "ghost"),
    ("POST", f"{API}/namespaces/{NS}/datasets/orders/fields/nofield/tags/PII", "nofield"),
    ("GET", f"{API}/namespaces/{NS}/jobs/phantom", "phantom"),
    ("GET", f"{API}/namespaces/{NS}/jobs/phantom/runs", "phantom"),
    ("GET", f"{API}/namespaces/{NS}/jobs/phantom/versions", "phantom"),
    ("GET", f"{API}/namespaces/{NS}/jobs/load/versions/{MISSING}", MISSING),
    ("DELETE", f"{API}/namespaces/{NS}/jobs/phantom", "phantom"),
    ("POST", f"{API}/namespaces/{NS}/jobs/phantom/tags/X", "phantom"),
    ("GET", f"{API}/jobs/runs/{MISSING}", MISSING),
    ("GET", f"{API}/jobs/runs/{MISSING}/facets?type=job", MISSING),
    ("GET", f"{API}/jobs/runs/not-a-uuid", "not-a-uuid"),
    ("GET", f"{API}/sources/nosource", "nosource"),
    ("GET", f"{API}/lineage?nodeId=dataset:{NS}:ghost", "ghost"),
    ("GET", f"{API}/lineage?nodeId=job:{NS}:phantom", "phantom"),
    ("GET", f"{API}/column-lineage?nodeId=dataset:{NS}:ghost", "ghost"),
]


def test_unknown_things_are_404_naming_what_was_not_found(seeded: TestClient) -> None:
    check_all(seeded, NOT_FOUND, 404)


def test_a_dataset_in_an_unknown_namespace_names_the_namespace(seeded: TestClient) -> None:
    """The namespace is what is missing, so the message says namespace, not dataset."""
    response = seeded.get(f"{API}/namespaces/nope/datasets/orders")
    assert "namespace" in response.json()["message"]


def test_unknown_routes_are_404_in_the_same_shape(seeded: TestClient) -> None:
    check_all(
        seeded,
        [
            ("GET", "/nope", ""),
            ("GET", f"{API}/nope", ""),
            ("GET", "/api/v2/namespaces", ""),
            ("GET", f"{API}/namespaces/{NS}/widgets", ""),
            ("GET", f"{API}/namespaces/{q(PG)}/widgets", ""),
            ("POST", f"{API}/nope", ""),
        ],
        404,
    )


def test_a_wrong_method_is_405_in_the_same_shape(seeded: TestClient) -> None:
    check_all(
        seeded,
        [
            ("DELETE", f"{API}/health", ""),
            ("PATCH", f"{API}/namespaces/{NS}", ""),
            ("PUT", f"{API}/lineage", ""),
            ("POST", f"{API}/namespaces/{NS}/datasets/orders", ""),
        ],
        405,
    )


LIST_ENDPOINTS = [
    f"{API}/namespaces",
    f"{API}/sources",
    f"{API}/tags",
    f"{API}/jobs",
    f"{API}/namespaces/{NS}/datasets",
    f"{API}/namespaces/{NS}/datasets/orders/versions",
    f"{API}/namespaces/{NS}/jobs",
    f"{API}/namespaces/{NS}/jobs/load/runs",
    f"{API}/namespaces/{NS}/jobs/load/versions",
    f"{API}/events/lineage",
    f"{API}/search?q=o",
]


BAD_PAGING = [
    ("limit", "abc"),
    ("limit", "-1"),
    ("limit", "1.5"),
    ("limit", "99999999999999999999999"),
    ("offset", "-1"),
    ("offset", "abc"),
]


def test_bad_paging_on_every_list_is_400_naming_the_parameter(seeded: TestClient) -> None:
    cases = [
        ("GET", f"{url}{'&' if '?' in url else '?'}{param}={value}", param)
        for url in LIST_ENDPOINTS
        for param, value in BAD_PAGING
        if not (param == "offset" and url.endswith("?q=o"))  # search has no offset
    ]
    check_all(seeded, cases, 400)


def test_bad_graph_and_facet_parameters_are_400_naming_them(seeded: TestClient) -> None:
    node = f"dataset:{NS}:orders"
    check_all(
        seeded,
        [
            ("GET", f"{API}/lineage", "nodeId"),
            ("GET", f"{API}/lineage?nodeId=orders", "nodeId"),
            ("GET", f"{API}/lineage?nodeId={node}&depth=-1", "depth"),
            ("GET", f"{API}/lineage?nodeId={node}&depth=abc", "depth"),
            ("GET", f"{API}/lineage?nodeId={node}&direction=up", "direction"),
            ("GET", f"{API}/lineage?nodeId={node}&maxNodes=0", "maxNodes"),
            ("GET", f"{API}/lineage?nodeId={node}&maxNodes=2001", "maxNodes"),  # over the setting
            ("GET", f"{API}/column-lineage", "nodeId"),
            ("GET", f"{API}/column-lineage?nodeId={node}&depth=-1", "depth"),
            ("GET", f"{API}/column-lineage?nodeId={node}&withDownstream=2x", "withDownstream"),
            ("GET", f"{API}/jobs/runs/{RUN}/facets?type=dataset", "type"),
            ("GET", f"{API}/events/lineage?sortDirection=up", "sortDirection"),
            ("GET", f"{API}/events/lineage?before=noon", "before"),
            ("GET", f"{API}/search", "q"),
            ("GET", f"{API}/search?q=o&filter=run", "filter"),
            ("GET", f"{API}/search?q=o&sort=size", "sort"),
        ],
        400,
    )


def test_bad_bodies_are_400_naming_what_is_wrong(seeded: TestClient) -> None:
    requests = [
        (seeded.post(f"{API}/lineage", content=b"{not json"), "JSON"),
        (seeded.post(f"{API}/lineage", json=[1, 2]), "event"),
        (seeded.post(f"{API}/lineage", json={"producer": "p"}), "eventTime"),
        (seeded.post(f"{API}/lineage/batch", json={"not": "a list"}), "array"),
        (seeded.put(f"{API}/namespaces/team", content=b"]["), "body"),
        (seeded.put(f"{API}/namespaces/team", content=b"", headers=JSON), "body"),
        (seeded.put(f"{API}/tags/T", content=b"][", headers=JSON), "body"),
        (seeded.put(f"{API}/namespaces/team", json={"description": "x"}), "ownerName"),
        (seeded.put(f"{API}/tags/T", json={"description": 5}), "description"),
        (
            seeded.post(
                f"{API}/lineage", content=b"\x00\x01", headers={"Content-Encoding": "gzip"}
            ),
            "gzip",
        ),
        (
            seeded.post(f"{API}/lineage", content=b"{}", headers={"Content-Encoding": "br"}),
            "Content-Encoding",
        ),
    ]
    problems: list[str] = []
    for response, named in requests:
        problems += shape_problems(response, 400, named)
    assert not problems, "\n".join(problems)


def test_a_body_over_the_limit_is_413_in_the_same_shape(seeded: TestClient) -> None:
    limit = 5 * 1024 * 1024  # the default max_body_bytes
    too_big = seeded.post(f"{API}/lineage", content=b" " * (limit + 1))
    bomb = seeded.post(
        f"{API}/lineage",
        content=gzip.compress(b" " * (limit + 1)),
        headers={"Content-Encoding": "gzip"},
    )
    assert not shape_problems(too_big, 413, "limit") + shape_problems(bomb, 413, "limit")
