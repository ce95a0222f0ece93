"""The Marquez-compatible HTTP API: ``POST /api/v1/lineage[/batch]`` and the v1 read API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from headwater import audit
from headwater.audit import AuditRecord
from headwater.auth import actor_of
from headwater.db import Database
from headwater.errors import BadRequestError, DatabaseNotReadyError
from headwater.lineage import edits, read, shapes
from headwater.lineage.column_graph import column_lineage_graph
from headwater.lineage.events import LineageEvent, decode_json, validate_event
from headwater.lineage.graph import Direction, lineage_graph
from headwater.lineage.http import JsonObject, Name, OrjsonResponse, read_body
from headwater.lineage.search import SearchFilter, SearchSort, search
from headwater.lineage.writer import LineageWriter

Limit = Annotated[int, Query(ge=0, le=100_000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]


class LineageService:
    """What the routes need: the database, the writer and two limits from the settings."""

    def __init__(self, database: Database, *, max_body_bytes: int, max_nodes: int) -> None:
        self.database = database
        self.writer = LineageWriter(database)
        self.max_body_bytes = max_body_bytes
        self.max_nodes = max_nodes

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.database.read() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with self.database.write() as connection:
            yield connection


def _service(request: Request) -> LineageService:
    service: LineageService = request.app.state.lineage
    return service


def _read(request: Request, query: Callable[[Connection], Any]) -> OrjsonResponse:
    """Run a read query; the answer is serialised by orjson directly, not through FastAPI's
    ``jsonable_encoder``, which costs more than the query on a large lineage graph."""
    with _service(request).reading() as connection:
        return OrjsonResponse(query(connection))


def _write(
    request: Request,
    change: Callable[[Connection], Any],
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> OrjsonResponse:
    """Make ``change`` and record it in the audit log, in one transaction."""
    record = AuditRecord(action, target, actor_of(request.state), details or {})
    with _service(request).writing() as connection:
        answer = change(connection)
        audit.append(connection, record)
        return OrjsonResponse(answer)


router = APIRouter(prefix="/api/v1", default_response_class=OrjsonResponse)


# -- ingestion -------------------------------------------------------------------------------


@router.post("/lineage", status_code=201, tags=["Lineage"])
async def post_lineage(request: Request) -> Response:
    """Record one OpenLineage event (RunEvent, DatasetEvent or JobEvent). Answers 201."""
    service = _service(request)
    body = await read_body(request, service.max_body_bytes)
    event = validate_event(decode_json(body))
    await run_in_threadpool(service.writer.write, event, actor_of(request.state))
    return Response(status_code=201)


@router.post("/lineage/batch", tags=["Lineage"])
async def post_lineage_batch(request: Request) -> OrjsonResponse:
    """Record an array of events; the answer says which failed and why (OpenLineage spec)."""
    service = _service(request)
    body = await read_body(request, service.max_body_bytes)
    raw = decode_json(body)
    if not isinstance(raw, list):
        raise BadRequestError("must be an array of events", "body")
    failed: list[dict[str, Any]] = []
    valid: list[tuple[int, LineageEvent]] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, validate_event(item)))
        except BadRequestError as exc:
            failed.append({"index": index, "reason": exc.message, "retriable": False})
    outcomes = await run_in_threadpool(
        service.writer.write_batch, [e for _, e in valid], actor_of(request.state)
    )
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        if outcome.reason is not None:
            failed.append(
                {"index": index, "reason": outcome.reason, "retriable": outcome.retriable}
            )
    failed.sort(key=lambda f: f["index"])
    retriable = sum(1 for f in failed if f["retriable"])
    return OrjsonResponse(
        {
            "status": "partial_success" if failed else "success",
            "summary": {
                "received": len(raw),
                "successful": len(raw) - len(failed),
                "failed": len(failed),
                "retriable": retriable,
                "non_retriable": len(failed) - retriable,
            },
            "failed_events": failed,
        }
    )


# -- lineage graphs --------------------------------------------------------------------------


@router.get("/lineage", tags=["Lineage"])
def get_lineage(
    request: Request,
    node_id: Annotated[str, Query(alias="nodeId", description="dataset:ns:name or job:ns:name")],
    depth: Annotated[int, Query(ge=0, le=1000, description="Job hops from the node.")] = 20,
    direction: Annotated[
        Direction, Query(description="upstream, downstream, or both (Marquez's behaviour).")
    ] = "both",
    max_nodes: Annotated[
        int | None,
        Query(
            alias="maxNodes",
            ge=1,
            description="Node cap, up to lineage_max_nodes; see `truncated`.",
        ),
    ] = None,
) -> OrjsonResponse:
    ceiling = _service(request).max_nodes
    if max_nodes is not None and max_nodes > ceiling:
        # The setting bounds the work one request can ask for; it is also the default.
        raise BadRequestError(
            f"must be at most {ceiling} (the server's lineage_max_nodes setting)", "maxNodes"
        )
    cap = max_nodes or ceiling
    return _read(
        request,
        lambda c: lineage_graph(c, node_id, depth=depth, direction=direction, max_nodes=cap),
    )


@router.get("/column-lineage", tags=["Column lineage"])
def get_column_lineage(
    request: Request,
    node_id: Annotated[str, Query(alias="nodeId")],
    depth: Annotated[int, Query(ge=0, le=1000)] = 20,
    with_downstream: Annotated[bool, Query(alias="withDownstream")] = False,
) -> OrjsonResponse:
    return _read(
        request,
        lambda c: column_lineage_graph(c, node_id, depth=depth, with_downstream=with_downstream),
    )


# -- namespaces, sources, tags ---------------------------------------------------------------


@router.get("/namespaces", tags=["Namespaces"])
def get_namespaces(request: Request, limit: Limit = 100, offset: Offset = 0) -> OrjsonResponse:
    return _read(request, lambda c: read.list_namespaces(c, limit, offset))


@router.get("/namespaces/{namespace}", tags=["Namespaces"])
def get_namespace(request: Request, namespace: Name) -> OrjsonResponse:
    return _read(request, lambda c: shapes.namespace(read.namespace_row(c, namespace)))


@router.put("/namespaces/{namespace}", tags=["Namespaces"])
def put_namespace(request: Request, namespace: Name, body: JsonObject) -> OrjsonResponse:
    if body is None:
        raise BadRequestError('is required: {"ownerName": "...", "description": "..."}', "body")
    owner = body.get("ownerName")
    if not isinstance(owner, str) or not owner:
        raise BadRequestError("is required and must be a string", "ownerName")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError("must be a string", "description")
    return _write(
        request,
        lambda c: shapes.namespace(edits.put_namespace(c, namespace, owner, description)),
        "namespace.put",
        f"namespace:{namespace}",
        {"ownerName": owner, "description": description},
    )


@router.delete("/namespaces/{namespace}", tags=["Namespaces"])
def delete_namespace(request: Request, namespace: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: shapes.namespace(edits.delete_namespace(c, namespace)),
        "namespace.delete",
        f"namespace:{namespace}",
        {"soft": True},
    )


@router.get("/sources", tags=["Sources"])
def get_sources(request: Request, limit: Limit = 100, offset: Offset = 0) -> OrjsonResponse:
    return _read(request, lambda c: read.list_sources(c, limit, offset))


@router.get("/sources/{source}", tags=["Sources"])
def get_source(request: Request, source: Name) -> OrjsonResponse:
    return _read(request, lambda c: read.get_source(c, source))


@router.get("/tags", tags=["Tags"])
def get_tags(request: Request, limit: Limit = 100, offset: Offset = 0) -> OrjsonResponse:
    return _read(request, lambda c: read.list_tags(c, limit, offset))


@router.put("/tags/{tag}", tags=["Tags"])
def put_tag(request: Request, tag: Name, body: JsonObject) -> OrjsonResponse:
    description = (body or {}).get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError("must be a string", "description")
    return _write(
        request,
        lambda c: edits.put_tag(c, tag, description),
        "tag.put",
        f"tag:{tag}",
        {"description": description},
    )


# -- datasets --------------------------------------------------------------------------------


@router.get("/namespaces/{namespace}/datasets", tags=["Datasets"])
def get_datasets(
    request: Request, namespace: Name, limit: Limit = 100, offset: Offset = 0
) -> OrjsonResponse:
    return _read(request, lambda c: read.list_datasets(c, namespace, limit, offset))


@router.get("/namespaces/{namespace}/datasets/{dataset}/versions/{version}", tags=["Datasets"])
def get_dataset_version(
    request: Request, namespace: Name, dataset: Name, version: Name
) -> OrjsonResponse:
    return _read(request, lambda c: read.get_dataset_version(c, namespace, dataset, version))


@router.get("/namespaces/{namespace}/datasets/{dataset}/versions", tags=["Datasets"])
def get_dataset_versions(
    request: Request, namespace: Name, dataset: Name, limit: Limit = 100, offset: Offset = 0
) -> OrjsonResponse:
    return _read(
        request, lambda c: read.list_dataset_versions(c, namespace, dataset, limit, offset)
    )


@router.post("/namespaces/{namespace}/datasets/{dataset}/tags/{tag}", tags=["Datasets"])
def tag_dataset(request: Request, namespace: Name, dataset: Name, tag: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_dataset(c, namespace, dataset, tag),
        "dataset.tag",
        f"dataset:{namespace}:{dataset}",
        {"tag": tag},
    )


@router.delete("/namespaces/{namespace}/datasets/{dataset}/tags/{tag}", tags=["Datasets"])
def untag_dataset(request: Request, namespace: Name, dataset: Name, tag: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_dataset(c, namespace, dataset, tag, remove=True),
        "dataset.untag",
        f"dataset:{namespace}:{dataset}",
        {"tag": tag},
    )


@router.post(
    "/namespaces/{namespace}/datasets/{dataset}/fields/{field}/tags/{tag}", tags=["Datasets"]
)
def tag_field(
    request: Request, namespace: Name, dataset: Name, field: Name, tag: Name
) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_dataset(c, namespace, dataset, tag, field=field),
        "field.tag",
        f"dataset:{namespace}:{dataset}",
        {"field": field, "tag": tag},
    )


@router.delete(
    "/namespaces/{namespace}/datasets/{dataset}/fields/{field}/tags/{tag}", tags=["Datasets"]
)
def untag_field(
    request: Request, namespace: Name, dataset: Name, field: Name, tag: Name
) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_dataset(c, namespace, dataset, tag, field=field, remove=True),
        "field.untag",
        f"dataset:{namespace}:{dataset}",
        {"field": field, "tag": tag},
    )


@router.get("/namespaces/{namespace}/datasets/{dataset}", tags=["Datasets"])
def get_dataset(request: Request, namespace: Name, dataset: Name) -> OrjsonResponse:
    return _read(request, lambda c: read.get_dataset(c, namespace, dataset))


@router.delete("/namespaces/{namespace}/datasets/{dataset}", tags=["Datasets"])
def delete_dataset(request: Request, namespace: Name, dataset: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.delete_dataset(c, namespace, dataset),
        "dataset.delete",
        f"dataset:{namespace}:{dataset}",
        {"soft": True},
    )


# -- jobs and runs ---------------------------------------------------------------------------


@router.get("/jobs", tags=["Jobs"])
def get_all_jobs(request: Request, limit: Limit = 100, offset: Offset = 0) -> OrjsonResponse:
    return _read(request, lambda c: read.list_jobs(c, None, limit, offset))


@router.get("/namespaces/{namespace}/jobs", tags=["Jobs"])
def get_jobs(
    request: Request, namespace: Name, limit: Limit = 100, offset: Offset = 0
) -> OrjsonResponse:
    return _read(request, lambda c: read.list_jobs(c, namespace, limit, offset))


@router.get("/namespaces/{namespace}/jobs/{job}/runs", tags=["Jobs"])
def get_job_runs(
    request: Request, namespace: Name, job: Name, limit: Limit = 100, offset: Offset = 0
) -> OrjsonResponse:
    return _read(request, lambda c: read.list_job_runs(c, namespace, job, limit, offset))


@router.get("/namespaces/{namespace}/jobs/{job}/versions/{version}", tags=["Jobs"])
def get_job_version(request: Request, namespace: Name, job: Name, version: Name) -> OrjsonResponse:
    return _read(request, lambda c: read.get_job_version(c, namespace, job, version))


@router.get("/namespaces/{namespace}/jobs/{job}/versions", tags=["Jobs"])
def get_job_versions(
    request: Request, namespace: Name, job: Name, limit: Limit = 100, offset: Offset = 0
) -> OrjsonResponse:
    return _read(request, lambda c: read.list_job_versions(c, namespace, job, limit, offset))


@router.post("/namespaces/{namespace}/jobs/{job}/tags/{tag}", tags=["Jobs"])
def tag_job(request: Request, namespace: Name, job: Name, tag: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_job(c, namespace, job, tag),
        "job.tag",
        f"job:{namespace}:{job}",
        {"tag": tag},
    )


@router.delete("/namespaces/{namespace}/jobs/{job}/tags/{tag}", tags=["Jobs"])
def untag_job(request: Request, namespace: Name, job: Name, tag: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.tag_job(c, namespace, job, tag, remove=True),
        "job.untag",
        f"job:{namespace}:{job}",
        {"tag": tag},
    )


@router.get("/namespaces/{namespace}/jobs/{job}", tags=["Jobs"])
def get_job(request: Request, namespace: Name, job: Name) -> OrjsonResponse:
    return _read(request, lambda c: read.get_job(c, namespace, job))


@router.delete("/namespaces/{namespace}/jobs/{job}", tags=["Jobs"])
def delete_job(request: Request, namespace: Name, job: Name) -> OrjsonResponse:
    return _write(
        request,
        lambda c: edits.delete_job(c, namespace, job),
        "job.delete",
        f"job:{namespace}:{job}",
        {"soft": True},
    )


@router.get("/jobs/runs/{run_id}", tags=["Jobs"])
def get_run(request: Request, run_id: Name) -> OrjsonResponse:
    """A run by its UUID, or by the producer's original runId when that was not a UUID."""
    return _read(request, lambda c: read.get_run(c, run_id))


