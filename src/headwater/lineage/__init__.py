"""OpenLineage ingestion and the Marquez-compatible lineage API.

The API side (the router, the service behind it, the HTTP helpers) is imported when first
used: a pipeline run stores its events through the writer and should not pay for importing
FastAPI and the API's modules (a fifth of a second) to do so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headwater.lineage.events import LineageEvent as LineageEvent
from headwater.lineage.events import validate_event as validate_event
from headwater.lineage.writer import LineageWriter as LineageWriter

if TYPE_CHECKING:
    from headwater.lineage.api import LineageService as LineageService
    from headwater.lineage.api import router as router
    from headwater.lineage.http import EncodedSlashMiddleware as EncodedSlashMiddleware
    from headwater.lineage.http import error_body as error_body

_ON_FIRST_USE = {
    "LineageService": "api",
    "router": "api",
    "EncodedSlashMiddleware": "http",
    "error_body": "http",
}

__all__ = [
    "EncodedSlashMiddleware",
    "LineageEvent",
    "LineageService",
    "LineageWriter",
    "error_body",
    "router",
    "validate_event",
]


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"headwater.lineage.{module}"), name)
