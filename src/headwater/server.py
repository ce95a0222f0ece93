"""The ASGI application: composition only."""

from __future__ import annotations

import gc
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from headwater import __version__
from headwater.config import Settings, load_settings
from headwater.db import Database, ensure_migrated
from headwater.errors import HeadwaterError
from headwater.lineage import EncodedSlashMiddleware, LineageService, error_body, router

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
    app = FastAPI(
        title="headwater",
        version=__version__,
        description="OpenLineage ingestion and a Marquez-compatible lineage API.",
    )
    app.state.settings = settings
    app.state.database = database
    app.state.lineage = LineageService(
        database, max_body_bytes=settings.max_body_bytes, max_nodes=settings.lineage_max_nodes
    )
    app.include_router(router)
    app.add_middleware(EncodedSlashMiddleware)

    @app.exception_handler(HeadwaterError)
    async def _headwater_error(_: Request, exc: HeadwaterError) -> Response:
        if exc.status >= 500:
            log.error("request failed: %s", exc.message)
        return error_body(exc.status, exc.message)

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
    app = create_app(load_settings())
    tune_garbage_collector()
    return app
