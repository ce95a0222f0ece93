"""The email notifier against a real SMTP server (aiosmtpd) on loopback that requires STARTTLS
before AUTH: the certificate is verified against ``ca_file``, the login is checked, and the
message carries every field."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from headwater.db import Database
from headwater.db.schema import alert_notifications
from headwater.ops.alert_rules import AlertConfig, EmailConfig, parse_alerts
from headwater.ops.alerts import Measurement, evaluate
from headwater.ops.notifiers import EmailNotifier, deliver
from tests.conftest import free_port
from tests.ops.notifying import FIRING

USER, PASSWORD = "alerts", "correct horse"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@dataclass
class Received:
    envelope: Envelope
    tls: bool
    login: bytes | None


@dataclass
class Mailbox:
    port: int
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(Received(envelope, session.ssl is not None, login))
        return "250 Message accepted for delivery"


def _accept_one_user(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    valid = isinstance(auth_data, LoginPassword) and auth_data == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=valid, handled=False, auth_data=auth_data)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headwater test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def mailbox(certificate: Certificate) -> Iterator[Mailbox]:
    """An SMTP server on a free loopback port: STARTTLS required, AUTH only after it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    mailbox = Mailbox(free_port())
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=mailbox.port,
        tls_context=context,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=_accept_one_user,
    )
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def _config(
    mailbox: Mailbox,
    certificate: Certificate | None,
    password: str = PASSWORD,
    rules: list[dict[str, Any]] | None = None,
) -> AlertConfig:
    """An ``alerts:`` section with the notifier ``ops-mail`` sending through ``mailbox``."""
    mail = {
        "type": "email",
        "host": "127.0.0.1",
        "port": mailbox.port,
        "username": USER,
        "password_env": "SMTP_PASSWORD",
        "from": "headwater@example.com",
        "to": ["ops@example.com", "oncall@example.com"],
        "ca_file": None if certificate is None else str(certificate.cert),
        "timeout": "5s",
    }
    section = {"notifiers": {"ops-mail": mail}, "rules": rules or []}
    return parse_alerts(section, environ={"SMTP_PASSWORD": password})


def _notifier(
    mailbox: Mailbox, certificate: Certificate | None, password: str = PASSWORD
) -> EmailNotifier:
    config = _config(mailbox, certificate, password).notifiers["ops-mail"]
    assert isinstance(config, EmailConfig)
    return EmailNotifier(config)


def test_a_notification_arrives_over_starttls_after_login_with_every_field(
    mailbox: Mailbox, certificate: Certificate
) -> None:
    assert deliver(_notifier(mailbox, certificate), FIRING) is None
    (received,) = mailbox.received
    assert (received.tls, received.login) == (True, USER.encode())
    assert received.envelope.mail_from == "headwater@example.com"
    assert received.envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert isinstance(received.envelope.content, bytes)
    message = message_from_bytes(received.envelope.content, policy=policy.default)
    assert message["Subject"] == "[FIRING critical] ConsumerLagHigh web/orders"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().splitlines() == [
        "consumer lag 412s on web/orders",
        "",
        "rule         ConsumerLagHigh",
        "key          ConsumerLagHigh/web/orders",
        "subject      web/orders",
        "state        firing",
        "severity     critical",
        "summary      consumer lag 412s on web/orders",
        "value        412",
        "threshold    300",
        "signal       consumer_lag_s",
        "fired_at     2026-03-01T08:30:00Z",
        "resolved_at  -",
        "runbook      docs/operations.md#consumerlaghigh",
        "detail       oldest delivery waiting since 08:23",
    ]


def test_wrong_credentials_are_recorded_as_a_one_line_error_naming_the_notifier(
    mailbox: Mailbox, certificate: Certificate, database: Database
) -> None:
    rules = [{"name": "CatalogDown", "notify": ["ops-mail"]}]
    config = _config(mailbox, certificate, password="wrong", rules=rules)
    down = [Measurement("catalog_up", None, 0)]
    evaluate(database, config, down, now=datetime(2026, 3, 1, tzinfo=UTC), actor="a")
    with database.read() as connection:
        (row,) = connection.execute(select(alert_notifications)).all()
    assert (row.rule, row.notifier, row.delivered) == ("CatalogDown", "ops-mail", False)
    assert row.error == (
        f"notifier ops-mail: 127.0.0.1:{mailbox.port} refused the login of 'alerts': "
        "535 5.7.8 Authentication credentials invalid"
    )
    assert mailbox.received == []


def test_a_certificate_the_notifier_does_not_trust_stops_it_before_the_login(
    mailbox: Mailbox,
) -> None:
    error = deliver(_notifier(mailbox, None), FIRING)
    assert error is not None
    assert error.startswith(f"notifier ops-mail: 127.0.0.1:{mailbox.port}: TLS certificate not")
    assert "self-signed certificate" in error and error.endswith("set ca_file")
    assert mailbox.received == []


def test_a_server_nobody_listens_on_is_an_error() -> None:
    port = free_port()
    error = deliver(_notifier(Mailbox(port), None), FIRING)
    assert error is not None
    assert error.startswith(f"notifier ops-mail: cannot send through 127.0.0.1:{port}: ")
    assert "ConnectionRefusedError" in error
