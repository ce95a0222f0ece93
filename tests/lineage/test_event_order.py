"""Real-world event order: late, repeated and re-sent events, and facets kept as sent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from headwater.db import Database
from tests.lineage.events_factory import (
    at,
    dataset,
    facet,
    new_run_id,
    row_counts,
    run_event,
)
from tests.lineage.graph_factory import post


def get_run(client: TestClient, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/jobs/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_complete_arriving_before_start_ends_completed_with_both_times(
    client: TestClient,
) -> None:
    run_id = new_run_id()
    post(client, run_event("COMPLETE", run_id=run_id, minute=10))
    post(client, run_event("START", run_id=run_id, minute=0))

    run = get_run(client, run_id)
    assert run["state"] == "COMPLETED"
    assert run["startedAt"] == at(0)
    assert run["endedAt"] == at(10)
    assert run["durationMs"] == 10 * 60 * 1000


@pytest.mark.parametrize(
    ("terminal", "state"), [("COMPLETE", "COMPLETED"), ("FAIL", "FAILED"), ("ABORT", "ABORTED")]
)
def test_a_late_start_or_running_never_undoes_a_terminal_state(
    client: TestClient, terminal: str, state: str
) -> None:
    """Even when the late event's own eventTime is after the terminal one (clock skew)."""
    run_id = new_run_id()
    post(client, run_event("START", run_id=run_id, minute=0))
    post(client, run_event(terminal, run_id=run_id, minute=5))
    for late, minute in (("START", 3), ("RUNNING", 4), ("START", 6), ("RUNNING", 7)):
        post(client, run_event(late, run_id=run_id, minute=minute))

    run = get_run(client, run_id)
    assert run["state"] == state
    assert run["startedAt"] == at(0)
    assert run["endedAt"] == at(5)


def test_several_starts_keep_the_earliest_start_time(client: TestClient) -> None:
    run_id = new_run_id()
    for minute in (4, 1, 6):
        post(client, run_event("START", run_id=run_id, minute=minute))
    run = get_run(client, run_id)
    assert run["state"] == "RUNNING"
    assert run["startedAt"] == at(1)
    assert client.get("/api/v1/namespaces/ns/jobs/job/runs").json()["totalCount"] == 1


def test_running_events_keep_an_open_run_running(client: TestClient) -> None:
    run_id = new_run_id()
    post(client, run_event("START", run_id=run_id, minute=0))
    post(client, run_event("RUNNING", run_id=run_id, minute=1))
    post(client, run_event("RUNNING", run_id=run_id, minute=2))
    run = get_run(client, run_id)
    assert run["state"] == "RUNNING"
    assert run["startedAt"] == at(0)
    assert run["endedAt"] is None


def test_a_run_first_seen_through_running_is_running_from_then(client: TestClient) -> None:
    run_id = new_run_id()
    post(client, run_event("RUNNING", run_id=run_id, minute=2))
    run = get_run(client, run_id)
    assert (run["state"], run["startedAt"]) == ("RUNNING", at(2))


def test_other_events_never_change_the_state_but_their_facets_are_kept(
    client: TestClient,
) -> None:
    run_id = new_run_id()
    progress = facet("ProgressRunFacet", percent=40)
    post(client, run_event("START", run_id=run_id, minute=0))
    post(client, run_event("OTHER", run_id=run_id, minute=1, run_facets={"progress": progress}))
    run = get_run(client, run_id)
    assert run["state"] == "RUNNING"
    assert run["facets"]["progress"] == progress

    post(client, run_event("COMPLETE", run_id=run_id, minute=2))
    post(client, run_event("OTHER", run_id=run_id, minute=3))
    assert get_run(client, run_id)["state"] == "COMPLETED"


def test_an_event_without_event_type_is_like_other(client: TestClient) -> None:
    run_id = new_run_id()
    post(client, run_event("START", run_id=run_id, minute=0))
    post(client, run_event(None, run_id=run_id, minute=1))
    assert get_run(client, run_id)["state"] == "RUNNING"


def test_between_two_terminal_events_the_later_event_time_wins(client: TestClient) -> None:
    """FAIL at minute 9 then a late COMPLETE at minute 5: the run failed."""
    first, second = new_run_id(), new_run_id()
    post(client, run_event("FAIL", run_id=first, minute=9))
    post(client, run_event("COMPLETE", run_id=first, minute=5))
    post(client, run_event("COMPLETE", run_id=second, minute=5))
    post(client, run_event("FAIL", run_id=second, minute=9))

    for run_id in (first, second):
        run = get_run(client, run_id)
        assert (run["state"], run["endedAt"]) == ("FAILED", at(9))


