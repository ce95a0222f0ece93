"""Compatibility with real producers: every reference event, sent the way producers send it.

A real ``headwater serve`` process (on SQLite and on PostgreSQL) receives every event of
``shared/reference/openlineage-compat/`` and ``shared/reference/marquez/open_lineage/`` from the
real openlineage-python client: HTTP transport, gzip bodies, an API key sent as a bearer token.
An event the client refuses to build (say, a runId that is not a UUID) goes as the same raw JSON
over HTTP instead, and the suite pins down exactly which events those are and why. What the
Marquez read API then answers is checked against what the events say.

Each test replays the whole corpus into a fresh database (several fixtures share jobs, runs and
datasets on purpose, so every expectation holds for the state all events leave together). A
server start and a replay cost seconds, so the tests are few and each checks a group of
``expect_*`` specifications.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.client import Event
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.transport.http import HttpConfig, HttpTransport

from headwater.lineage.events import run_uuid_for
from tests.conftest import REFERENCE, LiveServer, reference_events

pytestmark = pytest.mark.slow

FOLDERS = ("openlineage-compat", "marquez/open_lineage")
API_KEY = "compat-suite-key"

# The only events that may bypass the client, with a phrase of the reason each one must give.
EXPECTED_RAW = {
    # runId "run_id": the client's Run insists on a UUID.
    "openlineage-compat/simple_run_event/events/simple_run_event.json": (
        "badly formed hexadecimal UUID string"
    ),
    # A JobEvent with an eventType, which the spec's JobEvent (and the client's) does not have.
    "marquez/open_lineage/event_job_event.json": "unexpected keyword argument 'eventType'",
    "marquez/open_lineage/event_without_schema_url.json": "no schemaURL",
    "marquez/open_lineage/listener/1.json": "no schemaURL",
    "marquez/open_lineage/listener/2.json": "no schemaURL",
}

CLL_EVENTS = "openlineage-compat/CLL/events"
LARGE_EVENT = "marquez/open_lineage/event_large.json"
LARGE_RUN = "ea041791-68bc-4ae1-bd89-4c8106a157e4"
HDFS = "hdfs://dataproc-producer-test-m"


# -- sending ---------------------------------------------------------------------------------


class ClientRefused(Exception):
    """The openlineage client cannot build this event as it is."""


def client_event(raw: dict[str, Any]) -> Event:
    """The client's own event object for ``raw``, or `ClientRefused` saying why not.

    Every top-level field goes to the client's constructors, so a field the client does not
    model is refused rather than silently dropped. Facets stay the mappings they are: the
    client serialises any mapping, while its typed facet classes would not round-trip custom
    facets. The kind comes from the ``schemaURL`` suffix, as Marquez reads it; the client then
    stamps its own ``schemaURL`` of that kind, so it cannot send an event that has none.
    """
    schema_url = raw.get("schemaURL")
    if not isinstance(schema_url, str):
        raise ClientRefused("no schemaURL: the client stamps one on every event it builds")
    fields = {key: value for key, value in raw.items() if key != "schemaURL"}
    try:
        if "inputs" in fields:
            fields["inputs"] = [InputDataset(**item) for item in fields["inputs"]]
        if "outputs" in fields:
            fields["outputs"] = [OutputDataset(**item) for item in fields["outputs"]]
        if "job" in fields:
            fields["job"] = Job(**fields["job"])
        if schema_url.endswith("DatasetEvent"):
            fields["dataset"] = StaticDataset(**fields["dataset"])
            return DatasetEvent(**fields)
        if schema_url.endswith("JobEvent"):
            return JobEvent(**fields)
        fields["run"] = Run(**fields["run"])
        if "eventType" in fields:
            fields["eventType"] = RunState(fields["eventType"])
        return RunEvent(**fields)
    except (TypeError, ValueError) as exc:
        raise ClientRefused(f"{type(exc).__name__}: {exc}") from exc


@dataclass
class WireRequest:
    """One POST the client made, as it went over the wire, and the server's answer."""

    headers: dict[str, str]
    event: dict[str, Any]
    status: int
    answer: str


