"""Bad input is refused with 400 or 413 and a message naming the field; never 500; nothing stored.

Each case is checked against a database that already holds one good event, by counting the
rows of every table (of ``headwater.db.schema.metadata``) before and after.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from headwater.config import load_settings
from headwater.db import Database
from headwater.server import create_app
from tests.conftest import BACKENDS, Backend, fresh_backend
from tests.lineage.events_factory import (
    column_lineage_facet,
    dataset,
    dataset_event,
    facet,
    input_field,
    job_event,
    new_run_id,
    parent_facet,
    row_counts,
    run_event,
    schema_facet,
)

LONG = "x" * 1025  # one past the 1024-character limit on names
MB = 1024 * 1024


def bad(change: Callable[[dict[str, Any]], object], base: dict[str, Any] | None = None) -> Any:
    """A good event (by default a START with one input and one output), ``change``d in place."""
    event = base or run_event(
        "START", inputs=[dataset("raw")], outputs=[dataset("clean", facets={})]
    )
    change(event)
    return event


def output_facet(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        event["outputs"][0]["facets"][name] = value

    return change


def cll(fields: Any) -> Callable[[dict[str, Any]], None]:
    """A columnLineage facet on the output whose ``fields`` are as given."""
    return output_facet("columnLineage", facet("ColumnLineageDatasetFacet", fields=fields))


def cll_transformations(transformations: Any) -> Callable[[dict[str, Any]], None]:
    """A columnLineage facet whose one input field has these ``transformations``."""
    item = {**input_field("warehouse", "raw", "a"), "transformations": transformations}
    return cll({"b": {"inputFields": [item]}})


def child_of_long_parent(event: dict[str, Any]) -> None:
    """Each name is under 1024 characters, but ``parent.child`` is not."""
    event["run"]["facets"]["parent"] = parent_facet("p" * 600, "r")
    event["job"]["name"] = "c" * 600


def set_path(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``a.b.c`` (creating objects on the way), or delete it when value is `DELETE`."""

    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for key in parents:
            target = target.setdefault(key, {})
        if value is DELETE:
            del target[last]
        else:
            target[last] = value

    return change


DELETE = object()

