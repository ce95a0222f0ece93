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
    from headwater.lineage.read import get_dataset as get_dataset
    from headwater.lineage.read import get_job as get_job
    from headwater.lineage.read import get_run as get_run
    from headwater.lineage.read import list_dataset_versions as list_dataset_versions
    from headwater.lineage.read import list_datasets as list_datasets
    from headwater.lineage.read import list_job_runs as list_job_runs
    from headwater.lineage.read import list_jobs as list_jobs
    from headwater.lineage.read import list_namespaces as list_namespaces
    from headwater.lineage.search import search as search_nodes
    from headwater.lineage.stats import FAILED_STATES as FAILED_STATES
    from headwater.lineage.stats import UNFINISHED_STATES as UNFINISHED_STATES
    from headwater.lineage.stats import counts as counts
    from headwater.lineage.stats import events_per_hour as events_per_hour
    from headwater.lineage.stats import runs_in_state as runs_in_state
    from headwater.lineage.stats import stale_datasets as stale_datasets

_ON_FIRST_USE = {
    "LineageService": "api",
    "router": "api",
    "EncodedSlashMiddleware": "http",
    "error_body": "http",
    # The read side, for the web UI: Marquez-shaped answers, and the dashboard's figures.
    **dict.fromkeys(
        [
            "get_dataset",
            "get_job",
            "get_run",
            "list_dataset_versions",
            "list_datasets",
            "list_job_runs",
            "list_jobs",
            "list_namespaces",
        ],
        "read",
    ),
    # Not `search`: that is the name of the module, which importing it binds here.
    "search_nodes": "search:search",
    **dict.fromkeys(
        [
            "FAILED_STATES",
            "UNFINISHED_STATES",
            "counts",
            "events_per_hour",
            "runs_in_state",
            "stale_datasets",
        ],
        "stats",
    ),
}

__all__ = [
    "FAILED_STATES",
    "UNFINISHED_STATES",
    "EncodedSlashMiddleware",
    "LineageEvent",
    "LineageService",
    "LineageWriter",
    "counts",
    "error_body",
    "events_per_hour",
    "get_dataset",
    "get_job",
    "get_run",
    "list_dataset_versions",
    "list_datasets",
    "list_job_runs",
    "list_jobs",
    "list_namespaces",
    "router",
    "runs_in_state",
    "search_nodes",
    "stale_datasets",
    "validate_event",
]


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = module.partition(":")
    return getattr(importlib.import_module(f"headwater.lineage.{module}"), attribute or name)
