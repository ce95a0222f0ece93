"""Deterministic OpenLineage event generator for the lineage benchmark.

Shaped like Marquez's load test (jobs with 8 inputs and 8 outputs of 16 fields each, START +
COMPLETE per run) but laid out as real pipelines rather than random spaghetti, so a depth-20
lineage query returns a bounded, realistic graph:

* ``pipelines`` independent pipelines, each a layered DAG of ``levels`` job levels of
  ``width`` jobs. Dataset level 0 holds raw source tables; job level ``l`` reads 8 of the 12
  tables of dataset level ``l - 1`` and writes 8 of the 12 tables of level ``l`` (so a table
  has 2-3 writers, as append/merge targets do). 100 pipelines x 25 levels x 4 jobs = 10,000
  jobs over 100 x 26 x 12 = 31,200 datasets.
* START carries the job facets, the run's nominalTime/processing_engine facets, the inputs with
  their schema facet and the outputs with their schema facet (and, for one table in five, a
  ``version`` facet that changes every run, like an Iceberg snapshot id). COMPLETE names the
  same inputs and outputs and carries each output's columnLineage facet (every output field
  from 1-2 input fields, DIRECT/INDIRECT transformations) and outputStatistics. Each run
  therefore sends every facet once, and an event averages about 16 KB.
* Later runs of a job repeat the same facets, as real producers do; one table in ten gains a
  column once, at a round of its own, after which its writers and readers send the new schema.

Everything is a pure function of the seed and the (pipeline, level, index, round) numbers, so
any run or node can be regenerated on demand and two processes produce the same stream.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PRODUCER = "https://github.com/headwater/bench"
SPEC = "https://openlineage.io/spec"
RUN_EVENT_URL = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
SCHEMA_URL = f"{SPEC}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
CLL_URL = f"{SPEC}/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
VERSION_URL = (
    f"{SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
STATS_URL = (
    f"{SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet"
)
NOMINAL_URL = f"{SPEC}/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"
ENGINE_URL = f"{SPEC}/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"
JOB_TYPE_URL = f"{SPEC}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
SOURCE_URL = (
    f"{SPEC}/facets/1-0-1/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet"
)
DOC_URL = f"{SPEC}/facets/1-0-1/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"

FIELD_NAMES = (
    "id",
    "customer_id",
    "order_id",
    "product_id",
    "amount",
    "currency",
    "quantity",
    "discount",
    "status",
    "channel",
    "country",
    "region",
    "created_at",
    "updated_at",
    "is_test",
    "ingested_at",
)
ADDED_FIELD = "schema_note"  # the column a schema change adds
FIELD_TYPES = ("BIGINT", "VARCHAR", "DOUBLE", "TIMESTAMP", "DATE", "BOOLEAN", "DECIMAL(18,2)")
TRANSFORMATIONS = (  # (weight, type, subtype)
    (55, "DIRECT", "IDENTITY"),
    (25, "DIRECT", "TRANSFORMATION"),
    (8, "DIRECT", "AGGREGATION"),
    (6, "INDIRECT", "JOIN"),
    (4, "INDIRECT", "FILTER"),
    (2, "INDIRECT", "GROUP_BY"),
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)

Run = tuple[int, int, int, int]  # (pipeline, level, job index, round)


@dataclass(frozen=True, slots=True)
class Config:
    """Size and shape of the generated store."""

    pipelines: int = 100
    levels: int = 25  # job levels per pipeline; dataset levels are 0..levels
    width: int = 4  # jobs per level
    tables: int = 12  # datasets per level
    io: int = 8  # inputs and outputs per job
    runs_per_job: int = 50
    seed: int = 20250101
    versioned_share: float = 0.2  # outputs that send a per-run ``version`` facet
    schema_change_share: float = 0.1  # tables that gain a column once
    two_input_share: float = 0.2  # output fields derived from two input fields

    @classmethod
    def for_events(cls, events: int, seed: int = 20250101) -> Config:
        """The shape for about ``events`` events: 50 runs per job, as many pipelines as fit."""
        base = cls(seed=seed)
        per_pipeline = 2 * base.runs_per_job * base.levels * base.width
        if events >= per_pipeline:
            return cls(pipelines=max(1, round(events / per_pipeline)), seed=seed)
        runs_per_job = max(1, events // (2 * base.levels * base.width))
        return cls(pipelines=1, runs_per_job=runs_per_job, seed=seed)

    @property
    def jobs(self) -> int:
        return self.pipelines * self.levels * self.width

    @property
    def datasets(self) -> int:
        return self.pipelines * (self.levels + 1) * self.tables

    @property
    def runs(self) -> int:
        return self.jobs * self.runs_per_job

    @property
    def events(self) -> int:
        return 2 * self.runs


@dataclass(frozen=True, slots=True)
class _Table:
    namespace: str
    name: str
    types: tuple[str, ...]
    versioned: bool
    change_round: int | None


class EventGenerator:
    """Builds the events of the benchmark store; see the module docstring for the shape."""

    def __init__(self, config: Config) -> None:
        self.config = config
        c = config
        self._inputs = [[(2 * j + i) % c.tables for i in range(c.io)] for j in range(c.width)]
        self._outputs = [[(3 * j + i) % c.tables for i in range(c.io)] for j in range(c.width)]
        writers = [[j for j in range(c.width) if k in self._outputs[j]] for k in range(c.tables)]
        # Column lineage is a property of the table, not of whichever writer sent it last: it
        # reads only tables that every writer of the table reads.
        self._cll_sources: list[list[int]] = []
        for k in range(c.tables):
            common = set(range(c.tables))
            for j in writers[k]:
                common &= set(self._inputs[j])
            self._cll_sources.append(sorted(common) or self._inputs[writers[k][0]])
        self._tables: dict[tuple[int, int, int], _Table] = {}
        self._schema_json: dict[tuple[int, int, int, int], orjson.Fragment] = {}
        self._cll_json: dict[tuple[int, int, int], orjson.Fragment] = {}
        self._job_json: dict[tuple[int, int, int], bytes] = {}

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def job_namespace(pipeline: int) -> str:
        return f"airflow-{pipeline % 5}"

    @staticmethod
    def job_name(pipeline: int, level: int, index: int) -> str:
        return f"p{pipeline:03d}.stage_{level:02d}.task_{index}"

    @staticmethod
    def dataset_namespace(pipeline: int) -> str:
        return f"postgres://dwh{pipeline % 4}:5432"

    @staticmethod
    def dataset_name(pipeline: int, level: int, index: int) -> str:
        return f"dw.p{pipeline:03d}_l{level:02d}_t{index:02d}"

    # -- per-table properties --------------------------------------------------------------

    def _table(self, pipeline: int, level: int, index: int) -> _Table:
        key = (pipeline, level, index)
        table = self._tables.get(key)
        if table is None:
            c = self.config
            rng = random.Random(f"{c.seed}:table:{pipeline}:{level}:{index}")
            types = tuple(rng.choice(FIELD_TYPES) for _ in FIELD_NAMES)
            versioned = level > 0 and rng.random() < c.versioned_share
            change = None
            if rng.random() < c.schema_change_share and c.runs_per_job > 1:
                change = rng.randrange(1, c.runs_per_job)
            table = _Table(
                self.dataset_namespace(pipeline),
                self.dataset_name(pipeline, level, index),
                types,
                versioned,
                change,
            )
            self._tables[key] = table
        return table

    def _schema(self, pipeline: int, level: int, index: int, round_: int) -> orjson.Fragment:
        table = self._table(pipeline, level, index)
        epoch = int(table.change_round is not None and round_ >= table.change_round)
        key = (pipeline, level, index, epoch)
        cached = self._schema_json.get(key)
        if cached is None:
            fields = [{"name": n, "type": t} for n, t in zip(FIELD_NAMES, table.types, strict=True)]
            if epoch:
                fields.append({"name": ADDED_FIELD, "type": "VARCHAR"})
            facet = {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "fields": fields}
            cached = orjson.Fragment(orjson.dumps(facet))
            self._schema_json[key] = cached
        return cached

    def _column_lineage(self, pipeline: int, level: int, index: int) -> orjson.Fragment:
        key = (pipeline, level, index)
        cached = self._cll_json.get(key)
        if cached is None:
            c = self.config
            rng = random.Random(f"{c.seed}:cll:{pipeline}:{level}:{index}")
            sources = self._cll_sources[index]
            weights = [w for w, _, _ in TRANSFORMATIONS]
            fields: dict[str, Any] = {}
            for name in FIELD_NAMES:
                inputs = []
                for _ in range(2 if rng.random() < c.two_input_share else 1):
                    source = self._table(pipeline, level - 1, rng.choice(sources))
                    _, kind, subtype = rng.choices(TRANSFORMATIONS, weights)[0]
                    inputs.append(
                        {
                            "namespace": source.namespace,
                            "name": source.name,
                            "field": rng.choice(FIELD_NAMES),
                            "transformations": [{"type": kind, "subtype": subtype}],
                        }
                    )
                fields[name] = {"inputFields": inputs}
            facet = {"_producer": PRODUCER, "_schemaURL": CLL_URL, "fields": fields}
            cached = orjson.Fragment(orjson.dumps(facet))
            self._cll_json[key] = cached
        return cached

    def _job(self, pipeline: int, level: int, index: int) -> orjson.Fragment:
        key = (pipeline, level, index)
        cached = self._job_json.get(key)
        if cached is None:
            name = self.job_name(pipeline, level, index)
            job = {
                "namespace": self.job_namespace(pipeline),
                "name": name,
                "facets": {
                    "jobType": {
                        "_producer": PRODUCER,
                        "_schemaURL": JOB_TYPE_URL,
                        "processingType": "BATCH",
                        "integration": "SPARK",
                        "jobType": "JOB",
                    },
                    "sourceCodeLocation": {
                        "_producer": PRODUCER,
                        "_schemaURL": SOURCE_URL,
                        "type": "git",
                        "url": f"https://git.example.com/data/pipelines/blob/main/{name.replace('.', '/')}.py",
                    },
                    "documentation": {
                        "_producer": PRODUCER,
                        "_schemaURL": DOC_URL,
                        "description": f"Stage {level} task {index} of pipeline {pipeline}.",
                    },
                },
            }
            cached = orjson.dumps(job)
            self._job_json[key] = cached
        return orjson.Fragment(cached)

    # -- events ----------------------------------------------------------------------------

    def run_id(self, run: Run) -> str:
        p, level, j, r = run
        bits = random.Random(f"{self.config.seed}:run:{p}:{level}:{j}:{r}").getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    def _times(self, run: Run) -> tuple[datetime, datetime, datetime]:
        p, level, j, r = run
        nominal = T0 + timedelta(hours=r)
        start = nominal + timedelta(minutes=2 * level, seconds=(p * 7 + j * 13) % 60)
        end = start + timedelta(seconds=60 + (p * 31 + level * 17 + j * 5 + r) % 540)
        return nominal, start, end

    def start_event(self, run: Run) -> bytes:
        p, level, j, r = run
        nominal, start, _ = self._times(run)
        inputs = []
        for k in self._inputs[j]:
            table = self._table(p, level - 1, k)
            inputs.append(
                {
                    "namespace": table.namespace,
                    "name": table.name,
                    "facets": {"schema": self._schema(p, level - 1, k, r)},
                }
            )
        outputs = []
        for k in self._outputs[j]:
            table = self._table(p, level, k)
            facets: dict[str, Any] = {"schema": self._schema(p, level, k, r)}
            if table.versioned:
                facets["version"] = {
                    "_producer": PRODUCER,
                    "_schemaURL": VERSION_URL,
                    "datasetVersion": str(1_000_000 + r),
                }
            outputs.append({"namespace": table.namespace, "name": table.name, "facets": facets})
        event = {
            "eventType": "START",
            "eventTime": start.isoformat(),
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_URL,
            "run": {
                "runId": self.run_id(run),
                "facets": {
                    "nominalTime": {
                        "_producer": PRODUCER,
                        "_schemaURL": NOMINAL_URL,
                        "nominalStartTime": nominal.isoformat(),
                        "nominalEndTime": (nominal + timedelta(hours=1)).isoformat(),
                    },
                    "processing_engine": {
                        "_producer": PRODUCER,
                        "_schemaURL": ENGINE_URL,
                        "version": "3.5.1",
                        "name": "spark",
                        "openlineageAdapterVersion": "1.24.2",
                    },
                },
            },
            "job": self._job(p, level, j),
            "inputs": inputs,
            "outputs": outputs,
        }
        return orjson.dumps(event)

    def complete_event(self, run: Run) -> bytes:
        p, level, j, r = run
        _, _, end = self._times(run)
        inputs = []
        for k in self._inputs[j]:
            table = self._table(p, level - 1, k)
            inputs.append({"namespace": table.namespace, "name": table.name})
        outputs = []
        for k in self._outputs[j]:
            table = self._table(p, level, k)
            rows = 10_000 + (p * 7919 + level * 104729 + k * 31 + r * 1009) % 990_000
            outputs.append(
                {
                    "namespace": table.namespace,
                    "name": table.name,
                    "facets": {"columnLineage": self._column_lineage(p, level, k)},
                    "outputFacets": {
                        "outputStatistics": {
                            "_producer": PRODUCER,
                            "_schemaURL": STATS_URL,
                            "rowCount": rows,
                            "size": rows * 83,
                        }
                    },
                }
            )
        event = {
            "eventType": "COMPLETE",
            "eventTime": end.isoformat(),
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_URL,
            "run": {"runId": self.run_id(run)},
            "job": self._job(p, level, j),
            "inputs": inputs,
            "outputs": outputs,
        }
        return orjson.dumps(event)

    def runs(self, first_round: int = 0, last_round: int | None = None) -> Iterator[Run]:
        """Runs in stream order: round by round, each round level by level (upstream first)."""
        c = self.config
        stop = c.runs_per_job if last_round is None else last_round
        for r in range(first_round, stop):
            for level in range(1, c.levels + 1):
                for p in range(c.pipelines):
                    for j in range(c.width):
                        yield (p, level, j, r)

    def events(
        self, first_round: int = 0, last_round: int | None = None, group: int = 16
    ) -> Iterator[bytes]:
        """The event stream: runs in groups of ``group``, their STARTs then their COMPLETEs."""
        pending: list[Run] = []
        for run in self.runs(first_round, last_round):
            pending.append(run)
            if len(pending) == group:
                yield from (self.start_event(x) for x in pending)
                yield from (self.complete_event(x) for x in pending)
                pending = []
        yield from (self.start_event(x) for x in pending)
        yield from (self.complete_event(x) for x in pending)

    # -- sampling for the queries ----------------------------------------------------------

    def sample_nodes(self, rng: random.Random, count: int) -> list[str]:
        """Lineage node ids, half datasets (any level) and half jobs, drawn with ``rng``."""
        c = self.config
        nodes = []
        for i in range(count):
            p = rng.randrange(c.pipelines)
            if i % 2 == 0:
                level, k = rng.randrange(c.levels + 1), rng.randrange(c.tables)
                ns, name = self.dataset_namespace(p), self.dataset_name(p, level, k)
                nodes.append(f"dataset:{ns}:{name}")
            else:
                level, j = rng.randint(1, c.levels), rng.randrange(c.width)
                nodes.append(f"job:{self.job_namespace(p)}:{self.job_name(p, level, j)}")
        return nodes

    def sample_fields(self, rng: random.Random, count: int) -> list[str]:
        """``datasetField:`` node ids of written tables (which have column lineage)."""
        c = self.config
        fields = []
        for _ in range(count):
            p, level, k = (
                rng.randrange(c.pipelines),
                rng.randint(1, c.levels),
                rng.randrange(c.tables),
            )
            ns, name = self.dataset_namespace(p), self.dataset_name(p, level, k)
            fields.append(f"datasetField:{ns}:{name}:{rng.choice(FIELD_NAMES)}")
        return fields


def batches(generator: EventGenerator, size: int, **kwargs: Any) -> Iterator[list[bytes]]:
    """The event stream cut into lists of ``size`` serialized events."""
    batch: list[bytes] = []
    for event in generator.events(**kwargs):
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def batch_body(events: list[bytes]) -> bytes:
    """A ``/lineage/batch`` body from serialized events, without re-serializing them."""
    return b"[" + b",".join(events) + b"]"


def produce_batches(config: dict[str, Any], batch_size: int, queue: Any, consumers: int) -> None:
    """Generator-process entry point: batches into ``queue``, then one ``None`` per consumer."""
    generator = EventGenerator(Config(**config))
    for batch in batches(generator, batch_size):
        queue.put(batch)
    for _ in range(consumers):
        queue.put(None)
