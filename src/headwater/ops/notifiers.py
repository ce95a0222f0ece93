"""Sending alert notifications: by email, to Slack, to any webhook, and to the log.

Each notifier has a ``name`` and a ``send`` that delivers one `Notification` or raises.
`deliver` turns whatever a send raises into one line naming the notifier, which is what the
evaluator records, so one broken notifier never stops the others.

HTTP notifiers POST with a timeout and try again, at most `HTTP_ATTEMPTS` times with a short
exponential backoff, when the connection fails or times out or the answer is 429 or 5xx; any
other answer but 2xx fails at once. Redirects are not followed. Error messages show a URL's
origin only: a Slack webhook's path is its credential.

A webhook with a secret signs the exact bytes of its body::

    X-Headwater-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the secret>
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from headwater.errors import HeadwaterError
from headwater.ops.alert_rules import (
    AlertConfig,
    EmailConfig,
    LogConfig,
    NotifierConfig,
    Severity,
    SlackConfig,
    WebhookConfig,
)

HTTP_ATTEMPTS = 3
HTTP_BACKOFF_S = 0.2  # then 0.4: a notification is worth a second, not a stalled evaluation
SIGNATURE_HEADER = "X-Headwater-Signature"
LOGGER = logging.getLogger("headwater.alerts")

NotificationState = Literal["firing", "resolved"]
# Slack attachment colours: red, amber, blue while firing; green once resolved.
_COLOURS: dict[Severity, str] = {"critical": "#d00000", "warning": "#f2a900", "info": "#439fe0"}
_RESOLVED_COLOUR = "#2eb886"


class NotificationError(HeadwaterError):
    """A notifier could not deliver; the message is one line and names the notifier."""

    def __init__(self, notifier: str, reason: str) -> None:
        super().__init__(f"notifier {notifier}: {reason}")
        self.notifier = notifier
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Notification:
    """What every notifier sends about one alert (one rule on one subject) changing."""

    rule: str
    key: str  # the rule, or "<rule>/<subject>"
    subject: str | None
    state: NotificationState
    severity: Severity
    summary: str
    value: float | None  # None: the subject is no longer measured
    threshold: float
    signal: str
    fired_at: datetime
    resolved_at: datetime | None
    runbook: str
    detail: str

    @property
    def title(self) -> str:
        """``[FIRING critical] ConsumerLagHigh web/orders``."""
        subject = f" {self.subject}" if self.subject else ""
        return f"[{self.state.upper()} {self.severity}] {self.rule}{subject}"

    def as_json(self) -> dict[str, Any]:
        """The notification as a JSON object (times in ISO-8601 UTC)."""
        return {
            "rule": self.rule,
            "key": self.key,
            "subject": self.subject,
            "state": self.state,
            "severity": self.severity,
            "summary": self.summary,
            "value": self.value,
            "threshold": self.threshold,
            "signal": self.signal,
            "fired_at": _iso(self.fired_at),
            "resolved_at": None if self.resolved_at is None else _iso(self.resolved_at),
            "runbook": self.runbook,
            "detail": self.detail,
        }

    def lines(self) -> list[tuple[str, str]]:
        """Every field as (name, text), in the order people read them."""
        value = "-" if self.value is None else f"{self.value:g}"
        shown = {**self.as_json(), "value": value, "threshold": f"{self.threshold:g}"}
        return [
            (name, "-" if text is None or text == "" else str(text)) for name, text in shown.items()
        ]


class Notifier(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` or raise (preferably `NotificationError`)."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def deliver(notifier: Notifier, notification: Notification) -> str | None:
    """Send ``notification``; None when delivered, else why not, in one line."""
    try:
        notifier.send(notification)
    except NotificationError as exc:
        return _one_line(exc.message)
    except Exception as exc:  # a notifier's bug must not cost the other notifiers or the state
        return _one_line(f"notifier {notifier.name}: {type(exc).__name__}: {exc}")
    return None


@dataclass(frozen=True, slots=True)
class LogNotifier:
    """Logs on ``headwater.alerts``: WARNING while firing, INFO once resolved."""

    config: LogConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, notification: Notification) -> None:
        level = logging.WARNING if notification.state == "firing" else logging.INFO
        LOGGER.log(level, "%s: %s", notification.title, notification.summary)


@dataclass(frozen=True, slots=True)
class EmailNotifier:
    """One plain-text message per notification over SMTP; STARTTLS verifies the server's
    certificate (against ``ca_file`` when given, else the system's CAs) before any login."""

    config: EmailConfig

    @property
    def name(self) -> str:
        return self.config.name

    def message(self, notification: Notification) -> EmailMessage:
        config = self.config
        message = EmailMessage()
        message["Subject"] = notification.title
        message["From"] = config.sender
        message["To"] = ", ".join(config.to)
        message["Date"] = format_datetime(datetime.now(UTC))
        # Without a domain make_msgid asks DNS for this host's name, which can stall.
        message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
        width = max(len(name) for name, _ in notification.lines())
        fields = "\n".join(f"{name:<{width}}  {text}" for name, text in notification.lines())
        message.set_content(f"{notification.summary}\n\n{fields}\n")
        return message

    def send(self, notification: Notification) -> None:
        config = self.config
        where = f"{config.host}:{config.port}"
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                smtp.ehlo()
                if config.starttls:
                    context = ssl.create_default_context(
                        cafile=None if config.ca_file is None else str(config.ca_file)
                    )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if config.username is not None and config.password is not None:
                    smtp.login(config.username, config.password)
                smtp.send_message(self.message(notification))
        except smtplib.SMTPAuthenticationError as exc:
            reason = f"{where} refused the login of {config.username!r}: {_smtp_reply(exc)}"
            raise NotificationError(self.name, reason) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise NotificationError(self.name, f"{where}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise NotificationError(self.name, f"{where} answered {_smtp_reply(exc)}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise NotificationError(self.name, f"{where} refused the recipients {refused}") from exc
        except ssl.SSLCertVerificationError as exc:
            reason = f"{where}: TLS certificate not trusted ({exc.verify_message}); set ca_file"
            raise NotificationError(self.name, reason) from exc
        except (smtplib.SMTPException, OSError) as exc:
            reason = f"cannot send through {where}: {type(exc).__name__}: {exc}"
            raise NotificationError(self.name, reason) from exc


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode(errors="replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {text}"


class _TryAgain(Exception):
    pass


def _post(name: str, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> None:
    parts = urlsplit(url)
    where = f"POST {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    try:
        with httpx.Client(timeout=timeout_s) as client:
            for attempt in Retrying(
                retry=retry_if_exception_type(_TryAgain),
                stop=stop_after_attempt(HTTP_ATTEMPTS),
                wait=wait_exponential(multiplier=HTTP_BACKOFF_S),
                reraise=True,
            ):
                with attempt:
                    try:
                        response = client.post(url, content=body, headers=dict(headers))
                    except httpx.TimeoutException:
                        raise _TryAgain(f"timed out after {timeout_s:g}s") from None
                    except httpx.TransportError as exc:
                        raise _TryAgain(f"{type(exc).__name__}: {exc}") from None
                    status = response.status_code
                    if status == 429 or status >= 500:
                        raise _TryAgain(f"HTTP {status} {response.reason_phrase}")
                    if not 200 <= status < 300:
                        answer = _one_line(response.text)[:200]
                        reason = f"{where}: HTTP {status} {response.reason_phrase}: {answer}"
                        raise NotificationError(name, reason)
    except _TryAgain as exc:
        raise NotificationError(name, f"{where}: {exc} after {HTTP_ATTEMPTS} attempts") from None


@dataclass(frozen=True, slots=True)
class SlackNotifier:
    """A Slack incoming-webhook message: ``text``, and an attachment coloured by severity with
    every field."""

    config: SlackConfig

    @property
    def name(self) -> str:
        return self.config.name

    def payload(self, notification: Notification) -> dict[str, Any]:
        colour = (
            _RESOLVED_COLOUR
            if notification.state == "resolved"
            else _COLOURS[notification.severity]
        )
        return {
            "text": f"{notification.title}: {notification.summary}",
            "attachments": [
                {
                    "color": colour,
                    "title": notification.title,
                    "text": notification.summary,
                    "fields": [
                        {"title": name, "value": text, "short": len(text) < 40}
                        for name, text in notification.lines()
                    ],
                    "footer": "headwater",
                    "ts": int(notification.fired_at.timestamp()),
                }
            ],
        }

    def send(self, notification: Notification) -> None:
        body = orjson.dumps(self.payload(notification))
        headers = {"Content-Type": "application/json"}
        _post(self.name, self.config.url, body, headers, self.config.timeout_s)


@dataclass(frozen=True, slots=True)
class WebhookNotifier:
    """The notification as a JSON object (`Notification.as_json`), signed with the secret."""

    config: WebhookConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, notification: Notification) -> None:
        body = orjson.dumps(notification.as_json(), option=orjson.OPT_SORT_KEYS)
        headers = {**self.config.headers, "Content-Type": "application/json"}
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body)
        _post(self.name, self.config.url, body, headers, self.config.timeout_s)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Headwater-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notifier_for(config: NotifierConfig) -> Notifier:
    """The notifier a configuration describes."""
    match config:
        case EmailConfig():
            return EmailNotifier(config)
        case SlackConfig():
            return SlackNotifier(config)
        case WebhookConfig():
            return WebhookNotifier(config)
        case LogConfig():
            return LogNotifier(config)


def build_notifiers(config: AlertConfig) -> dict[str, Notifier]:
    """Every notifier of ``config``, by name."""
    return {name: notifier_for(notifier) for name, notifier in config.notifiers.items()}
