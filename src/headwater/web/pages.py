"""The UI's pages, rendered on the server from the lineage store and the audit log.

Pages take their subject from the query string (``/dataset?namespace=...&name=...``), not from
path segments: OpenLineage names hold slashes, colons and dots (``file:///warehouse``,
``s3://bucket/path``), and a query string carries any of them without special rules, so every
page's URL is shareable as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from headwater import audit, auth, lineage, ops
from headwater.errors import BadRequestError, HeadwaterError, NotFoundError, UnauthorizedError
from headwater.web.charts import Bar, bar_chart
from headwater.web.format import duration, register_filters

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
register_filters(templates.env)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
# The pages that need a reader: a browser not signed in is sent to /login instead.
PAGES = frozenset(
    ["/", "/lineage", "/datasets", "/dataset", "/jobs", "/job", "/run", "/search", "/audit"]
)

Name = Annotated[str, Query(min_length=1, max_length=4096)]
Depth = Annotated[int, Query(ge=0, le=1000, description="Job hops from the node")]
Offset = Annotated[int, Query(ge=0)]
# Rows of a list page (datasets, jobs), the others a "Next" link away: the lineage benchmark's
# store holds 31,200 datasets and 10,000 jobs, and pages of up to 1,000 (per namespace) took
# the server 0.2-0.9 s to render (bench/web.py).
LIST_PAGE = 100


@contextmanager
def _reading(request: Request) -> Iterator[Connection]:
    with request.app.state.database.read() as connection:
        yield connection


def _render(
    request: Request, template: str, context: Callable[[Connection], dict[str, Any]]
) -> Response:
    """``template`` with ``context``; a missing subject or bad argument is an error page with
    its status (404, 400), not a traceback.

    The answer's ``Server-Timing`` header says where the server's time went: ``data`` (the
    store's queries and shaping their rows) and ``render`` (the template), in milliseconds,
    which a browser's developer tools show beside the request and ``bench/web.py`` reads."""
    began = time.perf_counter()
    try:
        with _reading(request) as connection:
            values = context(connection)
    except HeadwaterError as exc:
        if exc.status >= 500:
            raise
        return templates.TemplateResponse(
            request, "error.html", {"status": exc.status, "message": exc.message}, exc.status
        )
    read = time.perf_counter()
    answer = templates.TemplateResponse(request, template, values)  # renders here
    done = time.perf_counter()
    answer.headers["Server-Timing"] = (
        f"data;dur={(read - began) * 1000:.1f}, render;dur={(done - read) * 1000:.1f}"
    )
    return answer


@router.get("/")
def dashboard(
    request: Request,
    stale_hours: Annotated[int, Query(ge=1, le=24 * 366)] = 24,
) -> Response:
    now = datetime.now(UTC)

    def context(connection: Connection) -> dict[str, Any]:
        hourly = lineage.events_per_hour(connection, now, 24)
        bars = [
            Bar(
                label=when.strftime("%H") if i % 3 == 0 else "",
                value=count,
                title=f"{when:%Y-%m-%d %H:00} UTC: {count:,} events",
            )
            for i, (when, count) in enumerate(hourly)
        ]
        return {
            "counts": lineage.counts(connection),
            "events_chart": bar_chart(bars, caption="Lineage events per hour, last 24 hours"),
            "events_total": sum(count for _, count in hourly),
            "failing": lineage.runs_in_state(connection, lineage.FAILED_STATES, 20),
            "running": lineage.runs_in_state(connection, lineage.UNFINISHED_STATES, 20),
            "stale": lineage.stale_datasets(connection, now, timedelta(hours=stale_hours), 20),
            "stale_hours": stale_hours,
            "alerts": [a for a in ops.current_alerts(connection) if a.state != "ok"],
            "alerts_evaluated": ops.last_evaluated(connection),
            "now": now,
        }

    return _render(request, "dashboard.html", context)


@router.get("/lineage")
def explorer(
    request: Request,
    node: Annotated[str | None, Query(max_length=4096)] = None,
    direction: Annotated[str, Query(pattern="^(upstream|downstream|both)$")] = "both",
    depth: Depth = 2,
    column: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """The explorer's page; the graph itself is drawn in the browser from
    ``/api/v1/lineage`` (static/explorer.js)."""

    def context(connection: Connection) -> dict[str, Any]:
        return {"node": node, "direction": direction, "depth": depth, "column": column}

    return _render(request, "lineage.html", context)


@router.get("/datasets")
def datasets(
    request: Request, namespace: Annotated[str | None, Query()] = None, offset: Offset = 0
) -> Response:
    def context(connection: Connection) -> dict[str, Any]:
        spaces = [n["name"] for n in lineage.list_namespaces(connection, 1000, 0)["namespaces"]]
        found = lineage.list_datasets(connection, namespace or None, LIST_PAGE, offset)
        return {
            "namespaces": spaces,
            "namespace": namespace,
            "found": found["datasets"],
            "total": found["totalCount"],
            "offset": offset,
            "page_size": LIST_PAGE,
        }

    return _render(request, "datasets.html", context)


class Tables(Protocol):
    """headwater's own Iceberg tables, as the app provides them (``app.state.tables``)."""

    def find(self, namespace: str, name: str) -> str | None: ...

    def snapshots(self, table_name: str) -> Sequence[Any]: ...

    def preview(self, table_name: str, snapshot_id: int, limit: int) -> list[dict[str, Any]]: ...


@router.get("/dataset")
def dataset(
    request: Request,
    namespace: Name,
    name: Name,
    version: Annotated[int | None, Query(ge=0, description="An Iceberg snapshot id")] = None,
) -> Response:
    """A dataset; for one of headwater's Iceberg tables also its snapshots, and with
    ``version`` its rows as of that snapshot (time travel)."""
    tables: Tables = request.app.state.tables

    def context(connection: Connection) -> dict[str, Any]:
        found = lineage.get_dataset(connection, namespace, name)
        versions = lineage.list_dataset_versions(connection, namespace, name, 50, 0)
        node = f"dataset:{namespace}:{name}"
        table = tables.find(namespace, name)
        snapshots = tables.snapshots(table) if table else []
        shown = (
            version if version is not None else (snapshots[0].snapshot_id if snapshots else None)
        )
        if version is not None and table is None:
            raise BadRequestError(
                "only headwater's own Iceberg tables have rows to show", "version"
            )
        return {
            "dataset": found,
            "versions": versions,
            "node": node,
            "history": audit.list_entries(connection, target=node, limit=20)[0],
            "table": table,
            "snapshots": snapshots,
            "shown": shown,
            "preview": tables.preview(table, shown, 20) if table and shown is not None else None,
        }

    return _render(request, "dataset.html", context)


@router.get("/jobs")
def jobs(
    request: Request, namespace: Annotated[str | None, Query()] = None, offset: Offset = 0
) -> Response:
    def context(connection: Connection) -> dict[str, Any]:
        spaces = [n["name"] for n in lineage.list_namespaces(connection, 1000, 0)["namespaces"]]
        found = lineage.list_jobs(connection, namespace or None, LIST_PAGE, offset)
        return {
            "namespaces": spaces,
            "namespace": namespace,
            "found": found["jobs"],
            "total": found["totalCount"],
            "offset": offset,
            "page_size": LIST_PAGE,
        }

    return _render(request, "jobs.html", context)


@router.get("/job")
def job(request: Request, namespace: Name, name: Name) -> Response:
    def context(connection: Connection) -> dict[str, Any]:
        found = lineage.get_job(connection, namespace, name)
        runs = lineage.list_job_runs(connection, namespace, name, 100, 0)
        bars = [
            Bar(
                label="",
                value=duration(run) or 0.0,
                title=f"{run['id']}: {run['state']}, {_seconds(duration(run))}",
                tone=_tone(run["state"]),
            )
            for run in reversed(runs["runs"])
        ]
        return {
            "job": found,
            "runs": runs,
            "chart": bar_chart(bars, caption="Run durations, oldest first", unit=" s"),
            "node": f"job:{namespace}:{name}",
        }

    return _render(request, "job.html", context)


@router.get("/run")
def run(request: Request, id: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
    def context(connection: Connection) -> dict[str, Any]:
        return {"run": lineage.get_run(connection, id)}

    return _render(request, "run.html", context)


@router.get("/search")
def search(request: Request, q: Annotated[str, Query(max_length=1024)] = "") -> Response:
    def context(connection: Connection) -> dict[str, Any]:
        if not q.strip():
            return {"q": q, "found": None}
        found = lineage.search_nodes(
            connection,
            q.strip(),
            filter=None,
            sort="name",
            limit=100,
            namespace=None,
            before=None,
            after=None,
        )
        return {"q": q, "found": found}

    return _render(request, "search.html", context)


@router.get("/audit")
def audit_log(
    request: Request,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=256)] = None,
    target: Annotated[str | None, Query(max_length=4096)] = None,
    offset: Offset = 0,
    verify: bool = False,
) -> Response:
    """The log, newest first, filtered like ``GET /api/v1/audit``; ``verify`` checks the
    whole chain and the stored checkpoints (it reads every entry, so it is asked for)."""

    def context(connection: Connection) -> dict[str, Any]:
        entries, total = audit.list_entries(
            connection,
            actor=actor or None,
            action=action or None,
            target=target or None,
            after=None,
            before=None,
            limit=50,
            offset=offset,
        )
        report = audit.verify_log(connection) if verify else None
        return {
            "entries": entries,
            "total": total,
            "offset": offset,
            "filters": {"actor": actor or "", "action": action or "", "target": target or ""},
            "report": report,
            "checkpoint": request.app.state.audit.checkpoint(),
        }

    return _render(request, "audit.html", context)


# -- signing in: the token as an HttpOnly cookie, which access control reads for GETs only ----

SIGNED_IN_HOURS = 12


def _local(target: str) -> str:
    """Where to go after signing in: a path of this server only (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=4096)] = "/") -> Response:
    return templates.TemplateResponse(request, "login.html", {"next": _local(next), "error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    """Form fields ``token`` and ``next``. A good token is kept in a cookie for
    `SIGNED_IN_HOURS` (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _local((form.get("next") or ["/"])[0])

    def refused(message: str, status: int) -> Response:
        context = {"next": target, "error": message}
        return templates.TemplateResponse(request, "login.html", context, status)

    if not token:
        return refused("token: paste an API token (headwater token create NAME)", 400)
    try:
        await run_in_threadpool(auth.authenticate_token, request.app.state.database, token)
    except UnauthorizedError as exc:
        return refused(f"token: {exc.message}", 401)
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        auth.TOKEN_COOKIE,
        token,
        max_age=SIGNED_IN_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/logout")
def logout() -> Response:
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(auth.TOKEN_COOKIE, httponly=True, samesite="strict")
    return answer


def sign_in_first(request: Request) -> Response | None:
    """For a browser asking for a page without being signed in: the sign-in page, which
    comes back here. None for anything else (an API client gets its 401)."""
    route = request.scope.get("route")
    page = getattr(route, "path", None) in PAGES and request.method == "GET"
    if not page or "text/html" not in request.headers.get("accept", ""):
        return None
    return RedirectResponse(
        f"/login?{urlencode({'next': request.url.path + ('?' + request.url.query if request.url.query else '')})}",
        status_code=303,
    )


@router.get("/static/{path:path}")
def static(path: str) -> Response:
    """The UI's own assets; nothing is loaded from anywhere else."""
    try:
        target = (STATIC / path).resolve()
    except (OSError, ValueError):  # a NUL byte or a path the OS refuses: no such asset
        raise NotFoundError("asset", path) from None
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise NotFoundError("asset", path)
    return FileResponse(target, headers={"Cache-Control": "no-cache"})


def _tone(state: str) -> str:
    if state in lineage.FAILED_STATES:
        return "failed"
    if state in lineage.UNFINISHED_STATES:
        return "running"
    return "ok"


def _seconds(value: float | None) -> str:
    return "not finished" if value is None else f"{value:,.1f} s"
