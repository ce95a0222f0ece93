"""HTTP plumbing for the lineage API: JSON responses, request bodies, encoded-slash paths."""

from __future__ import annotations

import zlib
from typing import Annotated, Any
from urllib.parse import unquote

import orjson
from fastapi import Depends, Path, Request
from pydantic import AfterValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from headwater.errors import BadRequestError, PayloadTooLargeError
from headwater.responses import OrjsonResponse as OrjsonResponse
from headwater.responses import error_body as error_body

# Stands in for a slash that was sent percent-encoded inside one path segment.
SLASH = "\x00"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped if ``Content-Encoding: gzip``, refused past ``limit`` bytes.

    The limit applies to what is received and to what it decompresses to, so a small gzip bomb
    is refused as surely as a large plain body.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise BadRequestError(f"unsupported Content-Encoding {encoding!r}; send gzip or none")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid gzip: {exc}") from None
    if len(data) > limit or decoder.unconsumed_tail:
        raise PayloadTooLargeError(f"decompressed request body is over the {limit}-byte limit")
    if not decoder.eof:
        raise BadRequestError("body is not valid gzip: stream is truncated")
    return data


async def _json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when empty. A dependency rather than a FastAPI
    ``Body()``, which FastAPI would parse before access control: a request without a token
    must get 401, whatever its body."""
    body = await read_body(request, request.app.state.lineage.max_body_bytes)
    if not body.strip():
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"is not valid JSON: {exc}", "body") from None
    if not isinstance(value, dict):
        raise BadRequestError("must be a JSON object", "body")
    return value


# A JSON object body (None when empty), parsed after access control.
JsonObject = Annotated[dict[str, Any] | None, Depends(_json_object)]


def _restore_slashes(value: str) -> str:
    return value.replace(SLASH, "/")


# A path parameter that may hold slashes when the client sent them as %2F.
Name = Annotated[str, Path(), AfterValidator(_restore_slashes)]


class EncodedSlashMiddleware:
    """Route on the raw path so ``/namespaces/s3%3A%2F%2Fbucket/...`` keeps one segment.

    Starlette decodes ``%2F`` before routing, which would split a namespace such as
    ``s3://bucket`` over several segments. Marquez clients percent-encode such names, so each
    raw segment is decoded on its own and any slash inside it is carried as `SLASH` until the
    `Name` parameter type turns it back.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and b"%2f" in raw.lower():
            raw_path = raw.split(b"?", 1)[0].decode("latin-1")
            segments = [unquote(s).replace("/", SLASH) for s in raw_path.split("/")]
            scope = {**scope, "path": "/".join(segments)}
        await self.app(scope, receive, send)