@router.get("/jobs/runs/{run_id}/facets", tags=["Jobs"])
def get_run_facets(
    request: Request, run_id: Name, type: Annotated[Literal["run", "job"], Query()] = "run"
) -> OrjsonResponse:
    return _read(request, lambda c: read.run_facets(c, run_id, type))


# -- events, search, health ------------------------------------------------------------------


@router.get("/events/lineage", tags=["Events"])
def get_lineage_events(
    request: Request,
    before: datetime | None = None,
    after: datetime | None = None,
    sort_direction: Annotated[Literal["asc", "desc"], Query(alias="sortDirection")] = "desc",
    limit: Limit = 100,
    offset: Offset = 0,
) -> OrjsonResponse:
    return _read(
        request,
        lambda c: read.list_events(
            c,
            before=before,
            after=after,
            descending=sort_direction == "desc",
            limit=limit,
            offset=offset,
        ),
    )


@router.get("/search", tags=["Search"])
def get_search(
    request: Request,
    q: Annotated[str, Query(min_length=1, description="Pattern; % and _ are wildcards.")],
    filter: Annotated[SearchFilter | None, Query()] = None,
    sort: Annotated[SearchSort, Query()] = "name",
    limit: Limit = 10,
    namespace: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
) -> OrjsonResponse:
    return _read(
        request,
        lambda c: search(
            c,
            q,
            filter=filter,
            sort=sort,
            limit=limit,
            namespace=namespace,
            before=before,
            after=after,
        ),
    )


@router.get("/health", tags=["Health"])
def get_health(request: Request) -> OrjsonResponse:
    """Marquez-compatible liveness: answers once the metadata DB answers."""
    try:
        _read(request, lambda c: c.exec_driver_sql("SELECT 1").scalar_one())
    except Exception as exc:  # any failure to reach the DB means unhealthy
        raise DatabaseNotReadyError(f"metadata database unreachable: {exc}") from exc
    return OrjsonResponse({"status": "ok"})