@dataclass
class Replay:
    """The corpus replayed into a live server: what was sent, how, and a reader of the API."""

    api: httpx.Client
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> event on the wire
    raw: dict[str, str] = field(default_factory=dict)  # file -> why it bypassed the client
    client_requests: list[WireRequest] = field(default_factory=list)

    def get(self, *segments: str, **params: str) -> Any:
        """GET ``/api/v1/<segments>``, each segment percent-encoded as Marquez clients do."""
        path = "/".join(quote(segment, safe="") for segment in segments)
        response = self.api.get(f"/api/v1/{path}", params=params)
        assert response.status_code == 200, f"GET {response.url}: {response.text}"
        return response.json()

    def logged_events(self, **params: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.get("events", "lineage", limit="1000", **params)
        return answer


def _recorder(seen: list[WireRequest]) -> Callable[..., None]:
    """A ``requests`` response hook keeping each request the client sent, body decompressed."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        assert isinstance(body, bytes), "the client sent a text body, not gzip"
        seen.append(
            WireRequest(
                headers=dict(response.request.headers),
                event=json.loads(gzip.decompress(body)),
                status=response.status_code,
                answer=response.text,
            )
        )

    return hook


def _post_raw(api: httpx.Client, name: str, raw: dict[str, Any]) -> None:
    response = api.post(
        "/api/v1/lineage",
        content=gzip.compress(json.dumps(raw).encode()),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {API_KEY}",
        },
    )
    assert response.status_code == 201, f"{name} (raw): {response.text}"


@pytest.fixture
def replayed(live_server: LiveServer) -> Iterator[Replay]:
    """A live server on a fresh database that has received every reference event, in order."""
    transport = HttpTransport(
        HttpConfig.from_dict(
            {
                "url": live_server.url,
                "endpoint": "api/v1/lineage",
                "compression": "gzip",
                "auth": {"type": "api_key", "apiKey": API_KEY},
                # A server error should fail the test at once, not after retries.
                "retry": {"status_forcelist": []},
            }
        )
    )
    with httpx.Client(base_url=live_server.url, timeout=30) as api:
        replay = Replay(api)
        transport.session.hooks["response"].append(_recorder(replay.client_requests))
        client = OpenLineageClient(transport=transport)
        assert client.transport is transport, "OPENLINEAGE_* settings replaced the transport"
        for folder in FOLDERS:
            for name, raw in reference_events(folder):
                try:
                    event = client_event(raw)
                except ClientRefused as refusal:
                    replay.raw[name] = str(refusal)
                    _post_raw(api, name, raw)
                    replay.sent[name] = raw
                    continue
                client.emit(event)
                assert len(replay.client_requests) == len(replay.sent) - len(replay.raw) + 1, (
                    f"{name}: the client sent nothing (filtered out by OPENLINEAGE_* settings?)"
                )
                wire = replay.client_requests[-1]
                assert wire.status == 201, f"{name} (client): {wire.status} {wire.answer}"
                replay.sent[name] = wire.event
        client.close()
        yield replay


def canonical(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True)


def instant(text: str | None) -> datetime:
    """A timestamp the API returned, compared as an instant rather than as text."""
    assert text is not None
    return datetime.fromisoformat(text)


def ids(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Marquez dataset ids, in the order the API lists them (namespace, then name)."""
    return [{"namespace": ns, "name": name} for ns, name in sorted(pairs)]


# -- ingestion -------------------------------------------------------------------------------


def test_every_reference_event_is_accepted_and_logged_once_exactly_as_sent(
    replayed: Replay,
) -> None:
    """Every event is accepted (201). The client sends each event it can build, gzip-compressed
    with the API key as a bearer token; only the listed events go raw, for the listed reasons.
    ``GET /events/lineage`` then counts distinct events (the Dataproc scenario repeats four
    events of the complete one, and an identical re-send is one event) and returns each exactly
    as it went over the wire, the 220 KB one included.
    """
    corpus = [name for folder in FOLDERS for name, _ in reference_events(folder)]
    assert sorted(replayed.sent) == sorted(corpus)
    assert set(replayed.raw) == set(EXPECTED_RAW)
    for name, phrase in EXPECTED_RAW.items():
        assert phrase in replayed.raw[name], name
    assert len(replayed.client_requests) == len(corpus) - len(EXPECTED_RAW)
    for request in replayed.client_requests:
        assert request.headers["Content-Encoding"] == "gzip"
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"

    distinct = {canonical(event) for event in replayed.sent.values()}
    assert len(distinct) < len(corpus)  # the corpus does hold exact repeats
    logged = replayed.logged_events()
    assert logged["totalCount"] == len(distinct)
    assert {canonical(event) for event in logged["events"]} == distinct


# -- the compatibility suite's scenarios -----------------------------------------------------


def test_the_compatibility_suite_scenarios_read_back_as_their_events_say(
    replayed: Replay,
) -> None:
    """Column lineage of the CLL scenario, the Spark jobs of all scenarios, and the simplest
    event every consumer must accept, as the Marquez API answers them."""
    expect_column_lineage_of_the_cll_scenario(replayed)
    expect_spark_jobs_with_their_inputs_outputs_parents_and_runs(replayed)
    expect_a_run_id_that_is_not_a_uuid_to_be_found_by_itself_and_by_a_fixed_uuid(replayed)


def expect_column_lineage_of_the_cll_scenario(replayed: Replay) -> None:
    """``tbl1`` (a CTAS over ``cll_source1`` joined with ``cll_source2``) has, per output field,
    exactly the input fields and transformations of Spark's columnLineage facet, each input's
    type being its DIRECT transformation if it has one (identity, transformation, aggregation).
    """
    source1, source2, tbl1 = (f"/tmp/cll_test/{t}" for t in ("cll_source1", "cll_source2", "tbl1"))
    graph = replayed.get("column-lineage", nodeId=f"datasetField:file:{tbl1}:ident")
    nodes = {node["id"]: node for node in graph["graph"]}
    inputs = [
        f"datasetField:file:{source1}:a",
        f"datasetField:file:{source1}:b",
        f"datasetField:file:{source2}:a",
    ]
    assert set(nodes) == {f"datasetField:file:{tbl1}:ident", *inputs}
    ident = nodes[f"datasetField:file:{tbl1}:ident"]
    assert ident["type"] == "DATASET_FIELD"
    assert (ident["data"]["namespace"], ident["data"]["dataset"]) == ("file", tbl1)
    assert ident["data"]["fieldType"] == "integer"
    assert sorted(
        (f["namespace"], f["dataset"], f["field"], f["transformationType"])
        for f in ident["data"]["inputFields"]
    ) == [
        ("file", source1, "a", "DIRECT"),
        ("file", source1, "b", "INDIRECT"),
        ("file", source2, "a", "INDIRECT"),
    ]
    assert sorted(edge["origin"] for edge in ident["inEdges"]) == inputs
    for origin in inputs:
        assert nodes[origin]["outEdges"] == [
            {"origin": origin, "destination": f"datasetField:file:{tbl1}:ident"}
        ]

    # The whole dataset, against the facet the last CLL event sent.
    [output] = replayed.sent[f"{CLL_EVENTS}/8.json"]["outputs"]
    facet = output["facets"]["columnLineage"]
    whole = replayed.get("column-lineage", nodeId=f"dataset:file:{tbl1}")
    by_field = {
        n["data"]["field"]: n["data"] for n in whole["graph"] if n["data"]["dataset"] == tbl1
    }
    assert set(by_field) == set(facet["fields"]) == {"ident", "trans", "agg"}
    for out_field, spec in facet["fields"].items():
        served = [
            (f["namespace"], f["dataset"], f["field"], f["transformations"])
            for f in by_field[out_field]["inputFields"]
        ]
        sent = [
            (f["namespace"], f["name"], f["field"], f["transformations"])
            for f in spec["inputFields"]
        ]
        assert sorted(served, key=repr) == sorted(sent, key=repr), out_field
    assert sorted(
        (f["dataset"], f["field"], f["transformationType"], f["transformationSubtype"])
        for f in by_field["agg"]["inputFields"]
    ) == [
        (source1, "a", "INDIRECT", "GROUP_BY"),
        (source1, "b", "INDIRECT", "GROUP_BY"),
        (source2, "a", "INDIRECT", "JOIN"),
        (source2, "c", "DIRECT", "AGGREGATION"),
    ]


# (namespace, job) -> (inputs, outputs) of the job's current version, as the Spark events say.
SPARK_JOBS = {
    ("default", "cl_i_test_application.execute_insert_into_hive_table.warehouse_t2"): (
        ids((HDFS, "/user/hive/warehouse/t1")),
        ids((HDFS, "/user/hive/warehouse/t2")),
    ),
    ("default", "cl_i_test_application.execute_insert_into_hive_table.warehouse_t1"): (
        [],
        ids((HDFS, "/user/hive/warehouse/t1")),
    ),
    ("default", "cl_i_test_application.execute_create_table_command.warehouse_t1"): (
        [],
        ids((HDFS, "/user/hive/warehouse/t1")),
    ),
    ("default", "cl_i_test_application.execute_create_hive_table_as_select_command.default_t2"): (
        [],
        ids((HDFS, "/user/hive/warehouse/t2")),
    ),
    # Two runs: dropping t1, then t2; the job is what its latest run did.
    ("default", "cl_i_test_application.drop_table"): ([], ids((HDFS, "/user/hive/warehouse/t2"))),
    (
        "testColumnLevelLineage",
        "open_lineage_integration_create_table.execute_create_hive_table_as_select_command.default_tbl1",
    ): (
        ids(("file", "/tmp/cll_test/cll_source1"), ("file", "/tmp/cll_test/cll_source2")),
        ids(("file", "/tmp/cll_test/tbl1")),
    ),
    (
        "testColumnLevelLineage",
        "open_lineage_integration_create_table.execute_create_table_command.cll_test_cll_source1",
    ): ([], ids(("file", "/tmp/cll_test/cll_source1"))),
    (
        "testColumnLevelLineage",
        "open_lineage_integration_create_table.execute_create_table_command.cll_test_cll_source2",
    ): ([], ids(("file", "/tmp/cll_test/cll_source2"))),
}
SPARK_APPLICATIONS = {
    "default": "cl_i_test_application",
    "testColumnLevelLineage": "open_lineage_integration_create_table",
}


def expect_spark_jobs_with_their_inputs_outputs_parents_and_runs(replayed: Replay) -> None:
    """Each Spark action is a child job of its application (parent run facet) with the inputs
    and outputs of its latest run; the application jobs read and write nothing; every run that
    sent COMPLETE is COMPLETED, with its START and COMPLETE times; Hive tables dropped and
    created again end with their schema and the CREATE state.
    """
    for (namespace, name), (inputs, outputs) in SPARK_JOBS.items():
        job = replayed.get("namespaces", namespace, "jobs", name)
        assert (job["inputs"], job["outputs"]) == (inputs, outputs), name
        assert job["parentJobName"] == SPARK_APPLICATIONS[namespace], name
        assert job["simpleName"] == name.removeprefix(SPARK_APPLICATIONS[namespace] + "."), name
        assert job["latestRun"]["state"] == "COMPLETED", name
    for namespace, application in SPARK_APPLICATIONS.items():
        job = replayed.get("namespaces", namespace, "jobs", application)
        assert (job["inputs"], job["outputs"], job["parentJobName"]) == ([], [], None)
        assert job["latestRun"]["state"] == "COMPLETED"
    listed = replayed.get("namespaces", "default", "jobs")
    assert listed["totalCount"] == 1 + sum(ns == "default" for ns, _ in SPARK_JOBS)
    drops = replayed.get(
        "namespaces", "default", "jobs", "cl_i_test_application.drop_table", "runs"
    )
    assert drops["totalCount"] == 2

    run = replayed.get("jobs", "runs", "019299c5-73cf-7069-a70f-74eb8070b577")
    assert run["jobVersion"]["namespace"] == "default"
    assert run["jobVersion"]["name"] == (
        "cl_i_test_application.execute_insert_into_hive_table.warehouse_t2"
    )
    assert run["state"] == "COMPLETED"
    assert instant(run["startedAt"]) == instant("2024-10-17T09:18:26.825Z")  # START
    assert instant(run["endedAt"]) == instant("2024-10-17T09:18:29.267Z")  # COMPLETE
    assert [v["datasetVersionId"]["name"] for v in run["inputDatasetVersions"]] == [
        "/user/hive/warehouse/t1"
    ]
    assert [v["datasetVersionId"]["name"] for v in run["outputDatasetVersions"]] == [
        "/user/hive/warehouse/t2"
    ]

    for table in ("t1", "t2"):
        dataset = replayed.get("namespaces", HDFS, "datasets", f"/user/hive/warehouse/{table}")
        assert [(f["name"], f["type"]) for f in dataset["fields"]] == [
            ("a", "integer"),
            ("b", "string"),
        ]
        assert dataset["lastLifecycleState"] == "CREATE"


def expect_a_run_id_that_is_not_a_uuid_to_be_found_by_itself_and_by_a_fixed_uuid(
    replayed: Replay,
) -> None:
    """``simple_run_event``'s runId ``run_id`` maps to one deterministic UUID; the run answers
    under both, keeps ``run_id`` as its external id and is its job's latest run."""
    run = replayed.get("jobs", "runs", "run_id")
    mapped = run_uuid_for("run_id")[0]
    assert run["id"] == mapped == str(uuid.UUID(mapped))
    assert run["externalId"] == "run_id"
    assert replayed.get("jobs", "runs", mapped) == run
    assert run["state"] == "COMPLETED"
    assert run["jobVersion"]["namespace"] == "job_namespace"
    assert run["jobVersion"]["name"] == "job_name"
    job = replayed.get("namespaces", "job_namespace", "jobs", "job_name")
    assert job["latestRun"]["id"] == mapped
    assert job["inputs"] == ids(("bigquery", "test.table.input"))
    assert job["outputs"] == ids(("bigquery", "test.table.output"))


# -- Marquez's own ingestion fixtures --------------------------------------------------------


def test_marquez_ingestion_fixtures_read_back_as_their_events_say(replayed: Replay) -> None:
    """The large, DatasetEvent, JobEvent, unicode, timestamp and naming fixtures of Marquez's
    own test suite, as the Marquez API answers them."""
    expect_the_220_kb_event_to_round_trip_its_facets(replayed)
    expect_dataset_and_job_events_to_create_the_dataset_and_the_job_without_a_run(replayed)
    expect_unicode_names_to_survive_ingestion_and_percent_encoded_lookup(replayed)
    expect_sub_millisecond_and_zoneless_timestamps_to_be_accepted_as_utc(replayed)
    expect_names_with_slashes_and_colons_to_be_reachable_percent_encoded(replayed)


def expect_the_220_kb_event_to_round_trip_its_facets(replayed: Replay) -> None:
    """``event_large.json`` (a 92 KB custom dataset facet, a 60 KB parent run facet) goes
    through the client with its facets untouched (the client adds only its ``tags`` run facet),
    is logged once exactly as sent, and its output dataset returns every facet it set, whole.
    """
    large = REFERENCE / LARGE_EVENT
    assert large.stat().st_size > 200_000
    original = json.loads(large.read_text())
    sent = replayed.sent[LARGE_EVENT]
    assert LARGE_EVENT not in replayed.raw
    assert sent["job"]["facets"] == original["job"]["facets"]
    run_facets = {k: v for k, v in sent["run"]["facets"].items() if k != "tags"}
    assert run_facets == original["run"]["facets"]
    for side in ("inputs", "outputs"):
        assert [d["facets"] for d in sent[side]] == [d["facets"] for d in original[side]]

    assert [e for e in replayed.logged_events()["events"] if e == sent] == [sent]

    [output] = original["outputs"]
    dataset = replayed.get("namespaces", output["namespace"], "datasets", output["name"])
    for key, facet in output["facets"].items():
        assert dataset["facets"][key] == facet, key
    assert dataset["fields"] == [
        {"name": "column1", "type": "VARCHAR", "tags": [], "description": "string"}
    ]
    run = replayed.get("jobs", "runs", LARGE_RUN)
    assert run["state"] == "COMPLETED"
    # The fixture names the job as its own parent: no hierarchy, the name stays as sent.
    job = replayed.get("namespaces", original["job"]["namespace"], "jobs", original["job"]["name"])
    assert job["parentJobName"] is None
    assert job["simpleName"] == original["job"]["name"]
    for key in ("nominalTime", "additionalProp1", "additionalProp2", "additionalProp3"):
        assert run["facets"][key] == original["run"]["facets"][key], key


def expect_dataset_and_job_events_to_create_the_dataset_and_the_job_without_a_run(
    replayed: Replay,
) -> None:
    """A DatasetEvent creates its dataset with the schema it carries; a JobEvent creates a job
    version over its inputs and outputs and documents them, but starts no run."""
    dataset = replayed.get("namespaces", "my-dataset-namespace", "datasets", "my-dataset-name")
    assert dataset["fields"] == [
        {"name": "col_a", "type": "VARCHAR", "tags": [], "description": "string"}
    ]
    assert dataset["facets"]["schema"]["fields"] == [
        {"name": "col_a", "type": "VARCHAR", "description": "string"}
    ]

    versions = replayed.get("namespaces", "my-scheduler-namespace", "jobs", "myjob", "versions")
    assert (
        ids(("my-datasource-namespace", "instance.schema.input-1")),
        ids(("my-datasource-namespace", "instance.schema.output-1")),
    ) in [(v["inputs"], v["outputs"]) for v in versions["versions"]]
    for name, description in (
        ("instance.schema.input-1", "input documentation"),
        ("instance.schema.output-1", "output documentation"),
    ):
        documented = replayed.get("namespaces", "my-datasource-namespace", "datasets", name)
        assert documented["description"] == description
    # Only run events make runs: event_simple and event_without_schema_url share one run, the
    # two listener events another.
    runs = replayed.get("namespaces", "my-scheduler-namespace", "jobs", "myjob", "runs")
    assert sorted(run["id"] for run in runs["runs"]) == [
        "41fb5137-f0fd-4ee5-ba5c-56f8571d1bd7",
        "5e58a95c-1c71-4231-8984-ac172d5566cf",
    ]


def expect_unicode_names_to_survive_ingestion_and_percent_encoded_lookup(
    replayed: Replay,
) -> None:
    """A job named with an emoji is stored, listed and found under its exact name."""
    name = "myjob.buggy_task\N{SPIDER}"
    job = replayed.get("namespaces", "my-scheduler-namespace", "jobs", name)
    assert job["name"] == job["simpleName"] == name
    assert job["latestRun"]["id"] == "1d8f4596-b3f2-4ebb-9e75-8ecc955b834a"
    listed = replayed.get("namespaces", "my-scheduler-namespace", "jobs")
    assert name in [j["name"] for j in listed["jobs"]]
    run = replayed.get("jobs", "runs", "1d8f4596-b3f2-4ebb-9e75-8ecc955b834a")
    assert run["jobVersion"]["name"] == name


def expect_sub_millisecond_and_zoneless_timestamps_to_be_accepted_as_utc(
    replayed: Replay,
) -> None:
    """``...01.641499Z`` keeps its microseconds and ``...01.641499`` (no zone) means UTC: both
    fall in the same microsecond, the ``...01.641Z`` event does not; all three share one run,
    created at the time of the first one sent, microseconds included."""
    answer = replayed.logged_events(
        after="2020-12-28T19:51:01.641499Z", before="2020-12-28T19:51:01.641500Z"
    )
    assert sorted(event["eventTime"] for event in answer["events"]) == [
        "2020-12-28T19:51:01.641499",
        "2020-12-28T19:51:01.641499Z",
    ]
    runs = replayed.get("namespaces", "my-namespace", "jobs", "myjob", "runs")
    assert [run["id"] for run in runs["runs"]] == ["43d7db3b-8984-4cda-b237-8c6919b36670"]
    [run] = runs["runs"]
    assert replayed.sent["marquez/open_lineage/event_required_nanoseconds.json"]["eventTime"] == (
        "2020-12-28T19:51:01.641499Z"
    )
    assert instant(run["createdAt"]) == instant("2020-12-28T19:51:01.641499Z")
    assert run["state"] == "NEW"  # none of the three has an eventType


def expect_names_with_slashes_and_colons_to_be_reachable_percent_encoded(
    replayed: Replay,
) -> None:
    """Namespaces such as ``s3://blob-source`` and names such as ``file://localhost/in_file1.txt``
    or ``/tmp/cll_test/tbl1`` are addressed as single percent-encoded path segments."""
    for namespace, name in (
        ("s3://blob-source", "instance.schema.table"),
        ("s3://blob-sink", "instance.schema.table"),
        ("file.localhost", "file://localhost/in_file1.txt"),
        ("file.localhost", "file://localhost/out_file2.txt"),
        ("file", "/tmp/cll_test/tbl1"),
        (HDFS, "/user/hive/warehouse/t1"),
    ):
        dataset = replayed.get("namespaces", namespace, "datasets", name)
        assert dataset["id"] == {"namespace": namespace, "name": name}
    assert replayed.get("namespaces", "s3://blob-source")["name"] == "s3://blob-source"
    listed = replayed.get("namespaces", "file.localhost", "datasets")
    assert [d["name"] for d in listed["datasets"]] == [
        f"file://localhost/{stem}.txt"
        for stem in ("in_file1", "in_file2", "in_file3", "out_file1", "out_file2")
    ]
