"""One transaction per event: the raw event and every row it touches commit together or not at all.

Failures are real database failures: a trigger installed in the test database raises when a
row for the dataset named ``poison`` is inserted into ``run_io`` (written last, after every
other table) or ``column_lineage`` (written early, right after the datasets).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from headwater.db import Database
from headwater.db.schema import datasets, jobs, lineage_events, namespaces, runs
from tests.lineage.events_factory import (
    column_lineage_facet,
    dataset,
    facet,
    input_field,
    new_run_id,
    row_counts,
    run_event,
    schema_facet,
)

POISON = "poison"
FAILURE = "injected failure"
# (table, column holding the poisoned dataset's id)
TRIGGER_TARGETS = {"run_io": "dataset_id", "column_lineage": "output_dataset_id"}


def install_failing_trigger(database: Database, table: str) -> None:
    """Make every insert into ``table`` that concerns the ``poison`` dataset fail in the DB."""
    column = TRIGGER_TARGETS[table]
    poisoned = f"NEW.{column} IN (SELECT id FROM datasets WHERE name = '{POISON}')"
    with database.write() as connection:
        if database.backend == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} WHEN {poisoned} "
                f"BEGIN SELECT RAISE(ABORT, '{FAILURE}'); END"
            )
        else:
            connection.exec_driver_sql(
                f"CREATE FUNCTION fail_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF {poisoned} THEN RAISE EXCEPTION '{FAILURE}'; END IF; "
                "RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION fail_{table}()"
            )


@pytest.fixture(params=sorted(TRIGGER_TARGETS))
def failing_table(request: pytest.FixtureRequest, database: Database) -> str:
    table: str = request.param
    install_failing_trigger(database, table)
    return table


def poisoned_event(run_id: str, namespace: str = "doomed", **kwargs: Any) -> dict[str, Any]:
    """An event whose output ``poison`` trips the trigger on run_io or column_lineage."""
    output = dataset(
        POISON,
        namespace,
        facets={
            "schema": schema_facet("id"),
            "columnLineage": column_lineage_facet(
                {"id": [input_field(namespace, "doomed_input", "id", ("IDENTITY", None))]}
            ),
        },
    )
    kwargs.setdefault("inputs", [dataset("doomed_input", namespace)])
    return run_event(
        "COMPLETE",
        run_id=run_id,
        namespace=kwargs.pop("job_namespace", namespace),
        outputs=[output],
        **kwargs,
    )


def traces_of(database: Database, run_id: str) -> dict[str, list[Any]]:
    """Every row the poisoned event would have written, by table."""
    with database.read() as connection:

        def rows(query: Any) -> list[Any]:
            return list(connection.execute(query).all())

        return {
            "lineage_events": rows(
                select(lineage_events.c.id).where(lineage_events.c.run_uuid == run_id)
            ),
            "runs": rows(select(runs.c.id).where(runs.c.uuid == run_id)),
            "jobs": rows(
                select(jobs.c.id)
                .join(namespaces, namespaces.c.id == jobs.c.namespace_id)
                .where(namespaces.c.name == "doomed")
            ),
            "datasets": rows(
                select(datasets.c.id).where(datasets.c.name.in_([POISON, "doomed_input"]))
            ),
            "namespaces": rows(select(namespaces.c.id).where(namespaces.c.name == "doomed")),
        }


NO_TRACES: dict[str, list[Any]] = {
    "lineage_events": [],
    "runs": [],
    "jobs": [],
    "datasets": [],
    "namespaces": [],
}


def test_the_trigger_really_fails_inserts_for_the_poisoned_dataset_only(
    database: Database, failing_table: str
) -> None:
    """Guard for the tests below: the injected failure is a genuine database error."""
    with database.write() as connection:
        connection.execute(
            text(
                "INSERT INTO namespaces (name, created_at, updated_at, is_hidden) "
                "VALUES ('n', '2024-01-01', '2024-01-01', false)"
            )
        )
    with pytest.raises(DBAPIError, match=FAILURE), database.write() as connection:
        ns_id = connection.execute(text("SELECT id FROM namespaces")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO datasets (uuid, namespace_id, name, type, physical_name, source_name,"
                " fields, facets, created_at, updated_at, is_deleted) VALUES"
                " ('u', :ns, :name, 'DB_TABLE', 'p', 's', '[]', '{}', '2024-01-01', '2024-01-01',"
                " false)"
            ),
            {"ns": ns_id, "name": POISON},
        )
        poison_id = connection.execute(text("SELECT id FROM datasets")).scalar_one()
        if failing_table == "run_io":
            connection.execute(
                text(
                    "INSERT INTO jobs (uuid, namespace_id, name, simple_name, type, facets,"
                    " created_at, updated_at, is_deleted) VALUES ('j', :ns, 'j', 'j', 'BATCH',"
                    " '{}', '2024-01-01', '2024-01-01', false)"
                ),
                {"ns": ns_id},
            )
            connection.execute(
                text(
                    "INSERT INTO runs (uuid, job_id, state, facets, created_at, updated_at)"
                    " SELECT 'r', id, 'NEW', '{}', '2024-01-01', '2024-01-01' FROM jobs"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO run_io (run_id, dataset_id, io_type, facets)"
                    " SELECT id, :d, 'OUTPUT', '{}' FROM runs"
                ),
                {"d": poison_id},
            )
        else:
            connection.execute(
                text(
                    "INSERT INTO column_lineage (output_dataset_id, output_field,"
                    " input_dataset_id, input_field, transformations, updated_at)"
                    " VALUES (:d, 'a', :d, 'b', '[]', '2024-01-01')"
                ),
                {"d": poison_id},
            )


def test_a_single_event_failing_mid_write_leaves_no_trace(
    client: TestClient, database: Database, failing_table: str
) -> None:
    """Raw event, namespace, datasets, versions, job and run: all rolled back; answer is 500."""
    assert client.post("/api/v1/lineage", json=run_event("COMPLETE")).status_code == 201
    before = row_counts(database)
    run_id = new_run_id()

    response = client.post("/api/v1/lineage", json=poisoned_event(run_id))

    assert response.status_code == 500
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == 500
    assert traces_of(database, run_id) == NO_TRACES
    assert row_counts(database) == before


def test_a_failing_event_leaves_existing_rows_as_they_were(
    client: TestClient, database: Database, failing_table: str
) -> None:
    """Updates are rolled back too: the run stays RUNNING, its job and inputs keep their facets."""
    run_id = new_run_id()
    start = run_event(
        "START",
        run_id=run_id,
        job="etl",
        inputs=[dataset("raw", facets={"custom": facet("C", v=1)})],
        run_facets={"custom": facet("C", v=1)},
        job_facets={"custom": facet("C", v=1)},
    )
    assert client.post("/api/v1/lineage", json=start).status_code == 201
    run_before = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    job_before = client.get("/api/v1/namespaces/ns/jobs/etl").json()
    raw_before = client.get("/api/v1/namespaces/warehouse/datasets/raw").json()
    counts_before = row_counts(database)

    changed = {"custom": facet("C", v=2)}
    complete = poisoned_event(
        run_id,
        job="etl",
        job_namespace="ns",
        minute=5,
        inputs=[dataset("raw", facets=changed)],
        run_facets=changed,
        job_facets=changed,
    )
    assert client.post("/api/v1/lineage", json=complete).status_code == 500

    assert client.get(f"/api/v1/jobs/runs/{run_id}").json() == run_before
    assert client.get("/api/v1/namespaces/ns/jobs/etl").json() == job_before
    assert client.get("/api/v1/namespaces/warehouse/datasets/raw").json() == raw_before
    assert row_counts(database) == counts_before

    # The same changes without the poisoned output then apply in full.
    complete["outputs"] = [dataset("clean")]
    assert client.post("/api/v1/lineage", json=complete).status_code == 201
    run = client.get(f"/api/v1/jobs/runs/{run_id}").json()
    assert run["state"] == "COMPLETED"
    assert run["facets"]["custom"] == changed["custom"]
    job = client.get("/api/v1/namespaces/ns/jobs/etl").json()
    assert job["facets"]["custom"] == changed["custom"]
    raw = client.get("/api/v1/namespaces/warehouse/datasets/raw").json()
    assert raw["facets"]["custom"] == changed["custom"]


def test_in_a_batch_the_failing_event_rolls_back_alone(
    client: TestClient, database: Database, failing_table: str
) -> None:
    """The others are stored, including their changes to rows the failing event also touched."""
    good_runs = [new_run_id(), new_run_id()]
    bad_run = new_run_id()

    def good(run_id: str, minute: int) -> dict[str, Any]:
        return run_event(
            "COMPLETE",
            run_id=run_id,
            job="etl",
            minute=minute,
            inputs=[dataset("raw")],
            job_facets={f"good{minute}": facet("G", minute=minute)},
        )

    bad = poisoned_event(
        bad_run,
        job="etl",
        job_namespace="ns",
        minute=1,
        job_facets={"bad": facet("B")},
    )
    batch = [good(good_runs[0], 0), bad, good(good_runs[1], 2)]

    response = client.post("/api/v1/lineage/batch", json=batch)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial_success"
    assert body["summary"] == {
        "received": 3,
        "successful": 2,
        "failed": 1,
        "retriable": 0,
        "non_retriable": 1,
    }
    [failed] = body["failed_events"]
    assert failed["index"] == 1
    assert failed["retriable"] is False
    assert FAILURE in failed["reason"]

    for run_id in good_runs:
        assert client.get(f"/api/v1/jobs/runs/{run_id}").json()["state"] == "COMPLETED"
    job = client.get("/api/v1/namespaces/ns/jobs/etl").json()
    assert {"good0", "good2"} <= job["facets"].keys()
    assert "bad" not in job["facets"]
    assert job["outputs"] == []
    assert traces_of(database, bad_run) == NO_TRACES
    assert row_counts(database)["lineage_events"] == 2


@pytest.mark.parametrize("pattern", ["BG", "GBB", "BGBG"])
def test_a_batch_reports_each_failing_event_by_its_index(
    client: TestClient, database: Database, failing_table: str, pattern: str
) -> None:
    """``pattern`` lays out the batch: G a good event, B one failing in the database."""
    batch = [
        run_event("COMPLETE", job=f"fine{i}") if kind == "G" else poisoned_event(new_run_id())
        for i, kind in enumerate(pattern)
    ]
    bad_indexes = [i for i, kind in enumerate(pattern) if kind == "B"]

    body = client.post("/api/v1/lineage/batch", json=batch).json()

    assert [f["index"] for f in body["failed_events"]] == bad_indexes
    assert body["summary"]["successful"] == pattern.count("G")
    counts = row_counts(database)
    assert (counts["lineage_events"], counts["runs"]) == (pattern.count("G"),) * 2
    assert counts["datasets"] == 0
