"""OpenLineage ingestion and the Marquez-compatible lineage API."""

from headwater.lineage.api import LineageService as LineageService
from headwater.lineage.api import router as router
from headwater.lineage.events import LineageEvent as LineageEvent
from headwater.lineage.events import validate_event as validate_event
from headwater.lineage.http import EncodedSlashMiddleware as EncodedSlashMiddleware
from headwater.lineage.http import error_body as error_body
from headwater.lineage.writer import LineageWriter as LineageWriter

__all__ = [
    "EncodedSlashMiddleware",
    "LineageEvent",
    "LineageService",
    "LineageWriter",
    "error_body",
    "router",
    "validate_event",
]
