"""Webhook signature schemes: verifying a delivery, and signing one (for `ingest send`, tests
and the load generator).

Three schemes cover most providers:

- ``shopify``: ``X-Shopify-Hmac-SHA256`` is the base64 HMAC-SHA256 of the raw body. The event
  id is ``X-Shopify-Event-Id``; ``X-Shopify-Webhook-Id`` (one per delivery attempt) is kept too.
- ``stripe``: ``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]``, the hex HMAC-SHA256 of
  ``"{t}.{body}"``. The timestamp must be within the tolerance (300 s by default) of now, and
  any ``v1`` may match any configured secret: Stripe sends one per active secret while one is
  rolled. The event id is the body's ``id``.
- ``standard`` (Standard Webhooks, used by Svix and others): ``webhook-id``,
  ``webhook-timestamp`` and ``webhook-signature: v1,<base64> [v1,<base64>...]`` over
  ``"{id}.{timestamp}.{body}"``; a ``whsec_`` secret is base64 after its prefix. The event id is
  ``webhook-id``.

Every comparison is `hmac.compare_digest`, and every signature is checked against every
secret (no early exit that would tell which one nearly matched).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

Scheme = Literal["shopify", "stripe", "standard"]
SCHEMES: tuple[Scheme, ...] = ("shopify", "stripe", "standard")
DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """The delivery is not signed by the source: answered 401 with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingIdError(Exception):
    """The delivery verified but carries no event id: answered 400."""


@dataclass(frozen=True, slots=True)
class Verified:
    event_id: str
    webhook_id: str | None = None


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _any_match(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    return matched


def _standard_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass  # not base64 after all: use it as it is, like the bytes of any other secret
    return secret.encode()


def _timestamp(value: str, now: float, tolerance_s: int, name: str) -> int:
    try:
        stamp = int(value)
    except ValueError:
        raise SignatureError(f"{name} is not a Unix time: {value[:40]!r}") from None
    if abs(now - stamp) > tolerance_s:
        raise SignatureError(f"{name} is {int(now - stamp)} s from now (tolerance {tolerance_s} s)")
    return stamp


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def _optional(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name.lower(), "").strip()
    return value or None


def verify(
    scheme: Scheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> Verified:
    """Check the delivery's signature; `SignatureError` (401) or `MissingIdError` (400).

    ``headers`` has lower-case names, as ASGI gives them.
    """
    keys = [secret.encode() for secret in secrets]
    if scheme == "shopify":
        header = _header(headers, "X-Shopify-Hmac-SHA256")
        try:
            digest = base64.b64decode(header, validate=True)
        except binascii.Error:
            raise SignatureError("X-Shopify-Hmac-SHA256 is not base64") from None
        if not _any_match([digest], [_mac(key, body) for key in keys]):
            raise SignatureError("X-Shopify-Hmac-SHA256 does not match the body")
        event_id = _optional(headers, "X-Shopify-Event-Id")
        if event_id is None:
            raise MissingIdError("missing X-Shopify-Event-Id header (the event id)")
        return Verified(event_id, _optional(headers, "X-Shopify-Webhook-Id"))
    if scheme == "stripe":
        header = _header(headers, "Stripe-Signature")
        parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
        stamps = [value.strip() for name, value in parts if name.strip() == "t"]
        given_hex = [value.strip() for name, value in parts if name.strip() == "v1"]
        if len(stamps) != 1 or not given_hex:
            raise SignatureError("Stripe-Signature needs one t= and at least one v1=")
        stamp = _timestamp(stamps[0], now, tolerance_s, "Stripe-Signature t")
        try:
            digests = [bytes.fromhex(value) for value in given_hex]
        except ValueError:
            raise SignatureError("Stripe-Signature v1 is not hex") from None
        message = f"{stamp}.".encode() + body
        if not _any_match(digests, [_mac(key, message) for key in keys]):
            raise SignatureError("no Stripe-Signature v1 matches the body")
        return Verified(_body_id(body))
    header = _header(headers, "webhook-signature")
    webhook_id = _header(headers, "webhook-id")
    stamp = _timestamp(_header(headers, "webhook-timestamp"), now, tolerance_s, "webhook-timestamp")
    given: list[bytes] = []
    for item in header.split():
        version, _, value = item.partition(",")
        if version == "v1":
            try:
                given.append(base64.b64decode(value, validate=True))
            except binascii.Error:
                raise SignatureError("webhook-signature v1 is not base64") from None
    if not given:
        raise SignatureError("webhook-signature has no v1 signature")
    message = f"{webhook_id}.{stamp}.".encode() + body
    expected = [_mac(_standard_key(secret), message) for secret in secrets]
    if not _any_match(given, expected):
        raise SignatureError("no webhook-signature v1 matches the body")
    return Verified(webhook_id)


def _body_id(body: bytes) -> str:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MissingIdError("the body is not JSON, so it has no event id") from None
    event_id = document.get("id") if isinstance(document, dict) else None
    if not isinstance(event_id, str) or not event_id:
        raise MissingIdError('the body has no "id" (the Stripe event id)')
    return event_id


def sign(scheme: Scheme, secret: str, body: bytes, *, event_id: str, now: float) -> dict[str, str]:
    """The headers a provider using ``scheme`` would send with ``body``."""
    if scheme == "shopify":
        digest = _mac(secret.encode(), body)
        return {
            "X-Shopify-Hmac-SHA256": base64.b64encode(digest).decode(),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Webhook-Id": f"{event_id}-delivery",
        }
    stamp = int(now)
    if scheme == "stripe":
        digest = _mac(secret.encode(), f"{stamp}.".encode() + body)
        return {"Stripe-Signature": f"t={stamp},v1={digest.hex()}"}
    digest = _mac(_standard_key(secret), f"{event_id}.{stamp}.".encode() + body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }
