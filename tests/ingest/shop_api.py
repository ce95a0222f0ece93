"""A small REST API on loopback for pull tests: records served by cursor, page number or Link
header, filtered by ``updated_since`` (inclusive, as many APIs do), with scripted failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": "try later"}'
    delay_s: float = 0.0  # sleep before answering (a timeout, when longer than the client's)


@dataclass
class ShopApi:
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # answered first, in order
    requests: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    base: str = ""

    def add(self, n: int, updated_at: str, **extra: Any) -> None:
        self.records = [r for r in self.records if r["id"] != n]
        self.records.append({"id": n, "email": f"c{n}@x.org", "updated_at": updated_at, **extra})

    def selected(self, params: dict[str, str]) -> list[dict[str, Any]]:
        since = params.get("updated_since")
        found = [r for r in self.records if since is None or r["updated_at"] >= since]
        return sorted(found, key=lambda r: (r["updated_at"], r["id"]))


def _handler(api: ShopApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            api.requests.append((time.monotonic(), url.path, params))
            if self.headers.get("Authorization") != "Bearer sesame":
                self._send(401, b'{"error": "bad token"}')
                return
            if api.failures:
                failure = api.failures.pop(0)
                time.sleep(failure.delay_s)
                self._send(failure.status, failure.body, failure.headers)
                return
            records = api.selected(params)
            if url.path == "/cursor":
                after = int(params.get("starting_after", -1))
                position = next((i + 1 for i, r in enumerate(records) if r["id"] == after), 0)
                page = records[position : position + 2]
                more = position + 2 < len(records)
                cursor = page[-1]["id"] if page and more else None
                self._send(200, orjson.dumps({"data": page, "meta": {"next_cursor": cursor}}))
            elif url.path == "/pages":
                size = int(params.get("per_page", 2))
                number = int(params.get("page", 1))
                page = records[(number - 1) * size : number * size]
                self._send(200, orjson.dumps({"data": page}))
            elif url.path == "/link":
                offset = int(params.get("offset", 0))
                page = records[offset : offset + 2]
                headers = {}
                if offset + 2 < len(records):
                    query = "&".join(
                        f"{k}={v}" for k, v in {**params, "offset": offset + 2}.items()
                    )
                    headers["Link"] = f'</link?{query}>; rel="next"'
                self._send(200, orjson.dumps(page), headers)
            else:
                self._send(404, b'{"error": "no such endpoint"}')

    return Handler


@contextmanager
def running_api() -> Iterator[ShopApi]:
    api = ShopApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