# (id, bad event, text the message must contain: the field's path)
EVENT_CASES: list[tuple[str, Any, str]] = [
    ("an-array", [run_event("START")], "event"),
    ("a-string", "START", "event"),
    ("eventTime-missing", bad(set_path("eventTime", DELETE)), "eventTime"),
    ("eventTime-yesterday", bad(set_path("eventTime", "yesterday")), "eventTime"),
    ("eventTime-a-number", bad(set_path("eventTime", 1714564800)), "eventTime"),
    ("eventTime-no-such-day", bad(set_path("eventTime", "2024-02-30T10:00:00Z")), "eventTime"),
    ("eventTime-garbage-time", bad(set_path("eventTime", "2024-05-01T25:61:00Z")), "eventTime"),
    (
        "eventTime-before-year-1-in-utc",
        bad(set_path("eventTime", "0001-01-01T00:00:00+05:00")),
        "eventTime",
    ),
    (
        "eventTime-after-year-9999-in-utc",
        bad(set_path("eventTime", "9999-12-31T23:00:00-05:00")),
        "eventTime",
    ),
    ("eventType-unknown", bad(set_path("eventType", "FINISHED")), "eventType"),
    ("eventType-a-list", bad(set_path("eventType", ["START"])), "eventType"),
    ("eventType-an-object", bad(set_path("eventType", {"type": "START"})), "eventType"),
    ("eventType-a-number", bad(set_path("eventType", 1)), "eventType"),
    ("producer-missing", bad(set_path("producer", DELETE)), "producer"),
    ("producer-a-number", bad(set_path("producer", 7)), "producer"),
    ("run-missing", bad(set_path("run", DELETE)), "run"),
    ("run-a-string", bad(set_path("run", "r")), "run"),
    ("runId-missing", bad(set_path("run.runId", DELETE)), "run.runId"),
    ("runId-a-number", bad(set_path("run.runId", 12)), "run.runId"),
    ("runId-empty", bad(set_path("run.runId", "")), "run.runId"),
    ("job-missing", bad(set_path("job", DELETE)), "job"),
    ("job.namespace-missing", bad(set_path("job.namespace", DELETE)), "job.namespace"),
    ("job.namespace-null", bad(set_path("job.namespace", None)), "job.namespace"),
    ("job.name-a-list", bad(set_path("job.name", ["a"])), "job.name"),
    ("job.namespace-too-long", bad(set_path("job.namespace", LONG)), "job.namespace"),
    ("job.name-too-long", bad(set_path("job.name", LONG)), "job.name"),
    ("job.name-with-NUL", bad(set_path("job.name", "a\x00b")), "job.name"),
    ("producer-with-NUL", bad(set_path("producer", "p\x00")), "producer"),
    ("run.facets-a-list", bad(set_path("run.facets", [])), "run.facets"),
    ("job.facets-a-string", bad(set_path("job.facets", "x")), "job.facets"),
    ("a-run-facet-a-string", bad(set_path("run.facets.custom", "x")), "run.facets.custom"),
    ("a-job-facet-a-number", bad(set_path("job.facets.sql", 3)), "job.facets.sql"),
    (
        "nominalTime-bad",
        bad(set_path("run.facets.nominalTime", facet("N", nominalStartTime="soon"))),
        "run.facets.nominalTime.nominalStartTime",
    ),
    (
        "nominalEndTime-bad",
        bad(
            set_path(
                "run.facets.nominalTime",
                facet("N", nominalStartTime="2024-05-01T00:00:00Z", nominalEndTime="later"),
            )
        ),
        "run.facets.nominalTime.nominalEndTime",
    ),
    (
        "parent-without-job",
        bad(set_path("run.facets.parent", facet("P", run={"runId": "r"}))),
        "run.facets.parent.job",
    ),
    (
        "parent-job-name-too-long",
        bad(set_path("run.facets.parent", parent_facet(LONG, "r"))),
        "run.facets.parent.job.name",
    ),
    (
        "child-name-too-long-with-parent-prefix",
        bad(child_of_long_parent),
        "job.name",
    ),
    ("inputs-an-object", bad(set_path("inputs", {"name": "raw"})), "inputs"),
    ("inputs[0]-a-string", bad(lambda e: e.update(inputs=["raw"])), "inputs[0]"),
    ("inputs[0].name-missing", bad(lambda e: e["inputs"][0].pop("name")), "inputs[0].name"),
    (
        "outputs[0].namespace-too-long",
        bad(lambda e: e["outputs"][0].update(namespace=LONG)),
        "outputs[0].namespace",
    ),
    (
        "outputs[0].name-too-long",
        bad(lambda e: e["outputs"][0].update(name=LONG)),
        "outputs[0].name",
    ),
    (
        "outputs[0].facets-a-list",
        bad(lambda e: e["outputs"][0].update(facets=[])),
        "outputs[0].facets",
    ),
    (
        "inputs[0].inputFacets-a-string",
        bad(lambda e: e["inputs"][0].update(inputFacets="x")),
        "inputs[0].inputFacets",
    ),
    (
        "schema-facet-a-string",
        bad(output_facet("schema", "id INT")),
        "outputs[0].facets.schema",
    ),
    (
        "schema-fields-an-object",
        bad(output_facet("schema", facet("S", fields={"id": "INT"}))),
        "outputs[0].facets.schema.fields",
    ),
    (
        "schema-field-without-name",
        bad(output_facet("schema", facet("S", fields=[{"type": "INT"}]))),
        "outputs[0].facets.schema.fields[0].name",
    ),
    (
        "schema-field-name-a-number",
        bad(output_facet("schema", facet("S", fields=[{"name": 1}]))),
        "outputs[0].facets.schema.fields[0].name",
    ),
    (
        "schema-field-a-string",
        bad(output_facet("schema", facet("S", fields=["id"]))),
        "outputs[0].facets.schema.fields[0]",
    ),
    (
        "columnLineage-fields-a-list",
        bad(cll([])),
        "outputs[0].facets.columnLineage.fields",
    ),
    (
        "columnLineage-field-a-string",
        bad(cll({"b": "a"})),
        "outputs[0].facets.columnLineage.fields.b",
    ),
    (
        "columnLineage-inputFields-an-object",
        bad(cll({"b": {"inputFields": {}}})),
        "outputs[0].facets.columnLineage.fields.b.inputFields",
    ),
    (
        "columnLineage-input-without-field",
        bad(cll({"b": {"inputFields": [{"namespace": "warehouse", "name": "raw"}]}})),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].field",
    ),
    (
        "columnLineage-input-name-too-long",
        bad(cll({"b": {"inputFields": [input_field("warehouse", LONG, "a")]}})),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].name",
    ),
    (
        "columnLineage-input-field-too-long",
        bad(cll({"b": {"inputFields": [input_field("warehouse", "raw", LONG)]}})),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].field",
    ),
    (
        "columnLineage-output-field-too-long",
        bad(cll({LONG: {"inputFields": [input_field("warehouse", "raw", "a")]}})),
        "outputs[0].facets.columnLineage.fields",
    ),
    (
        "columnLineage-transformations-an-object",
        bad(cll_transformations({"type": "DIRECT"})),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].transformations",
    ),
    (
        "columnLineage-transformation-a-string",
        bad(cll_transformations(["DIRECT"])),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].transformations[0]",
    ),
    (
        "columnLineage-transformation-type-a-number",
        bad(cll_transformations([{"type": 1}])),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].transformations[0].type",
    ),
    (
        "columnLineage-transformation-subtype-too-long",
        bad(cll_transformations([{"type": "DIRECT", "subtype": "S" * 65}])),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].transformations[0].subtype",
    ),
    (
        "columnLineage-transformation-description-a-list",
        bad(cll_transformations([{"type": "DIRECT", "description": ["sum"]}])),
        "outputs[0].facets.columnLineage.fields.b.inputFields[0].transformations[0].description",
    ),
    (
        "columnLineage-legacy-transformationType-a-number",
        bad(
            cll(
                {
                    "b": {
                        "inputFields": [input_field("warehouse", "raw", "a")],
                        "transformationType": 5,
                    }
                }
            )
        ),
        "outputs[0].facets.columnLineage.fields.b.transformationType",
    ),
    (
        "dataSource-name-too-long",
        bad(output_facet("dataSource", facet("D", name=LONG, uri="postgres://db"))),
        "outputs[0].facets.dataSource.name",
    ),
    (
        "lifecycleStateChange-too-long",
        bad(output_facet("lifecycleStateChange", facet("L", lifecycleStateChange="X" * 33))),
        "outputs[0].facets.lifecycleStateChange.lifecycleStateChange",
    ),
    (
        "a-custom-facet-key-with-NUL",
        bad(output_facet("custom", facet("C", **{"k\x00": 1}))),
        "outputs[0].facets.custom",
    ),
    (
        "DatasetEvent-without-dataset",
        bad(lambda e: e.pop("dataset"), dataset_event(dataset("d"))),
        "dataset",
    ),
    (
        "DatasetEvent-dataset-name-missing",
        bad(lambda e: e["dataset"].pop("name"), dataset_event(dataset("d"))),
        "dataset.name",
    ),
    (
        "DatasetEvent-schema-fields-wrong",
        dataset_event(dataset("d", facets={"schema": facet("S", fields="id")})),
        "dataset.facets.schema.fields",
    ),
    ("JobEvent-without-job", bad(lambda e: e.pop("job"), job_event()), "job"),
    (
        "JobEvent-job.namespace-missing",
        bad(lambda e: e["job"].pop("namespace"), job_event()),
        "job.namespace",
    ),
]

