"""API request latency by route, for ``/metrics``.

Labelled by the route's path template (``/api/v1/namespaces/{namespace}``), never by the
path itself, whose ids would make a new series per request. Webhooks are answered before
routing (`headwater.ingest.IngestFastPath`), so their template is named here.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater.ingest import RECEIVE_PATH

REQUEST_SECONDS = Histogram(
    "headwater_http_request_duration_seconds",
    "API request latency by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    parts = scope["path"].split("/")
    if scope["method"] == "POST" and len(parts) == 4 and parts[1] == "ingest":
        return RECEIVE_PATH
    return "unmatched"  # a 404, or a request refused before routing


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            REQUEST_SECONDS.labels(scope["method"], _route(scope), str(status)).observe(
                time.perf_counter() - started
            )
