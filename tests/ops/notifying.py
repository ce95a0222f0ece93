"""A notification to send, and a real HTTP receiver on loopback that answers as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from headwater.ops.notifiers import Notification

FIRING = Notification(
    rule="ConsumerLagHigh",
    key="ConsumerLagHigh/web/orders",
    subject="web/orders",
    state="firing",
    severity="critical",
    summary="consumer lag 412s on web/orders",
    value=412.0,
    threshold=300.0,
    signal="consumer_lag_s",
    fired_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
    resolved_at=None,
    runbook="docs/operations.md#consumerlaghigh",
    detail="oldest delivery waiting since 08:23",
)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers ``statuses`` in order, then ``then`` to every request, ``delay_s`` late."""

    statuses: list[int] = field(default_factory=list)
    then: int = 200
    delay_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    url: str = ""


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(Request(self.path, dict(self.headers.items()), body))
            status = receiver.statuses.pop(0) if receiver.statuses else receiver.then
            time.sleep(receiver.delay_s)
            answer = b"ok" if status < 300 else b"invalid_token"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that timed out hung up before the answer: what it is tested for

    return Handler


@contextmanager
def receiving(*statuses: int, then: int = 200, delay_s: float = 0.0) -> Iterator[Receiver]:
    """An HTTP server on a free loopback port, for as long as the block runs."""
    receiver = Receiver(list(statuses), then, delay_s)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/secret-path"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
