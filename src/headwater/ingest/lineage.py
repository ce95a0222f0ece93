"""OpenLineage for landed batches: each batch is a run of the topic's ingest job.

Job ``ingest.<source>.<topic>`` in the project's namespace (job type ``INGEST``); its input is
the webhook source, dataset ``webhook://<source>`` / ``<topic>``, and its output the raw
Iceberg table, named by location as every headwater table is, with ``outputStatistics``
(rows, bytes, files of the commit), ``schema``, ``storage`` and the snapshot the batch made as
``version``. A batch is reported once it is committed, START and COMPLETE together: a landing
takes a fraction of a second, and a run that never committed has nothing to report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    job_type_job,
    output_statistics_output_dataset,
    schema_dataset,
    storage_dataset,
)
from pyiceberg.table import Table

from headwater import __version__
from headwater.ingest.landing import LandedBatch
from headwater.lake import dataset_id

log = logging.getLogger("headwater.ingest")
PRODUCER = f"https://github.com/headwater-data/headwater/tree/{__version__}"


def job_name(batch: LandedBatch) -> str:
    return f"ingest.{batch.source}.{batch.topic}"


def _statistics(table: Table, snapshot_id: int) -> tuple[int, int]:
    snapshot = table.snapshot_by_id(snapshot_id)
    summary = snapshot.summary if snapshot else None
    properties = summary.additional_properties if summary else {}
    return int(properties.get("added-files-size", 0)), int(properties.get("added-data-files", 0))


@dataclass(frozen=True, slots=True)
class Landing:
    """One landing run, whatever it read: a webhook batch, a file."""

    job: str
    run_id: str
    processing: str  # STREAMING (webhooks) or BATCH (pulled sources)
    inputs: tuple[tuple[str, str], ...]  # OpenLineage (namespace, name) of what was read
    snapshot_id: int
    rows: int


def landing_events(landing: Landing, table: Table, namespace: str) -> list[RunEvent]:
    """START and COMPLETE of a run that landed ``landing.rows`` rows into ``table``."""
    size, files = _statistics(table, landing.snapshot_id)
    schema = table.schema().as_arrow()
    output = OutputDataset(
        *dataset_id(table.location()),
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=f.name, type=str(f.type))
                    for f in schema
                ]
            ),
            "storage": storage_dataset.StorageDatasetFacet(
                storageLayer="iceberg", fileFormat="parquet"
            ),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(landing.snapshot_id)
            ),
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=landing.rows, size=size, fileCount=files
            )
        },
    )
    job = Job(
        namespace=namespace,
        name=landing.job,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType=landing.processing, integration="HEADWATER", jobType="INGEST"
            )
        },
    )
    inputs = [InputDataset(namespace=ns, name=name) for ns, name in landing.inputs]
    now = datetime.now(UTC).isoformat()
    return [
        RunEvent(
            eventType=state,
            eventTime=now,
            run=Run(runId=landing.run_id),
            job=job,
            inputs=inputs,
            outputs=[output] if state is RunState.COMPLETE else [],
            producer=PRODUCER,
        )
        for state in (RunState.START, RunState.COMPLETE)
    ]


def batch_landing(batch: LandedBatch) -> Landing:
    """A webhook batch: its batch id is the run id, its input the webhook source."""
    return Landing(
        job=job_name(batch),
        run_id=batch.batch_id,
        processing="STREAMING",
        inputs=((f"webhook://{batch.source}", batch.topic),),
        snapshot_id=batch.snapshot_id,
        rows=batch.rows,
    )


def emit_landing(client: OpenLineageClient, landing: Landing, table: Table, namespace: str) -> bool:
    """Send the landing's events; a lineage outage is logged, never fails the landing."""
    try:
        for event in landing_events(landing, table, namespace):
            client.emit(event)
        flush = getattr(client.transport, "flush", None)
        return not (flush() if callable(flush) else 0)
    except Exception as exc:
        log.warning("lineage of run %s not sent: %s: %s", landing.run_id, type(exc).__name__, exc)
        return False
