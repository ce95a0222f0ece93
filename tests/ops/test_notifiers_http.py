"""Slack and webhook notifiers POST to a real HTTP receiver on loopback: the bodies receivers
expect, a signature that verifies, retries on 5xx and 429 only, and one-line errors that name
the notifier and never the URL's secret path."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import replace
from types import MappingProxyType

import orjson
import pytest

from headwater.ops.alert_rules import LogConfig, SlackConfig, WebhookConfig
from headwater.ops.notifiers import (
    HTTP_ATTEMPTS,
    SIGNATURE_HEADER,
    LogNotifier,
    SlackNotifier,
    WebhookNotifier,
    deliver,
)
from tests.conftest import free_port
from tests.ops.notifying import FIRING, receiving

RESOLVED = replace(FIRING, state="resolved", resolved_at=FIRING.fired_at.replace(hour=9))


def _webhook(url: str, secret: str | None = "hook-secret", timeout_s: float = 5) -> WebhookNotifier:
    headers = MappingProxyType({"X-Team": "data"})
    return WebhookNotifier(WebhookConfig("hook", url, secret, headers, timeout_s))


def test_slack_gets_the_title_as_text_and_an_attachment_coloured_by_severity() -> None:
    with receiving() as receiver:
        notifier = SlackNotifier(SlackConfig("chat", receiver.url, 5))
        assert deliver(notifier, FIRING) is None
        assert deliver(notifier, RESOLVED) is None
    firing, resolved = (orjson.loads(request.body) for request in receiver.requests)
    assert receiver.requests[0].path == "/hooks/T0/secret-path"
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    assert firing["text"] == (
        "[FIRING critical] ConsumerLagHigh web/orders: consumer lag 412s on web/orders"
    )
    attachment = firing["attachments"][0]
    assert attachment["color"] == "#d00000"
    fields = {field["title"]: field["value"] for field in attachment["fields"]}
    assert fields == {
        "rule": "ConsumerLagHigh",
        "key": "ConsumerLagHigh/web/orders",
        "subject": "web/orders",
        "state": "firing",
        "severity": "critical",
        "summary": "consumer lag 412s on web/orders",
        "value": "412",
        "threshold": "300",
        "signal": "consumer_lag_s",
        "fired_at": "2026-03-01T08:30:00Z",
        "resolved_at": "-",
        "runbook": "docs/operations.md#consumerlaghigh",
        "detail": "oldest delivery waiting since 08:23",
    }
    assert resolved["text"].startswith("[RESOLVED critical] ConsumerLagHigh web/orders")
    assert resolved["attachments"][0]["color"] == "#2eb886"


def test_a_webhook_gets_the_notification_as_json_signed_with_its_secret() -> None:
    with receiving() as receiver:
        assert deliver(_webhook(receiver.url), FIRING) is None
        assert deliver(_webhook(receiver.url, secret=None), FIRING) is None
    signed, unsigned = receiver.requests
    assert orjson.loads(signed.body) == FIRING.as_json()
    assert signed.headers["X-Team"] == "data"
    # What a receiver does: the HMAC of the raw body, compared in constant time.
    expected = "sha256=" + hmac.new(b"hook-secret", signed.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signed.headers[SIGNATURE_HEADER], expected)
    assert SIGNATURE_HEADER not in unsigned.headers


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_receiver_failing_once_is_tried_again_and_delivered(status: int) -> None:
    with receiving(status) as receiver:
        assert deliver(_webhook(receiver.url), FIRING) is None
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_a_receiver_that_always_fails_is_given_up_on_after_a_few_attempts() -> None:
    with receiving(then=500) as receiver:
        error = deliver(SlackNotifier(SlackConfig("chat", receiver.url, 5)), FIRING)
    port = receiver.url.split(":")[2].split("/")[0]
    assert error == (
        f"notifier chat: POST http://127.0.0.1:{port}: HTTP 500 Internal Server Error "
        f"after {HTTP_ATTEMPTS} attempts"
    )
    assert len(receiver.requests) == HTTP_ATTEMPTS


def test_a_refusal_is_not_tried_again() -> None:
    with receiving(then=403) as receiver:
        error = deliver(_webhook(receiver.url), FIRING)
    assert error is not None and error.startswith("notifier hook: POST http://127.0.0.1:")
    assert error.endswith("HTTP 403 Forbidden: invalid_token")
    assert "secret-path" not in error
    assert len(receiver.requests) == 1


def test_a_receiver_nobody_listens_on_is_an_error_after_a_few_attempts() -> None:
    error = deliver(_webhook(f"http://127.0.0.1:{free_port()}/hook"), FIRING)
    assert error is not None and error.startswith("notifier hook: POST http://127.0.0.1:")
    assert "ConnectError" in error and error.endswith(f"after {HTTP_ATTEMPTS} attempts")


def test_a_receiver_slower_than_the_timeout_is_given_up_on() -> None:
    with receiving(delay_s=0.5) as receiver:
        error = deliver(_webhook(receiver.url, timeout_s=0.1), FIRING)
    assert error is not None and error.endswith(
        f"timed out after 0.1s after {HTTP_ATTEMPTS} attempts"
    )


def test_the_log_notifier_warns_while_firing_and_informs_once_resolved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headwater.alerts")
    notifier = LogNotifier(LogConfig())
    assert deliver(notifier, FIRING) is None
    assert deliver(notifier, RESOLVED) is None
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "headwater.alerts",
            logging.WARNING,
            "[FIRING critical] ConsumerLagHigh web/orders: consumer lag 412s on web/orders",
        ),
        (
            "headwater.alerts",
            logging.INFO,
            "[RESOLVED critical] ConsumerLagHigh web/orders: consumer lag 412s on web/orders",
        ),
    ]
