"""One model run: plan its reads, compute it in DuckDB, commit to Iceberg, test, publish.

The order is what makes a crash harmless: the Iceberg commit carries the model run's id in
its snapshot properties; the run is published (COMPLETED, watermarks advanced, audit entry)
in one metadata transaction after its tests pass. A snapshot of a run that never got there is
rolled back by `reconcile` before the model runs again, so no row is lost or counted twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from sqlalchemy.exc import OperationalError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from headwater import logs
from headwater.audit import AuditRecord
from headwater.faults import fault_point
from headwater.lake import (
    OPERATION_PROPERTY,
    RUN_PROPERTY,
    Lake,
    SchemaConflictError,
    TableFiles,
    declare_sort_order,
    iceberg_compatible,
    sorted_rows,
)
from headwater.pipeline.dag import Graph
from headwater.pipeline.merge import DuplicateKeyError, commit_merge, deletion, plan_merge
from headwater.pipeline.project import Model, Project
from headwater.pipeline.quality import Facts, blocking, run_tests
from headwater.pipeline.reading import InputRead, InputRewrittenError, plan_reads
from headwater.pipeline.scan import WHOLE, register, session
from headwater.pipeline.state import ModelRunRecord, PipelineState, TestOutcome

PIPELINE_RUN_PROPERTY = "headwater.pipeline-run-id"
# Crash tests set this to ``<point>@<model>`` (points: before-commit, after-commit,
# after-tests, after-publish); the process then kills itself there with SIGKILL, as a power
# cut would (tests/pipeline/test_crash.py).
WATERMARKS_PROPERTY = "headwater.watermarks"
# A Python model's own table as the previous run left it, on incremental runs (dbt's ``this``).
THIS = "this"
TRANSIENT = (CommitFailedException, OperationalError, OSError)

log = logging.getLogger("headwater.pipeline")


class ModelFailedError(Exception):
    """A model run failed for a reason that retrying cannot fix."""


@dataclass(frozen=True, slots=True)
class Output:
    """What a model run wrote (``files`` are the table's files at ``snapshot_id``)."""

    table: str
    location: str
    schema: pa.Schema
    snapshot_id: int | None
    rows_written: int
    files: TableFiles
    operation: str  # overwrite | append | merge
    added_files: int = 0
    added_bytes: int = 0


@dataclass(slots=True)
class ModelOutcome:
    record: ModelRunRecord
    reads: list[InputRead] = field(default_factory=list)
    output: Output | None = None
    tests: list[TestOutcome] = field(default_factory=list)
    # The model's SQL with the views it reads inlined: what column lineage is computed from.


class Emitter:
    """Where a model run reports itself (OpenLineage); `headwater.pipeline.emit` has the real one."""

    def model_start(self, model: Model, outcome: ModelOutcome, inputs: tuple[str, ...]) -> None:
        """Report the START of a model run."""

    def model_end(self, model: Model, outcome: ModelOutcome, error: str | None) -> None:
        """Report its COMPLETE (``error`` None) or FAIL."""


@dataclass(slots=True)
class RunContext:
    project: Project
    graph: Graph
    lake: Lake
    state: PipelineState
    emitter: Emitter
    pipeline_run_uuid: str
    full_refresh: frozenset[str]
    actor: str
    nominal_time: datetime
    dataset_node: Callable[[str], str]  # table -> audit node "dataset:<ns>:<name>"


def _register_view_model(
    connection: duckdb.DuckDBPyConnection, ctx: RunContext, name: str, reads: list[InputRead]
) -> None:
    """Define view model ``name`` in DuckDB, registering what it reads (whole) first."""
    model = ctx.project.models[name]
    for parent in ctx.graph.inputs[name]:
        _register_input(connection, ctx, parent, reads)
    connection.execute(f"CREATE OR REPLACE VIEW {name} AS {model.sql}")


def _register_input(
    connection: duckdb.DuckDBPyConnection, ctx: RunContext, name: str, reads: list[InputRead]
) -> None:
    if any(read.table == name for read in reads):
        return
    model = ctx.project.models.get(name)
    if model is not None and model.config.materialized == "view":
        _register_view_model(connection, ctx, name, reads)
        return
    table = ctx.lake.load(name)
    if table is None:
        raise ModelFailedError(f"input {name} does not exist yet")
    current = table.current_snapshot()
    snapshot = current.snapshot_id if current else None
    files = ctx.lake.files(table, snapshot)
    reads.append(InputRead(name, table.location(), snapshot, None, False, files))
    register(connection, name, files)


def _compute(connection: duckdb.DuckDBPyConnection, model: Model, with_this: bool) -> pa.Table:
    if model.python is not None:
        relations = {name: connection.table(name) for name in model.python_inputs}
        if with_this:
            relations[THIS] = connection.table(THIS)
        try:
            result = model.python(relations)
        except TRANSIENT:
            raise  # retried like any other transient failure
        except Exception as exc:  # the user's code: report, don't crash the pipeline
            raise ModelFailedError(
                f"{model.path.name}: model() raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(result, duckdb.DuckDBPyRelation):
            return result.to_arrow_table()
        if isinstance(result, pa.Table):
            return result
        raise ModelFailedError(
            f"{model.path.name}: model() returned {type(result).__name__}; "
            "return a duckdb relation or a pyarrow.Table"
        )
    try:
        return connection.sql(model.sql or "").to_arrow_table()
    except duckdb.Error as exc:
        raise ModelFailedError(f"{model.path.name}: {str(exc).splitlines()[0]}") from None


def _run_owner(table: Table) -> str | None:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return None
    return snapshot.summary.additional_properties.get(RUN_PROPERTY)


def reconcile(ctx: RunContext, model: Model, table: Table | None) -> str | None:
    """Roll back a snapshot that a crashed run committed but never published; what was done."""
    if table is None:
        return None
    owner = _run_owner(table)
    if owner is None or ctx.state.model_run_status(owner) == "COMPLETED":
        return None
    snapshot = table.current_snapshot()
    first = snapshot
    while snapshot is not None and (
        snapshot.summary is not None
        and snapshot.summary.additional_properties.get(RUN_PROPERTY) == owner
    ):
        first = snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    assert first is not None
    restored = first.parent_snapshot_id
    current = table.current_snapshot()
    ctx.lake.rollback(table, restored)
    note = (
        f"rolled back snapshot {current.snapshot_id if current else None} of unpublished run "
        f"{owner} to {restored}"
    )
    node = ctx.dataset_node(model.name)
    record = AuditRecord(
        "pipeline.model.rollback",
        node,
        ctx.actor,
        {
            "run": owner,
            "pipeline_run": ctx.pipeline_run_uuid,
            "model": model.name,
            "snapshot_before": current.snapshot_id if current else None,
            "snapshot": restored,
            "notes": [note],
            "outputs": {node: str(restored)},
        },
        [f"run:{owner}", node],
    )
    ctx.state.mark_abandoned(
        owner, f"never published; rolled back by run {ctx.pipeline_run_uuid}", [record]
    )
    return note


def _write(
    ctx: RunContext,
    connection: duckdb.DuckDBPyConnection,
    model: Model,
    result: pa.Table,
    record: ModelRunRecord,
    reads: list[InputRead],
    full: bool,
    notes: list[str],
) -> tuple[Output, pa.Table]:
    """Commit ``result``; the output and the rows written (what incremental tests check)."""
    lake = ctx.lake
    result = iceberg_compatible(result)
    delete_when = model.config.delete_when
    if delete_when and full:
        # A full result replaces the table, so there is nothing to delete: rows marked for
        # deletion are left out. (delete_when is only valid on merge models.)
        connection.register("hw_result", result)
        result = (
            connection.sql(f"SELECT * FROM hw_result WHERE NOT {deletion(delete_when)}")
            .to_arrow_table()
            .cast(result.schema)
        )
        connection.unregister("hw_result")
    table = lake.load(model.name)
    if table is not None:
        try:
            notes.extend(lake.evolve(table, result.schema))
        except SchemaConflictError:
            if not full:
                raise
            notes.append(f"replaced {model.name}: its schema changed incompatibly")
            lake.drop(model.name)
            table = None
    if table is None:
        table = lake.create(model.name, result.schema)
        record.snapshot_before = None
    sort_by = list(model.config.sort_by)
    missing = [column for column in sort_by if column not in result.schema.names]
    if missing:
        raise ModelFailedError(f"sort_by names {missing[0]}, which the model does not return")
    notes.extend(declare_sort_order(table, sort_by))
    properties = {
        RUN_PROPERTY: record.run_uuid,
        PIPELINE_RUN_PROPERTY: ctx.pipeline_run_uuid,
        WATERMARKS_PROPERTY: json.dumps(
            {read.table: read.snapshot_id for read in reads}, sort_keys=True
        ),
    }
    materialized = model.config.materialized
    written = result.num_rows
    written_rows = result
    fault_point("before-commit", model.name)
    if full or materialized == "table":
        operation = "overwrite"
        lake.overwrite(table, sorted_rows(result, sort_by), properties)
    elif materialized == "append":
        operation = "append"
        if result.num_rows:
            lake.append(table, sorted_rows(result, sort_by), properties)
    else:
        operation = "merge"
        keys = list(model.config.unique_key)
        before = lake.files(table, record.snapshot_before)
        register(connection, "hw_target.current", before, positions=True)
        try:
            plan = plan_merge(
                connection,
                result,
                "hw_target.current",
                keys,
                delete_when,
                model.config.sequence_by or None,
            )
        except DuplicateKeyError as exc:
            raise ModelFailedError(f"merge by {', '.join(keys)}: {exc}") from None
        except duckdb.Error as exc:
            raise ModelFailedError(f"merge: {str(exc).splitlines()[0]}") from None
        commit_merge(table, plan, {**properties, OPERATION_PROPERTY: "merge"}, sort_by)
        # Rows whose key exists unchanged (re-deliveries) are neither written nor counted.
        written = plan.rows
        written_rows = plan.written
        if plan.deleted.num_rows:
            record.details["rows_deleted"] = plan.deleted.num_rows
    fault_point("after-commit", model.name)
    table.refresh()
    current = table.current_snapshot()
    snapshot_id = current.snapshot_id if current else None
    added_files, added_bytes = _added_by_run(table, record.run_uuid)
    output = Output(
        table=model.name,
        location=table.location(),
        schema=table.schema().as_arrow(),
        snapshot_id=snapshot_id,
        rows_written=written,
        files=lake.files(table, snapshot_id),
        operation=operation,
        added_files=added_files,
        added_bytes=added_bytes,
    )
    return output, written_rows


def _added_by_run(table: Table, run_uuid: str) -> tuple[int, int]:
    """Data files and bytes the snapshots of one run added (an upsert commits several)."""
    files = size = 0
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.summary is not None:
        properties = snapshot.summary.additional_properties
        if properties.get(RUN_PROPERTY) != run_uuid:
            break
        files += int(properties.get("added-data-files", 0))
        size += int(properties.get("added-files-size", 0))
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return files, size


def _attempt(ctx: RunContext, model: Model, outcome: ModelOutcome, notes: list[str]) -> None:
    record = outcome.record
    if model.config.materialized == "view" and not model.tests:
        # Nothing is stored or checked: the models that read the view compute it.
        record.mode = "view"
        return
    views = [name for name in ctx.graph.inputs[model.name] if ctx.graph.is_view(name)]
    stored_inputs = ctx.graph.stored_inputs(model.name)
    incremental_on = ctx.graph.incremental_inputs(model.name)
    watermarks = ctx.state.watermarks(ctx.project.name, model.name)
    table = ctx.lake.load(model.name)
    full = (
        model.name in ctx.full_refresh
        or not model.config.incremental
        or table is None
        or table.current_snapshot() is None
        or any(name not in watermarks for name in incremental_on)
    )
    reads, reason = plan_reads(ctx.lake, model, stored_inputs, incremental_on, watermarks, full)
    if reason is not None:
        if model.config.on_input_rewrite == "fail":
            raise ModelFailedError(f"{reason}; on_input_rewrite: fail (run with --full-refresh)")
        notes.append(f"full refresh because {reason}")
        full = True
        reads, _ = plan_reads(ctx.lake, model, stored_inputs, incremental_on, watermarks, full)
    if model.config.materialized == "view":
        record.mode = "view"
    else:
        record.mode = "full" if full or not model.config.incremental else "incremental"
    current = table.current_snapshot() if table is not None else None
    record.snapshot_before = current.snapshot_id if current else None
    with session() as connection:
        for read in reads:
            _register_read(connection, ctx, read)
        for name in views:
            _register_view_model(connection, ctx, name, reads)
        whole_rows = _register_whole(connection, ctx, model, reads)
        outcome.reads = reads
        record.rows_read = sum(read.rows for read in reads)
        record.details["reads"] = {
            read.table: {
                "snapshot": read.snapshot_id,
                "since": read.since,
                "incremental": read.incremental,
                "rows": read.rows,
                **({"whole_rows": whole_rows[read.table]} if read.table in whole_rows else {}),
            }
            for read in reads
        }
        if model.config.materialized == "view":
            connection.execute(f"CREATE OR REPLACE VIEW {model.name} AS {model.sql}")
            outcome.tests = _test(ctx, connection, model, reads, None, Facts())
            _raise_if_blocked(outcome)
            return
        with_this = model.python is not None and not full and table is not None
        if with_this:
            assert table is not None
            register(connection, THIS, ctx.lake.files(table, record.snapshot_before))
        result = _compute(connection, model, with_this)
        output, written_rows = _write(ctx, connection, model, result, record, reads, full, notes)
        outcome.output = output
        record.rows_written = output.rows_written
        record.snapshot_after = output.snapshot_id
        register(connection, model.name, output.files)
        new_rows = None
        merged_by: tuple[str, ...] = ()
        if record.mode == "incremental":
            connection.register("hw_new_rows", written_rows)
            new_rows = "hw_new_rows"
            if output.operation == "merge":
                merged_by = tuple(model.config.unique_key)
        facts = Facts(
            rows=output.files.exact_rows, merged_by=merged_by, written=written_rows.num_rows
        )
        outcome.tests = _test(ctx, connection, model, reads, new_rows, facts)
        connection.unregister("hw_new_rows")
        fault_point("after-tests", model.name)
        if blocking(outcome.tests):
            written = ctx.lake.load(model.name)
            if written is not None:
                ctx.lake.rollback(written, record.snapshot_before)
            notes.append(f"rolled back {model.name} to snapshot {record.snapshot_before}")
            record.snapshot_after = record.snapshot_before
        _raise_if_blocked(outcome)


def _register_read(connection: duckdb.DuckDBPyConnection, ctx: RunContext, read: InputRead) -> None:
    if not read.current_only:
        register(connection, read.table, read.files)
        return
    # Rows appended by an earlier merge may have been replaced by a later one: of the appended
    # rows, only those still in the table are new (INTERSECT compares NULLs as equal).
    table = ctx.lake.load(read.table)
    if table is None:
        raise ModelFailedError(f"input {read.table} does not exist any more")
    appended, current = "hw_target.appended", "hw_target.now"
    register(connection, appended, read.files)
    register(connection, current, ctx.lake.files(table, read.snapshot_id))
    connection.execute(
        f"CREATE OR REPLACE TABLE {read.table} AS "
        f"SELECT * FROM {appended} INTERSECT SELECT * FROM {current}"
    )


def _register_whole(
    connection: duckdb.DuckDBPyConnection, ctx: RunContext, model: Model, reads: list[InputRead]
) -> dict[str, int]:
    """Register ``whole.<input>`` for each input the model reads whole: the same snapshot
    as its plain read, all of it; the rows of each, by table."""
    rows: dict[str, int] = {}
    for name in ctx.graph.whole_inputs.get(model.name, ()):
        read = next(read for read in reads if read.table == name)
        files = read.files
        if read.incremental:
            table = ctx.lake.load(name)
            if table is None:
                raise ModelFailedError(f"input {name} does not exist any more")
            files = ctx.lake.files(table, read.snapshot_id)
        register(connection, f"{WHOLE}.{name}", files)
        rows[name] = files.rows
    return rows


def _test(
    ctx: RunContext,
    connection: duckdb.DuckDBPyConnection,
    model: Model,
    reads: list[InputRead],
    new_rows: str | None,
    facts: Facts,
) -> list[TestOutcome]:
    # What the tests read besides the model is registered whole, at its current snapshot, in
    # a list of its own: those reads are not the model's inputs (no watermark, no lineage).
    test_reads = list(reads)
    for name in ctx.graph.test_inputs.get(model.name, ()):
        # A table that does not exist yet makes the test's query fail, and say so.
        with contextlib.suppress(ModelFailedError):
            _register_input(connection, ctx, name, test_reads)
    return run_tests(connection, model.name, model.tests, model.name, new_rows, facts)


def _raise_if_blocked(outcome: ModelOutcome) -> None:
    failed = blocking(outcome.tests)
    if failed:
        names = ", ".join(f"{test.name} ({test.failures} failing rows)" for test in failed)
        raise ModelFailedError(f"tests failed: {names}")


def run_model(ctx: RunContext, model: Model) -> ModelOutcome:
    """Run ``model`` once (with retries of transient failures) and record how it went."""
    record = ModelRunRecord(
        run_uuid=str(uuid.uuid4()),
        pipeline_run_uuid=ctx.pipeline_run_uuid,
        project=ctx.project.name,
        model=model.name,
        mode="view" if model.config.materialized == "view" else "pending",
    )
    with logs.bound(run_id=record.run_uuid, model=model.name):
        return _run_recorded(ctx, model, record)


def _run_recorded(ctx: RunContext, model: Model, record: ModelRunRecord) -> ModelOutcome:
    outcome = ModelOutcome(record)
    notes: list[str] = []
    note = reconcile(ctx, model, ctx.lake.load(model.name))
    if note:
        notes.append(note)
    ctx.state.start_model(record)
    ctx.emitter.model_start(model, outcome, ctx.graph.inputs[model.name])
    error: str | None = None
    try:
        for attempt in Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_attempt(ctx.project.retries + 1),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt:
                record.attempts = attempt.retry_state.attempt_number
                _attempt(ctx, model, outcome, notes)
        record.status = "COMPLETED"
    except (ModelFailedError, SchemaConflictError, InputRewrittenError) as exc:
        error = str(exc)
    except TRANSIENT as exc:
        error = f"{type(exc).__name__}: {exc} (after {record.attempts} attempts)"
    if error is not None:
        record.status = "FAILED"
        record.message = error
    record.details["notes"] = notes
    published = record.status == "COMPLETED" and model.config.materialized != "view"
    ctx.state.finish_model(
        record,
        watermarks=(
            {read.table: read.snapshot_id for read in outcome.reads if read.snapshot_id}
            if published
            else None
        ),
        tests=outcome.tests,
        audit=_audit(ctx, model, outcome, notes) if published or _tests_rolled_back(record) else (),
    )
    fault_point("after-publish", model.name)
    ctx.emitter.model_end(model, outcome, error)
    if error is None:
        log.info(
            "%s %s: %d rows read, %d written",
            model.name,
            record.status,
            record.rows_read,
            record.rows_written,
        )
    else:
        log.warning("%s FAILED: %s", model.name, error)
    return outcome


def _tests_rolled_back(record: ModelRunRecord) -> bool:
    """Did this run's failing tests undo its own commit?"""
    return record.status == "FAILED" and (record.message or "").startswith("tests failed")


def _audit(
    ctx: RunContext, model: Model, outcome: ModelOutcome, notes: list[str]
) -> list[AuditRecord]:
    record = outcome.record
    node = ctx.dataset_node(model.name)
    details: dict[str, Any] = {
        "run": record.run_uuid,
        "pipeline_run": ctx.pipeline_run_uuid,
        "model": model.name,
        "mode": record.mode,
        "snapshot_before": record.snapshot_before,
        "snapshot": record.snapshot_after,
        "inputs": {read.table: read.snapshot_id for read in outcome.reads},
        "rows_written": record.rows_written,
    }
    if notes:
        details["notes"] = notes
    refs = [f"run:{record.run_uuid}", node]
    if record.status != "COMPLETED":
        action = "pipeline.model.rollback"
    elif record.mode == "full" and model.config.incremental:
        action = "pipeline.model.full_refresh"
    else:
        action = "pipeline.model.commit"
    details["outputs"] = {node: str(record.snapshot_after)}
    return [AuditRecord(action, node, ctx.actor, details, refs)]
