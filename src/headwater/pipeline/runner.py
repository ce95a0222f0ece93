"""A pipeline run: the selected models in dependency order, independent ones in parallel.

A model runs once everything it reads (among the selected models) has completed; when one
fails, everything downstream of it is skipped and said so. Parallelism is bounded by the
project's ``threads``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from openlineage.client.event_v2 import RunState

from headwater import logs
from headwater.db import Database
from headwater.lake import Lake, dataset_id
from headwater.lineage.client import make_client
from headwater.pipeline.dag import Graph, build_graph
from headwater.pipeline.emit import LineageEmitter
from headwater.pipeline.execute import ModelOutcome, RunContext, run_model
from headwater.pipeline.lock import project_lock
from headwater.pipeline.project import LAYERS, Model, Project
from headwater.pipeline.state import PipelineState

log = logging.getLogger("headwater.pipeline")

Progress = Callable[[str, str, ModelOutcome | None], None]  # model, status, outcome


@dataclass(slots=True)
class PipelineResult:
    run_uuid: str
    status: str
    outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    undelivered_events: int = 0  # OpenLineage events the transport could not deliver

    @property
    def failed(self) -> list[str]:
        return [n for n, o in self.outcomes.items() if o.record.status != "COMPLETED"]


def ensure_sources(project: Project, lake: Lake) -> list[str]:
    """Create the raw tables that do not exist yet, empty, with their declared schema, and the
    namespace of every layer (before models run in parallel and would race to create them)."""
    for layer in LAYERS:
        lake.ensure_namespace(layer)
    created = []
    for name, source in project.sources.items():
        if lake.load(name) is None:
            lake.create(name, source.schema)
            created.append(name)
    return created


def run_pipeline(
    project: Project,
    database: Database,
    lake: Lake,
    *,
    select: list[str] | None = None,
    full_refresh: bool = False,
    actor: str = "pipeline",
    progress: Progress | None = None,
    graph: Graph | None = None,
) -> PipelineResult:
    """Run the selected models (all when none are selected) of ``project``, one run of a
    project at a time (`RunInProgressError` otherwise)."""
    with project_lock(database, project.name), logs.bound(project=project.name):
        return _run(project, database, lake, select, full_refresh, actor, progress, graph)


def _run(
    project: Project,
    database: Database,
    lake: Lake,
    select: list[str] | None,
    full_refresh: bool,
    actor: str,
    progress: Progress | None,
    graph: Graph | None,
) -> PipelineResult:
    graph = graph or build_graph(project)
    selected = graph.select(select or [])
    ensure_sources(project, lake)
    run_uuid = str(uuid.uuid4())
    nominal_time = datetime.now(UTC)
    state = PipelineState(database)
    emitter = LineageEmitter(
        database,
        make_client(database, actor),
        project,
        graph,
        run_uuid,
        nominal_time,
        lake.warehouse,
    )
    ctx = RunContext(
        project=project,
        graph=graph,
        lake=lake,
        state=state,
        emitter=emitter,
        pipeline_run_uuid=run_uuid,
        full_refresh=frozenset(selected) if full_refresh else frozenset(),
        actor=actor,
        nominal_time=nominal_time,
        dataset_node=lambda table: _node(lake, table),
    )
    state.start_pipeline(run_uuid, project.name, full_refresh, " ".join(select or []), actor)
    log.info("pipeline run %s started: %d models", run_uuid, len(selected))
    result = PipelineResult(run_uuid, "RUNNING")
    notify = progress or (lambda _name, _status, _outcome: None)
    with logs.bound(pipeline_run_id=run_uuid):
        _execute(ctx, emitter, selected, result, notify)
    result.undelivered_events = emitter.undelivered
    log.info("pipeline run %s %s", run_uuid, result.status)
    return result


def _execute(
    ctx: RunContext,
    emitter: LineageEmitter,
    selected: list[str],
    result: PipelineResult,
    notify: Progress,
) -> None:
    state, run_uuid = ctx.state, ctx.pipeline_run_uuid
    try:
        emitter.pipeline_event(RunState.START)
        _schedule(ctx, selected, result, notify)
        result.status = "FAILED" if result.failed or result.skipped else "COMPLETED"
        state.finish_pipeline(run_uuid, result.status)
        failed = ", ".join(result.failed)
        failure = f"models failed: {failed}" if result.status == "FAILED" else None
        emitter.pipeline_event(RunState.FAIL if failure else RunState.COMPLETE, error=failure)
    finally:
        emitter.close()


def _node(lake: Lake, table: str) -> str:
    loaded = lake.load(table)
    location = loaded.location() if loaded is not None else f"{lake.warehouse}/{table}"
    namespace, name = dataset_id(location)
    return f"dataset:{namespace}:{name}"


def _schedule(
    ctx: RunContext, selected: list[str], result: PipelineResult, notify: Progress
) -> None:
    """Run ``selected`` models, each once its parents finished, ``threads`` at a time.

    Of the models ready to run, the one heading the longest chain of models after it starts
    first (on ties, the one ready first): with two threads, starting a short side branch
    before the long chain would make the whole run wait for that chain later.
    """
    chosen = set(selected)
    chain = ctx.graph.chain_lengths()
    pending = list(selected)
    ready: list[str] = []
    running: dict[Future[ModelOutcome], str] = {}
    finished: set[str] = set()
    with ThreadPoolExecutor(max_workers=ctx.project.threads) as pool:
        while pending or ready or running:
            for name in list(pending):
                parents = [p for p in ctx.graph.parents(name) if p in chosen]
                blocked = [p for p in parents if p in result.skipped or _failed(result, p)]
                if blocked:
                    pending.remove(name)
                    result.skipped[name] = f"upstream {blocked[0]} did not complete"
                    notify(name, "SKIPPED", None)
                elif all(p in finished for p in parents):
                    pending.remove(name)
                    ready.append(name)
            ready.sort(key=lambda name: -chain.get(name, 1))  # stable on ties
            while ready and len(running) < ctx.project.threads:
                name = ready.pop(0)
                notify(name, "RUNNING", None)
                running[pool.submit(_run_model, ctx, ctx.project.models[name])] = name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                outcome = future.result()
                result.outcomes[name] = outcome
                finished.add(name)
                notify(name, outcome.record.status, outcome)


def _run_model(ctx: RunContext, model: Model) -> ModelOutcome:
    # A pool thread starts with no context: bind the run's ids for its log lines here.
    with logs.bound(project=ctx.project.name, pipeline_run_id=ctx.pipeline_run_uuid):
        return run_model(ctx, model)


def _failed(result: PipelineResult, name: str) -> bool:
    outcome = result.outcomes.get(name)
    return outcome is not None and outcome.record.status != "COMPLETED"
