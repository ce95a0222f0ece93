"""Signature schemes: each accepts exactly what its provider signs, and says why it refuses.

Expected signatures are computed here from the providers' documented recipes with hashlib,
not with `sign`, so a mistake shared by `sign` and `verify` cannot pass unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from headwater.ingest import SignatureError, sign, verify
from headwater.ingest.signatures import MissingIdError

BODY = b'{"id": "evt_1", "total": "12.50"}'
NOW = 1_764_583_200.0  # 2025-12-01T10:00:00Z


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _shopify(secret: str, body: bytes = BODY) -> dict[str, str]:
    return {
        "x-shopify-hmac-sha256": base64.b64encode(_hmac(secret.encode(), body)).decode(),
        "x-shopify-event-id": "shop-evt-1",
        "x-shopify-webhook-id": "delivery-1",
    }


def test_shopify_accepts_the_base64_hmac_of_the_raw_body_and_keeps_both_ids() -> None:
    verified = verify("shopify", ["s1"], _shopify("s1"), BODY, now=NOW)
    assert (verified.event_id, verified.webhook_id) == ("shop-evt-1", "delivery-1")


def test_shopify_refuses_a_changed_body_a_wrong_secret_and_a_missing_header() -> None:
    with pytest.raises(SignatureError, match="does not match the body"):
        verify("shopify", ["s1"], _shopify("s1"), BODY + b" ", now=NOW)
    with pytest.raises(SignatureError, match="does not match the body"):
        verify("shopify", ["s1"], _shopify("other"), BODY, now=NOW)
    with pytest.raises(SignatureError, match="missing X-Shopify-Hmac-SHA256"):
        verify("shopify", ["s1"], {"x-shopify-event-id": "e"}, BODY, now=NOW)
    with pytest.raises(SignatureError, match="not base64"):
        verify("shopify", ["s1"], {"x-shopify-hmac-sha256": "%%%"}, BODY, now=NOW)


def test_shopify_needs_the_event_id_header_once_the_signature_holds() -> None:
    headers = _shopify("s1")
    del headers["x-shopify-event-id"]
    with pytest.raises(MissingIdError, match="X-Shopify-Event-Id"):
        verify("shopify", ["s1"], headers, BODY, now=NOW)


def test_any_configured_secret_verifies_while_a_secret_is_rotated() -> None:
    assert verify("shopify", ["new", "old"], _shopify("old"), BODY, now=NOW).event_id


def _stripe_v1(secret: str, stamp: int, body: bytes = BODY) -> str:
    return _hmac(secret.encode(), f"{stamp}.".encode() + body).hex()


def test_stripe_signs_timestamp_dot_body_and_takes_the_event_id_from_the_body() -> None:
    stamp = int(NOW) - 10
    header = f"t={stamp},v1={_stripe_v1('whsec', stamp)}"
    verified = verify("stripe", ["whsec"], {"stripe-signature": header}, BODY, now=NOW)
    assert verified.event_id == "evt_1"
    assert verified.webhook_id is None


def test_stripe_accepts_any_v1_during_a_roll_and_ignores_v0() -> None:
    stamp = int(NOW)
    header = f"t={stamp},v1={'00' * 32},v0=abc,v1={_stripe_v1('new', stamp)}"
    assert verify("stripe", ["new"], {"stripe-signature": header}, BODY, now=NOW).event_id


def test_stripe_refuses_an_old_timestamp_even_when_correctly_signed() -> None:
    stamp = int(NOW) - 301
    header = f"t={stamp},v1={_stripe_v1('k', stamp)}"
    with pytest.raises(SignatureError, match=r"301 s from now \(tolerance 300 s\)"):
        verify("stripe", ["k"], {"stripe-signature": header}, BODY, now=NOW)
    assert verify("stripe", ["k"], {"stripe-signature": header}, BODY, now=NOW, tolerance_s=600)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("v1=ab", "needs one t= and at least one v1="),
        ("t=1,t=2,v1=ab", "needs one t= and at least one v1="),
        ("t=soon,v1=ab", "not a Unix time"),
        (f"t={int(NOW)},v1=zz", "not hex"),
        (f"t={int(NOW)},v1={'ab' * 32}", "no Stripe-Signature v1 matches"),
    ],
)
def test_stripe_says_what_is_wrong_with_its_header(header: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify("stripe", ["k"], {"stripe-signature": header}, BODY, now=NOW)


def test_stripe_needs_a_json_body_with_an_id() -> None:
    body = b'{"type": "charge.refunded"}'
    stamp = int(NOW)
    header = f"t={stamp},v1={_stripe_v1('k', stamp, body)}"
    with pytest.raises(MissingIdError, match='no "id"'):
        verify("stripe", ["k"], {"stripe-signature": header}, body, now=NOW)


SECRET_BYTES = b"standard-webhooks-secret-bytes!!"
STANDARD_SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


def _standard(msg_id: str, stamp: int, body: bytes = BODY) -> dict[str, str]:
    digest = _hmac(SECRET_BYTES, f"{msg_id}.{stamp}.".encode() + body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": f"v1a,ignored v1,{base64.b64encode(digest).decode()}",
    }


def test_standard_webhooks_decode_the_whsec_secret_and_sign_id_timestamp_body() -> None:
    headers = _standard("msg_2Kx", int(NOW))
    assert verify("standard", [STANDARD_SECRET], headers, BODY, now=NOW).event_id == "msg_2Kx"


def test_standard_webhooks_refuse_a_signature_for_another_message_id_or_time() -> None:
    headers = _standard("msg_1", int(NOW))
    with pytest.raises(SignatureError, match="no webhook-signature v1 matches"):
        verify("standard", [STANDARD_SECRET], {**headers, "webhook-id": "msg_2"}, BODY, now=NOW)
    stale = _standard("msg_1", int(NOW) - 3600)
    with pytest.raises(SignatureError, match="webhook-timestamp is 3600 s from now"):
        verify("standard", [STANDARD_SECRET], stale, BODY, now=NOW)
    with pytest.raises(SignatureError, match="missing webhook-id"):
        verify("standard", [STANDARD_SECRET], {"webhook-signature": "v1,AA=="}, BODY, now=NOW)


@pytest.mark.parametrize("scheme", ["shopify", "stripe", "standard"])
def test_sign_makes_headers_that_verify(scheme: str) -> None:
    secret = STANDARD_SECRET if scheme == "standard" else "k"
    headers = _lower(sign(scheme, secret, BODY, event_id="evt_1", now=NOW))  # type: ignore[arg-type]
    assert verify(scheme, [secret], headers, BODY, now=NOW).event_id == "evt_1"  # type: ignore[arg-type]