def test_an_exact_duplicate_event_is_a_no_op(client: TestClient, database: Database) -> None:
    run_id = new_run_id()
    event = run_event(
        "START",
        run_id=run_id,
        inputs=[dataset("raw", facets={"custom": facet("X", a=1)})],
        outputs=[dataset("clean")],
    )
    post(client, event)
    before_counts = row_counts(database)
    before_run = get_run(client, run_id)
    before_job = client.get("/api/v1/namespaces/ns/jobs/job").json()

    post(client, event)
    # The same event with its keys in another order is still the same event.
    reordered = orjson.loads(orjson.dumps(dict(reversed(list(event.items())))))
    post(client, reordered)

    assert row_counts(database) == before_counts
    assert get_run(client, run_id) == before_run
    assert client.get("/api/v1/namespaces/ns/jobs/job").json() == before_job
    assert client.get("/api/v1/events/lineage").json()["totalCount"] == 1


def test_a_facet_resent_under_the_same_name_replaces_the_old_one(client: TestClient) -> None:
    """Facets are replaced whole by name, on runs, jobs, datasets and run inputs alike."""
    run_id = new_run_id()
    old = facet("Custom", a=1, b=[1, 2])
    new = facet("Custom", a=2)

    def event(minute: int, custom: dict[str, Any]) -> dict[str, Any]:
        return run_event(
            "RUNNING",
            run_id=run_id,
            minute=minute,
            run_facets={"custom": custom},
            job_facets={"custom": custom},
            inputs=[dataset("raw", facets={"custom": custom}, input_facets={"custom": custom})],
        )

    post(client, event(0, old))
    post(client, event(1, new))

    run = get_run(client, run_id)
    assert run["facets"]["custom"] == new
    assert run["inputDatasetVersions"][0]["facets"]["custom"] == new
    assert client.get("/api/v1/namespaces/ns/jobs/job").json()["facets"]["custom"] == new
    ds = client.get("/api/v1/namespaces/warehouse/datasets/raw").json()
    assert ds["facets"]["custom"] == new


def test_facets_not_resent_are_kept(client: TestClient) -> None:
    run_id = new_run_id()
    first = facet("First", n=1)
    second = facet("Second", n=2)
    post(client, run_event("START", run_id=run_id, run_facets={"first": first}))
    post(client, run_event("COMPLETE", run_id=run_id, minute=1, run_facets={"second": second}))
    facets = get_run(client, run_id)["facets"]
    assert (facets["first"], facets["second"]) == (first, second)


def test_unknown_and_custom_facets_are_kept_and_returned_as_sent(client: TestClient) -> None:
    """Facets headwater does not know, with unresolvable ``_schemaURL``s, come back intact."""
    run_id = new_run_id()

    def custom(where: str) -> dict[str, Any]:
        return {
            "_producer": "https://example.invalid/producer",
            "_schemaURL": f"https://example.invalid/no/such/schema.json#/$defs/{where}",
            "where": where,
            "nested": {"list": [1, 2.5, None, True, "ünïcødé ✓"], "empty": {}},
        }

    event = run_event(
        "START",
        run_id=run_id,
        run_facets={"acme_run": custom("run")},
        job_facets={"acme_job": custom("job")},
        inputs=[
            dataset(
                "raw",
                facets={"acme_dataset": custom("input")},
                input_facets={"acme_in": custom("inputFacet")},
            )
        ],
        outputs=[
            dataset(
                "clean",
                facets={"acme_dataset": custom("output")},
                output_facets={"acme_out": custom("outputFacet")},
            )
        ],
    )
    post(client, event)

    run = get_run(client, run_id)
    assert run["facets"]["acme_run"] == custom("run")
    assert run["inputDatasetVersions"][0]["facets"] == {"acme_in": custom("inputFacet")}
    assert run["outputDatasetVersions"][0]["facets"] == {"acme_out": custom("outputFacet")}
    job = client.get("/api/v1/namespaces/ns/jobs/job").json()
    assert job["facets"]["acme_job"] == custom("job")
    job_facets = client.get(f"/api/v1/jobs/runs/{run_id}/facets", params={"type": "job"}).json()
    assert job_facets["facets"]["acme_job"] == custom("job")
    raw = client.get("/api/v1/namespaces/warehouse/datasets/raw").json()
    clean = client.get("/api/v1/namespaces/warehouse/datasets/clean").json()
    assert raw["facets"]["acme_dataset"] == custom("input")
    assert clean["facets"]["acme_dataset"] == custom("output")
    versions = client.get("/api/v1/namespaces/warehouse/datasets/clean/versions").json()
    assert versions["versions"][0]["facets"]["acme_dataset"] == custom("output")
    # The raw event is returned whole, as sent.
    assert client.get("/api/v1/events/lineage").json()["events"] == [event]


def test_null_facets_are_ignored(client: TestClient) -> None:
    """A facet sent as null means no facet (some clients serialise unset facets that way)."""
    run_id = new_run_id()
    post(client, run_event("START", run_id=run_id, run_facets={"kept": facet("K"), "gone": None}))
    facets = get_run(client, run_id)["facets"]
    assert "kept" in facets and "gone" not in facets