CASE_IDS = [case_id for case_id, _, _ in EVENT_CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


@dataclass
class Store:
    """A running app on a database holding one good event."""

    client: TestClient
    database: Database

    def counts(self) -> dict[str, int]:
        return row_counts(self.database)


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One database per backend for the whole module: refused input must not change it, and
    every test checks exactly that, so sharing it is safe and saves a migration per case."""
    home = tmp_path_factory.mktemp("bad_input")
    with fresh_backend(request.param, home, migrated=True) as backend:
        database = Database(backend.url)
        settings = load_settings(database_url=backend.url, home=home)
        with TestClient(create_app(settings, database), raise_server_exceptions=False) as client:
            seed = run_event(
                "COMPLETE",
                job="seed",
                inputs=[dataset("seed_in", facets={"schema": schema_facet("a")})],
                outputs=[
                    dataset(
                        "seed_out",
                        facets={
                            "columnLineage": column_lineage_facet(
                                {"b": [input_field("warehouse", "seed_in", "a", ("DIRECT", None))]}
                            )
                        },
                    )
                ],
            )
            assert client.post("/api/v1/lineage", json=seed).status_code == 201
            yield Store(client, database)
        database.dispose()


def assert_error(response: Any, status: int, *words: str) -> None:
    """Marquez's error shape, with every one of ``words`` in the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == status
    assert isinstance(body["message"], str)
    for word in words:
        assert word in body["message"], (word, body["message"])


@pytest.mark.parametrize(("case_id", "event", "field"), EVENT_CASES, ids=CASE_IDS)
def test_a_bad_event_is_refused_naming_the_field_and_nothing_is_stored(
    store: Store,
    case_id: str,
    event: Any,
    field: str,
) -> None:
    before = store.counts()
    response = store.client.post("/api/v1/lineage", content=orjson.dumps(event))
    assert_error(response, 400, field)
    assert store.counts() == before


def test_a_batch_of_bad_events_reports_each_by_index_naming_its_field_and_stores_nothing(
    store: Store,
) -> None:
    before = store.counts()
    events = [event for _, event, _ in EVENT_CASES]
    response = store.client.post("/api/v1/lineage/batch", content=orjson.dumps(events))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"]["failed"] == body["summary"]["received"] == len(events)
    failed = body["failed_events"]
    assert [f["index"] for f in failed] == list(range(len(events)))
    for (case_id, _, field), failure in zip(EVENT_CASES, failed, strict=True):
        assert field in failure["reason"], (case_id, failure["reason"])
        assert failure["retriable"] is False
    assert store.counts() == before


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


GOOD = orjson.dumps(run_event("START"))
GZIP = {"Content-Encoding": "gzip"}
# A body that is valid JSON and one byte over the default 5 MB limit.
OVERSIZED = orjson.dumps(run_event("START", run_facets={"big": facet("B", blob="")}))
OVERSIZED = OVERSIZED.replace(
    b'"blob":""', b'"blob":"' + b"x" * (5 * MB + 1 - len(OVERSIZED)) + b'"'
)
assert len(OVERSIZED) == 5 * MB + 1


# (id, endpoint, body, headers, status, words in the message)
BODY_CASES: list[tuple[str, str, bytes, dict[str, str], int, tuple[str, ...]]] = [
    ("invalid-json", "lineage", b'{"eventType": "START", ', {}, 400, ("JSON",)),
    ("invalid-json", "lineage/batch", b"[{]", {}, 400, ("JSON",)),
    ("empty-body", "lineage", b"", {}, 400, ("JSON",)),
    ("empty-body", "lineage/batch", b"", {}, 400, ("JSON",)),
    ("not-utf-8", "lineage", b'{"producer": "\xff\xfe"}', {}, 400, ("JSON",)),
    ("number-past-double", "lineage", GOOD[:-1] + b',"x":1e999}', {}, 400, ("JSON",)),
    ("top-level-array", "lineage", b"[" + GOOD + b"]", {}, 400, ("event", "object")),
    ("object-to-batch", "lineage/batch", GOOD, {}, 400, ("array",)),
    ("null-to-batch", "lineage/batch", b"null", {}, 400, ("array",)),
    (
        "unknown-content-encoding",
        "lineage",
        GOOD,
        {"Content-Encoding": "br"},
        400,
        ("Content-Encoding",),
    ),
    (
        "unknown-content-encoding",
        "lineage/batch",
        b"[" + GOOD + b"]",
        {"Content-Encoding": "deflate"},
        400,
        ("Content-Encoding",),
    ),
    ("gzip-header-plain-body", "lineage", GOOD, GZIP, 400, ("gzip",)),
    ("gzip-truncated", "lineage", gzipped(GOOD)[:-12], GZIP, 400, ("gzip",)),
    ("gzip-of-invalid-json", "lineage/batch", gzipped(b"[{,]"), GZIP, 400, ("JSON",)),
    ("over-5-MB", "lineage", OVERSIZED, {}, 413, ("limit",)),
    ("over-5-MB", "lineage/batch", b"[" + OVERSIZED + b"]", {}, 413, ("limit",)),
    ("gzip-inflating-past-5-MB", "lineage", gzipped(OVERSIZED), GZIP, 413, ("limit",)),
    (
        "gzip-inflating-past-5-MB",
        "lineage/batch",
        gzipped(b"[" + OVERSIZED + b"]"),
        GZIP,
        413,
        ("limit",),
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "headers", "status", "words"),
    [pytest.param(*case[1:], id=f"{case[1]}-{case[0]}") for case in BODY_CASES],
)
def test_a_bad_body_is_refused_with_a_clear_message_and_nothing_is_stored(
    store: Store,
    endpoint: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: tuple[str, ...],
) -> None:
    before = store.counts()
    response = store.client.post(
        f"/api/v1/{endpoint}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert_error(response, status, *words)
    assert store.counts() == before


@pytest.fixture
def small_client(backend: Backend, database: Database, tmp_path: Path) -> Iterator[TestClient]:
    """The app with ``max_body_bytes`` set to 4 KB."""
    settings = load_settings(database_url=backend.url, home=tmp_path, max_body_bytes=4096)
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as c:
        yield c


def test_max_body_bytes_sets_the_limit_before_and_after_gzip(
    small_client: TestClient, database: Database
) -> None:
    small = run_event("START", job="small")
    large = run_event("START", job="large", run_facets={"big": facet("B", blob="x" * 5000)})
    before = row_counts(database)
    for endpoint, payload in (("lineage", large), ("lineage/batch", [large])):
        body = orjson.dumps(payload)
        response = small_client.post(f"/api/v1/{endpoint}", content=body)
        assert_error(response, 413, "4096")
        response = small_client.post(f"/api/v1/{endpoint}", content=gzipped(body), headers=GZIP)
        assert len(gzipped(body)) < 4096
        assert_error(response, 413, "4096")
    assert row_counts(database) == before

    assert small_client.post("/api/v1/lineage", content=orjson.dumps(small)).status_code == 201


# -- the limits themselves are fine ----------------------------------------------------------


def test_names_at_the_limits_are_accepted(client: TestClient) -> None:
    """1024-character names (also ``parent.child`` in all), 64-character transformation
    types and 32-character lifecycle states are stored on every backend."""
    name = "n" * 1024
    lineage = cll_transformations([{"type": "T" * 64, "subtype": "S" * 64}])
    event = bad(lineage)
    event["job"].update(namespace=name, name="c" * 511)
    event["run"]["facets"]["parent"] = parent_facet("p" * 512, "r", namespace=name)
    event["inputs"][0].update(namespace=name, name=name)
    event["outputs"][0]["facets"]["lifecycleStateChange"] = facet(
        "L", lifecycleStateChange="L" * 32
    )
    event["outputs"][0]["facets"]["dataSource"] = facet("D", name=name, uri="postgres://db")
    event["outputs"][0]["facets"]["columnLineage"]["fields"] = {
        name: {"inputFields": [input_field(name, name, name)]}
    }
    response = client.post("/api/v1/lineage", content=orjson.dumps(event))
    assert response.status_code == 201, response.text
    assert client.get(f"/api/v1/jobs/runs/{event['run']['runId']}").status_code == 200


def test_text_that_merely_looks_like_an_escaped_nul_is_accepted(client: TestClient) -> None:
    """A SQL facet may well contain the six characters ``\\u0000``: that is not a NUL."""
    event = run_event("START", job_facets={"sql": facet("SQL", query="SELECT '\\u0000'")})
    assert client.post("/api/v1/lineage", json=event).status_code == 201


def test_nanosecond_and_zoneless_timestamps_are_accepted(client: TestClient) -> None:
    """Nanoseconds are cut to microseconds; a timestamp without a zone is UTC."""
    run_id = new_run_id()
    start = run_event("START", run_id=run_id)
    start["eventTime"] = "2024-05-01T12:00:00.123456789Z"
    complete = run_event("COMPLETE", run_id=run_id)
    complete["eventTime"] = "2024-05-01T12:01:00"
    for event in (start, complete):
        assert client.post("/api/v1/lineage", json=event).status_code == 201
    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["startedAt"] == "2024-05-01T12:00:00.123456Z"
    assert run["endedAt"] == "2024-05-01T12:01:00Z"
