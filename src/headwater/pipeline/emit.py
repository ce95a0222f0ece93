"""OpenLineage for every pipeline run, sent through the openlineage-python client.

headwater is an ordinary OpenLineage producer, through `headwater.lineage.client`: into the
local lineage store in-process by default, wherever the user's OpenLineage configuration says
otherwise, nowhere with ``OPENLINEAGE_DISABLED=true``.

Jobs: the pipeline run is job ``<project>``; each model run is job ``<layer>.<model>`` with the
pipeline run as its ``parent``; a model's tests are job ``<layer>.<model>.tests``, whose input
(the model's table) carries the ``dataQualityAssertions`` facet, as the spec places it.
Datasets follow the OpenLineage naming of Iceberg tables by location (namespace ``file`` or
``s3://bucket``, name the table's path), with a ``symlinks`` TABLE identifier
``<layer>.<table>`` in the catalog.

Events are built by one background thread, in the order they happen. Into the local store they
go in batches: the transport queues each event, and the thread stores what is queued in one
transaction at most once a second (`FLUSH_INTERVAL_S`) and at the end of the run, instead of
one transaction per event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache, cached_property
from importlib.metadata import version
from typing import Any

import pyarrow as pa
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
    storage_dataset,
    symlinks_dataset,
)

from headwater import __version__
from headwater.db import Database
from headwater.lake import dataset_id
from headwater.lineage.client import LocalStoreTransport
from headwater.pipeline.dag import Graph
from headwater.pipeline.execute import Emitter, ModelOutcome
from headwater.pipeline.project import Model, Project
from headwater.pipeline.state import TestOutcome

log = logging.getLogger("headwater.pipeline")
PRODUCER = f"https://github.com/headwater-data/headwater/tree/{__version__}"
# How long an event may wait for others to share its transaction into the store. One costs
# ~3 ms of CPU on SQLite however few events it holds (~0.4 ms more per event), CPU taken from
# the models' threads; a second keeps the store's view of a running pipeline about current.
FLUSH_INTERVAL_S = 1.0


@cache
def _version(package: str) -> str:
    """An installed package's version; cached, as the lookup reads package metadata from disk
    (a quarter of a second per pipeline run when done for every event)."""
    return version(package)


def _arrow_type_name(data_type: pa.DataType) -> str:
    return str(data_type)


def _schema_facet(schema: pa.Schema) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=f.name, type=_arrow_type_name(f.type))
            for f in schema
        ]
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


class LineageEmitter(Emitter):
    """Builds the events of a pipeline run and emits them through ``client``."""

    def __init__(
        self,
        database: Database,
        client: OpenLineageClient,
        project: Project,
        graph: Graph,
        pipeline_run_uuid: str,
        nominal_time: datetime,
        warehouse: str,
    ) -> None:
        self.database = database  # where traced column lineage is kept between runs
        self.client = client
        self.project = project
        # Column lineage needs each model's SQL with its views written in; sqlglot does that
        # here, on the lineage thread, not on the model's (20-60 ms a model).
        self.graph = graph
        self.pipeline_run_uuid = pipeline_run_uuid
        self.nominal_time = nominal_time
        self.warehouse = warehouse
        self.undelivered = 0
        self.disabled = os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"
        transport = client.transport
        self._store = transport if isinstance(transport, LocalStoreTransport) else None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openlineage")
        self._lock = threading.Lock()  # for the timer: `close` may run while it fires
        self._closed = False
        self._timer: threading.Timer | None = None
        self._flushed_at = time.monotonic()
        # Facets that are the same in many events of the run are built once: constructing one
        # runs the client's attrs validators (a URL parse of its producer and of its schema URL
        # each), which added up to a good part of building an event. The client adds facets of
        # its own (tags, environment) to an event's facet dicts in place, so each event gets
        # dicts of its own, holding these shared facets.
        self._job_types: dict[str, job_type_job.JobTypeJobFacet] = {}
        self._symlinks: dict[str, symlinks_dataset.SymlinksDatasetFacet] = {}
        self._schemas: dict[pa.Schema, schema_dataset.SchemaDatasetFacet] = {}
        self._job_facets: dict[str, dict[str, Any]] = {}

    # Events are built and delivered by one background thread, in the order they happen, so
    # that a model's downstream does not wait for its lineage to be written; a pipeline run
    # waits for all of them at its end (`close`). With OPENLINEAGE_DISABLED=true nothing is
    # built at all.
    def pipeline_event(self, state: RunState, error: str | None = None) -> None:
        self._submit(self._pipeline_event, state, error)

    def model_start(self, model: Model, outcome: ModelOutcome, inputs: tuple[str, ...]) -> None:
        self._submit(self._model_start, model, outcome)

    def model_end(self, model: Model, outcome: ModelOutcome, error: str | None) -> None:
        self._submit(self._model_end, model, outcome, error)

    def close(self) -> None:
        """Wait until every event is delivered (or counted as undelivered)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        self._worker.shutdown(wait=True)
        # What the last events left queued, stored while the run waits for its lineage anyway.
        self._flush()

    def _submit(self, build: Callable[..., None], *args: Any) -> None:
        if not self.disabled:
            self._worker.submit(self._deliver, build, *args)

    def _deliver(self, build: Callable[..., None], *args: Any) -> None:
        try:
            build(*args)
        except Exception as exc:  # a bug in building must not lose the data run either
            self.undelivered += 1
            log.warning("OpenLineage event not built: %s: %s", type(exc).__name__, exc)
        if self._store is not None:
            self._flush_when_due()

    def _flush_when_due(self) -> None:
        wait = self._flushed_at + FLUSH_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self._flush()
            return
        # Not yet: a timer stores them if no later event does.
        with self._lock:
            if not self._closed and (self._timer is None or not self._timer.is_alive()):
                self._timer = threading.Timer(wait, self._flush_soon)
                self._timer.daemon = True
                self._timer.start()

    def _flush_soon(self) -> None:
        """On the timer's thread: the lineage thread stores what is queued (in order)."""
        with self._lock:
            if not self._closed:
                self._worker.submit(self._flush)

    def _flush(self) -> None:
        if self._store is not None:
            self._flushed_at = time.monotonic()
            self.undelivered += self._store.flush()

    def _emit(self, event: RunEvent) -> None:
        # A lineage outage must not fail the data: the run goes on, and says what was lost.
        try:
            self.client.emit(event)
        except Exception as exc:
            self.undelivered += 1
            log.warning("OpenLineage event not delivered: %s: %s", type(exc).__name__, exc)

    @cached_property
    def _nominal_time(self) -> nominal_time_run.NominalTimeRunFacet:
        return nominal_time_run.NominalTimeRunFacet(nominalStartTime=self.nominal_time.isoformat())

    @cached_property
    def _child_run_facets(self) -> dict[str, Any]:
        return {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.pipeline_run_uuid),
                job=parent_run.Job(namespace=self.project.namespace, name=self.project.name),
                root=parent_run.Root(
                    run=parent_run.RootRun(runId=self.pipeline_run_uuid),
                    job=parent_run.RootJob(
                        namespace=self.project.namespace, name=self.project.name
                    ),
                ),
            ),
            "nominalTime": self._nominal_time,
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=_version("duckdb"),
                name="duckdb",
                openlineageAdapterVersion=_version("openlineage-python"),
            ),
        }

    def _run_facets(self) -> dict[str, Any]:
        return dict(self._child_run_facets)

    def _job_type(self, job_type: str) -> job_type_job.JobTypeJobFacet:
        facet = self._job_types.get(job_type)
        if facet is None:
            facet = self._job_types[job_type] = job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="HEADWATER", jobType=job_type
            )
        return facet

    @cached_property
    def _storage(self) -> storage_dataset.StorageDatasetFacet:
        return storage_dataset.StorageDatasetFacet(storageLayer="iceberg", fileFormat="parquet")

    def _pipeline_event(self, state: RunState, error: str | None) -> None:
        run_facets: dict[str, Any] = {"nominalTime": self._nominal_time}
        if error:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            )
        self._emit(
            RunEvent(
                eventType=state,
                eventTime=_now(),
                run=Run(runId=self.pipeline_run_uuid, facets=run_facets),
                job=Job(
                    namespace=self.project.namespace,
                    name=self.project.name,
                    facets={"jobType": self._job_type("PIPELINE")},
                ),
                producer=PRODUCER,
            )
        )

    def _symlinks_facet(self, table: str) -> symlinks_dataset.SymlinksDatasetFacet:
        facet = self._symlinks.get(table)
        if facet is None:
            facet = self._symlinks[table] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(namespace=self.warehouse, name=table, type="TABLE")
                ]
            )
        return facet

    def _schema_facet(self, schema: pa.Schema) -> schema_dataset.SchemaDatasetFacet:
        # A model's output schema comes back as the input schema of each model reading it.
        facet = self._schemas.get(schema)
        if facet is None:
            facet = self._schemas[schema] = _schema_facet(schema)
        return facet

    def _dataset_facets(
        self, table: str, schema: pa.Schema | None, snapshot: int | None
    ) -> dict[str, Any]:
        facets: dict[str, Any] = {"storage": self._storage, "symlinks": self._symlinks_facet(table)}
        if schema is not None:
            facets["schema"] = self._schema_facet(schema)
        if snapshot is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(snapshot)
            )
        return facets

    def _job(self, model: Model) -> Job:
        facets = self._job_facets.get(model.name)
        if facets is None:
            facets = self._job_facets[model.name] = {
                "jobType": self._job_type("MODEL"),
                "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                    type="file", url=model.path.as_uri(), path=self.project.relative(model.path)
                ),
            }
            if model.sql is not None:
                facets["sql"] = sql_job.SQLJobFacet(query=model.sql, dialect="duckdb")
        return Job(namespace=self.project.namespace, name=model.name, facets=dict(facets))

    def _location(self, table: str, outcome: ModelOutcome) -> str | None:
        for read in outcome.reads:
            if read.table == table:
                return read.location
        if outcome.output is not None and outcome.output.table == table:
            return outcome.output.location
        return None

    def _model_start(self, model: Model, outcome: ModelOutcome) -> None:
        self._emit(
            RunEvent(
                eventType=RunState.START,
                eventTime=_now(),
                run=Run(runId=outcome.record.run_uuid, facets=self._run_facets()),
                job=self._job(model),
                producer=PRODUCER,
            )
        )

    def _model_end(self, model: Model, outcome: ModelOutcome, error: str | None) -> None:
        run_facets = self._run_facets()
        if error is not None:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            )
        inputs = [
            InputDataset(
                *dataset_id(read.location),
                facets=self._dataset_facets(read.table, read.files.schema, read.snapshot_id),
                inputFacets={
                    "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                        rowCount=read.rows, size=read.files.bytes, fileCount=len(read.files.tasks)
                    )
                },
            )
            for read in outcome.reads
        ]
        outputs = []
        output = outcome.output
        if output is not None:
            facets = self._dataset_facets(
                output.table, output.schema, outcome.record.snapshot_after
            )
            lineage = self._column_lineage(model, outcome)
            if lineage is not None:
                facets["columnLineage"] = lineage
            outputs.append(
                OutputDataset(
                    *dataset_id(output.location),
                    facets=facets,
                    outputFacets={
                        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=output.rows_written,
                            size=output.added_bytes,
                            fileCount=output.added_files,
                        )
                    },
                )
            )
        self._emit(
            RunEvent(
                eventType=RunState.FAIL if error else RunState.COMPLETE,
                eventTime=_now(),
                run=Run(runId=outcome.record.run_uuid, facets=run_facets),
                job=self._job(model),
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        )
        if outcome.tests and output is not None:
            self._tests(model, outcome, output.location, outcome.tests)

    def _column_lineage(
        self, model: Model, outcome: ModelOutcome
    ) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
        sources = self.graph.lineage_sources(model.name)
        if sources is None or not outcome.reads:
            return None
        from headwater.pipeline.column_lineage import to_facet
        from headwater.pipeline.column_lineage_store import stored_column_lineage

        schemas = {read.table: list(read.files.schema.names) for read in outcome.reads}
        try:
            lineage = stored_column_lineage(
                self.database, sources, schemas, lambda: self.graph.inline_views(model.name) or ""
            )
        except ValueError:
            return None  # lineage is best effort; the run itself succeeded
        datasets = {read.table: dataset_id(read.location) for read in outcome.reads}
        facet = to_facet(lineage, datasets)
        return column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                name: column_lineage_dataset.Fields(
                    inputFields=[_input_field(item) for item in value["inputFields"]]
                )
                for name, value in facet["fields"].items()
            },
            dataset=[_input_field(item) for item in facet.get("dataset", [])],
        )

    def _tests(
        self, model: Model, outcome: ModelOutcome, location: str, tests: Sequence[TestOutcome]
    ) -> None:
        assertions = [
            data_quality_assertions_dataset.Assertion(
                assertion=spec.kind,
                success=result.status == "pass",
                column=spec.column,
                severity=spec.severity,
                name=spec.name,
                actual=str(result.failures),
                expected="0",
                content=result.query,
                contentType="sql",
            )
            for spec, result in zip(model.tests, tests, strict=True)
        ]
        failed = any(r.severity == "error" and r.status != "pass" for r in tests)
        test_run = _test_run_id(outcome.record.run_uuid)
        job = Job(
            namespace=self.project.namespace,
            name=f"{model.name}.tests",
            facets={"jobType": self._job_type("TEST")},
        )
        dataset = InputDataset(
            *dataset_id(location),
            facets=self._dataset_facets(model.name, None, outcome.record.snapshot_after),
            inputFacets={
                "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                    assertions=assertions
                )
            },
        )
        for state in (RunState.START, RunState.FAIL if failed else RunState.COMPLETE):
            self._emit(
                RunEvent(
                    eventType=state,
                    eventTime=_now(),
                    run=Run(runId=test_run, facets=self._run_facets()),
                    job=job,
                    inputs=[dataset] if state != RunState.START else [],
                    producer=PRODUCER,
                )
            )


def _test_run_id(model_run: str) -> str:
    return str(uuid.uuid5(uuid.UUID(model_run), "tests"))


def _input_field(item: dict[str, Any]) -> column_lineage_dataset.InputField:
    return column_lineage_dataset.InputField(
        namespace=item["namespace"],
        name=item["name"],
        field=item["field"],
        transformations=[
            column_lineage_dataset.Transformation(
                type=t["type"],
                subtype=t.get("subtype"),
                description=t.get("description"),
                masking=t.get("masking", False),
            )
            for t in item.get("transformations", [])
        ],
    )
