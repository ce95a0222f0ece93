"""The ASGI application: composition only."""

from __future__ import annotations

import gc
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from headwater import __version__, audit, auth, ingest, lineage, logs, ops, web
from headwater.access_rules import ROUTE_RULES
from headwater.config import DEFAULT_CONFIG_FILE, Settings, load_settings
from headwater.db import Database, ensure_migrated
from headwater.errors import ConfigError, HeadwaterError
from headwater.http_guards import BodyLimit, SecurityHeaders
from headwater.lake import Lake, TableBrowser, warehouse_uri
from headwater.responses import OrjsonResponse, error_body

log = logging.getLogger("headwater.server")


def _field_of(error: dict[str, object]) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # its loc ends in a character offset, which names nothing
    where = [str(p) for p in error.get("loc", ())]  # type: ignore[attr-defined]
    loc = [p for p in where if p not in ("query", "path", "body")]
    return ".".join(loc) or (where[0] if where else "request")


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """Build the app for ``settings``; refuses an un-migrated database."""
    database = database or Database(settings.resolved_database_url)
    ensure_migrated(database)
    access = auth.AccessControl(rules=ROUTE_RULES, database=database, enabled=settings.auth_enabled)
    ingest_service = ingest.IngestService(
        webhook_sources(settings),
        ingest.InboxWriter(database),
        max_backlog=settings.ingest_max_backlog,
        retry_after_s=settings.ingest_retry_after_s,
    )

    # headwater's own Iceberg tables, for the UI's snapshots and previews.
    tables = TableBrowser(
        lambda: Lake(settings.resolved_database_url, settings.resolved_warehouse())
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Before the process ends: uvicorn re-raises the signal that stopped it once it has
        # shut down, so code after its run() may never run.
        for hook in app.state.shutdown_hooks:
            hook()
        ingest_service.close()  # commits what is queued, then stops the inbox writer
        tables.close()

    app = FastAPI(
        title="headwater",
        version=__version__,
        description="OpenLineage ingestion, a Marquez-compatible lineage API, webhooks.",
        dependencies=[Depends(access)],
        lifespan=lifespan,
        # Served below as API routes, so that access control sees them like every other.
        docs_url=None,
        redoc_url=None,  # ReDoc's bundle loads its logo from a CDN; Swagger UI at /docs
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.shutdown_hooks = []  # what else the process runs stops here (headwater up)
    app.state.database = database
    app.state.lineage = lineage.LineageService(
        database, max_body_bytes=settings.max_body_bytes, max_nodes=settings.lineage_max_nodes
    )
    app.state.audit = audit.AuditService(database, signing_key(settings))
    app.state.ingest = ingest_service
    app.state.tables = tables
    app.state.health = health_targets(
        settings, database, lambda: tables.lake, expect_consumer=bool(ingest_service.sources)
    )
    app.include_router(lineage.router)
    app.include_router(audit.router)
    app.include_router(ingest.router)  # described here, answered by ingest.IngestFastPath
    app.include_router(ops.router)
    web.install(app)  # the UI at /, after the API so that no page shadows it

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response:
        return OrjsonResponse(app.openapi())

    # Both from headwater's own assets (make setup copies them in), not FastAPI's CDN defaults:
    # the API's pages work with no network but the one to headwater.
    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="headwater API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # No badge from the online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    # The store's figures are the same whichever process is asked; this process's counters
    # (requests it served, deliveries it answered) are its own.
    store_metrics = ops.StoreMetrics(database, lambda: tables.lake, app.state.health.warehouse)
    app.state.store_metrics = store_metrics
    app.state.metrics = CollectorRegistry(auto_describe=True)
    app.state.metrics.register(store_metrics)

    @app.get("/metrics", tags=["Operations"])
    def metrics() -> Response:
        """Prometheus exposition: the store's figures (ingest backlog and lag, model runs,
        quality failures, lineage coverage, freshness, tables, sizes) and this process's
        counters (requests by route, deliveries, refused tokens)."""
        body = generate_latest(app.state.metrics) + generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    # Outermost last: CORS answers preflights before anything asks for a token.
    app.add_middleware(ingest.IngestFastPath, service=ingest_service)
    app.add_middleware(lineage.EncodedSlashMiddleware)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ops.RequestMetrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
        )

    @app.exception_handler(HeadwaterError)
    async def _headwater_error(request: Request, exc: HeadwaterError) -> Response:
        if exc.status == 401 and (sign_in := web.sign_in_first(request)) is not None:
            return sign_in
        if exc.status >= 500:
            log.error("request failed: %s", exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_body(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        return error_body(400, f"{_field_of(first)}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error_body(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_body(500, f"internal error: {type(exc).__name__}")

    return app


def health_targets(
    settings: Settings,
    database: Database,
    lake: Callable[[], Lake],
    *,
    expect_consumer: bool,
) -> ops.HealthTargets:
    """What readiness checks for these settings: a consumer is expected when the project
    declares webhook sources, a scheduler when headwater.yml declares schedules."""
    return ops.HealthTargets(
        database=database,
        lake=lake,
        warehouse=warehouse_uri(settings.resolved_warehouse()),
        home=settings.home,
        min_free_disk_bytes=settings.min_free_disk_mb * 2**20,
        expect_consumer=expect_consumer,
        expect_scheduler=ops.schedules_declared(settings),
    )


def _project_folder(settings: Settings) -> Path | None:
    if settings.project is not None:
        return settings.project
    config = Path(DEFAULT_CONFIG_FILE)
    if config.is_file():
        import yaml

        try:
            document = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return None  # the settings loader has already said what is wrong with it
        if isinstance(document, dict) and "name" in document:
            return Path(".")
    return None


def configured_project(settings: Settings) -> Any:
    """The configured (or current folder's) pipeline project, loaded; None without one."""
    folder = _project_folder(settings)
    if folder is None:
        return None
    from headwater.pipeline import load_project

    return load_project(folder)


def webhook_sources(settings: Settings, *, secrets: bool = True) -> dict[str, ingest.WebhookSource]:
    """The webhook sources of the configured (or current) pipeline project; none without one.
    ``secrets=False``: without reading their secrets, for what only needs to know they exist."""
    project = configured_project(settings)
    return {} if project is None else ingest.webhook_sources(project, secrets=secrets)


def signing_key(settings: Settings) -> audit.SigningKey:
    configured = settings.audit_signing_key
    return audit.load_signing_key(
        configured.get_secret_value() if configured else None, settings.home
    )


def tune_garbage_collector() -> None:
    """Make the cyclic GC cheap for a server process; call once, after start-up.

    Ingest keeps large acyclic structures alive (a parsed 200-event batch is ~10^5 dicts, the
    writer's facet cache up to 50,000 more), and with the default thresholds (700, 10, 10) the
    collector walks them again and again: in-process, decoding + validating a batch ran at 887
    events/s and writing it at 1,140 events/s; with a gen-0 threshold of 100,000 at 2,048 and
    1,440 (``bench.profile_ingest``). ``gc.freeze()`` also takes everything loaded at start-up
    (modules, the app) out of every later collection. Cycles are still collected.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes: settings from the environment and YAML."""
    settings = load_settings()
    logs.configure(settings)
    app = create_app(settings)
    tune_garbage_collector()
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # any other host name may resolve to anything
        return False


def check_bind(settings: Settings, *, insecure: bool) -> str | None:
    """Refuse to serve a non-loopback address without auth; ``--insecure`` makes it a warning."""
    if settings.auth_enabled or is_loopback(settings.host):
        return None
    message = (
        f"{settings.host} is not a loopback address and auth is off: anyone who can reach it "
        "could read and change everything"
    )
    if not insecure:
        raise ConfigError(
            "host",
            f"{message}; set HEADWATER_AUTH_ENABLED=true (and create tokens), or pass "
            "--insecure to serve it anyway",
        )
    return f"serving without auth on {settings.host} (--insecure): {message}"


def record_configuration(database: Database, settings: Settings, actor: str) -> bool:
    """Audit the effective settings when they differ from the last recorded ones, and the
    ingest declarations of the configured project (`headwater.ingest.record_sources`)."""
    folder = _project_folder(settings)
    if folder is not None:
        from headwater.pipeline import load_project

        ingest.record_sources(database, load_project(folder), actor)
    current = settings.model_dump(mode="json", exclude={"audit_signing_key"})
    current["database_url"] = database.write_engine.url.render_as_string(hide_password=True)
    current["audit_signing_key_id"] = signing_key(settings).key_id  # rotation shows, the key not
    with database.write() as connection:
        last, _ = audit.list_entries(connection, action="config.change", limit=1)
        before = orjson.loads(last[0].details).get("settings", {}) if last else {}
        if before == current:
            return False
        changed = {k: [before.get(k), v] for k, v in current.items() if before.get(k) != v}
        details = {"settings": current, "changed": changed}
        audit.append(
            connection, audit.AuditRecord("config.change", "config:settings", actor, details)
        )
    return True


@contextmanager
def store_targets(
    settings: Settings, *, expect_consumer: bool, migrated: bool = False
) -> Iterator[ops.HealthTargets]:
    """The database and the (lazily opened) warehouse of ``settings``, as what readiness,
    the doctor and alert signals look at; closed afterwards. ``migrated``: refuse a database
    without the latest migrations (for what writes to it)."""
    database = Database(settings.resolved_database_url)
    tables = TableBrowser(
        lambda: Lake(settings.resolved_database_url, settings.resolved_warehouse())
    )
    try:
        if migrated:
            ensure_migrated(database)
        yield health_targets(
            settings, database, lambda: tables.lake, expect_consumer=expect_consumer
        )
    finally:
        tables.close()
        database.dispose()


def scheduler_context(
    settings: Settings, database: Database, error_rate: ops.ErrorRate | None = None
) -> ops.SchedulerContext:
    """What the scheduler (and `headwater trigger`) runs against, for these settings."""

    def open_lake() -> Lake:
        return Lake(settings.resolved_database_url, settings.resolved_warehouse())

    shared = TableBrowser(open_lake)  # readiness and signals reuse one catalog connection

    def lake() -> Lake:
        return shared.lake

    targets = health_targets(
        settings, database, lake, expect_consumer=bool(webhook_sources(settings, secrets=False))
    )
    return ops.SchedulerContext(
        settings=settings,
        database=database,
        open_lake=open_lake,
        targets=targets,
        alerts=ops.load_alerts(settings),
        error_rate=error_rate,
    )
