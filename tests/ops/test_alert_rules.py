"""The ``alerts:`` section: every rule and notifier checked at start-up, every mistake named by
its field, secrets read from the environment, and the runbook's rules there by default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.errors import ConfigError
from headwater.ops.alert_rules import (
    DEFAULT_RULES,
    SIGNALS,
    SUMMARY_FIELDS,
    EmailConfig,
    LogConfig,
    SlackConfig,
    WebhookConfig,
    parse_alerts,
    parse_duration,
)

EXAMPLE = """
defaults: {notify: [log], cooldown: 1h, for: 0s}
notifiers:
  ops-mail: {type: email, host: smtp.example.com, port: 587, starttls: true, username: alerts,
             password_env: SMTP_PASSWORD, from: headwater@example.com, to: [ops@example.com],
             ca_file: null, timeout: 10s}
  chat: {type: slack, url_env: SLACK_WEBHOOK_URL}
  hook: {type: webhook, url: "https://hooks.example.com/in", secret_env: HOOK_SECRET,
         headers: {X-Team: data}}
  log: {type: log}
rules:
  - name: ConsumerLagHigh
    signal: consumer_lag_s
    subject: "web/orders"
    above: 300
    for: 5m
    severity: warning
    notify: [chat]
    cooldown: 30m
    summary: "consumer lag {value:.0f}s on {subject}"
    runbook: "docs/operations.md#consumerlaghigh"
  - {name: RawTablesSmallFiles, signal: table_small_files, subject: "raw.*", above: 50,
     severity: info, notify: [hook, ops-mail]}
"""
ENVIRON = {
    "SMTP_PASSWORD": "smtp-secret",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/xyz",
    "HOOK_SECRET": "hook-secret",
}


def _parse(section: Any, environ: dict[str, str] | None = None) -> Any:
    return parse_alerts(section, environ=ENVIRON if environ is None else environ)


def _example() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE)
    assert isinstance(document, dict)
    return document


def test_the_documented_example_parses_with_its_secrets_read_from_the_environment() -> None:
    config = _parse(_example())
    assert set(config.notifiers) == {"log", "ops-mail", "chat", "hook"}
    mail = config.notifiers["ops-mail"]
    assert mail == EmailConfig(
        name="ops-mail",
        host="smtp.example.com",
        port=587,
        starttls=True,
        sender="headwater@example.com",
        to=("ops@example.com",),
        username="alerts",
        password="smtp-secret",
        ca_file=None,
        timeout_s=10.0,
    )
    assert config.notifiers["chat"] == SlackConfig(
        "chat", "https://hooks.slack.com/services/T0/B0/xyz", 10.0
    )
    hook = config.notifiers["hook"]
    assert isinstance(hook, WebhookConfig)
    assert (hook.url, hook.secret, dict(hook.headers)) == (
        "https://hooks.example.com/in",
        "hook-secret",
        {"X-Team": "data"},
    )
    rules = {rule.name: rule for rule in config.rules}
    lag = rules["ConsumerLagHigh"]
    assert (lag.signal, lag.subject, lag.condition, lag.threshold) == (
        "consumer_lag_s",
        "web/orders",
        "above",
        300.0,
    )
    assert (lag.for_, lag.cooldown, lag.notify, lag.severity) == (
        timedelta(minutes=5),
        timedelta(minutes=30),
        ("chat",),
        "warning",
    )
    assert lag.summarize("web/orders", 412.4) == "consumer lag 412s on web/orders"
    small = rules["RawTablesSmallFiles"]
    assert small.covers("raw.orders") and not small.covers("staging.orders")
    assert not small.covers(None)
    # Defaults fill what a rule leaves out.
    assert (small.cooldown, small.for_) == (timedelta(hours=1), timedelta(0))
    assert small.runbook == "docs/operations.md#rawtablessmallfiles"


def test_secrets_never_appear_in_a_notifiers_repr() -> None:
    config = _parse(_example())
    shown = repr(dict(config.notifiers))
    for secret in ENVIRON.values():
        assert secret not in shown


def test_literal_secrets_are_accepted_too() -> None:
    config = _parse(
        {
            "notifiers": {
                "chat": {"type": "slack", "url": "http://127.0.0.1:9/hook"},
                "hook": {"type": "webhook", "url": "https://x.example/h", "secret": "s3"},
            }
        },
        environ={},
    )
    hook = config.notifiers["hook"]
    assert isinstance(hook, WebhookConfig) and hook.secret == "s3"
    assert config.notifiers["chat"] == SlackConfig("chat", "http://127.0.0.1:9/hook", 10.0)


def test_without_a_section_the_runbooks_rules_notify_the_log() -> None:
    config = _parse(None)
    assert config.rules == DEFAULT_RULES
    assert config.notifiers == {"log": LogConfig()}
    shape = {
        rule.name: (rule.signal, rule.condition, rule.threshold, rule.for_, rule.severity)
        for rule in DEFAULT_RULES
    }
    assert shape == {
        "PipelineFailure": ("pipeline_failed", "above", 0, timedelta(0), "critical"),
        "CatalogDown": ("catalog_up", "below", 1, timedelta(0), "critical"),
        "StorageDown": ("storage_up", "below", 1, timedelta(0), "critical"),
        "ConsumerLagHigh": ("consumer_lag_s", "above", 300, timedelta(minutes=5), "warning"),
        "TableNeedsCompaction": ("table_small_files", "above", 100, timedelta(0), "info"),
        "JobFailure": ("job_failed", "above", 0, timedelta(0), "warning"),
        "LineageMissing": ("lineage_missing_pct", "above", 20, timedelta(0), "warning"),
        "EntityCoverageLow": ("entity_coverage_pct", "below", 90, timedelta(0), "warning"),
        "ErrorRateHigh": ("error_rate_pct", "above", 5, timedelta(minutes=10), "warning"),
        "StorageUsageHigh": ("storage_used_pct", "above", 85, timedelta(0), "warning"),
    }
    assert {rule.notify for rule in DEFAULT_RULES} == {("log",)}
    assert {rule.signal for rule in DEFAULT_RULES} == set(SIGNALS)


def test_a_declared_rule_overrides_the_default_of_its_name_key_by_key() -> None:
    config = _parse(
        {
            "defaults": {"cooldown": "15m", "for": "1m"},
            "rules": [
                {"name": "ConsumerLagHigh", "above": 900},
                {"name": "CatalogDown", "above": 0, "signal": "storage_used_pct"},
                {"name": "EntityCoverageLow", "enabled": False},
            ],
        }
    )
    rules = {rule.name: rule for rule in config.rules}
    assert "EntityCoverageLow" not in rules
    assert len(config.rules) == len(DEFAULT_RULES) - 1
    lag = rules["ConsumerLagHigh"]
    # Its own `for` stays; the section's defaults apply to what neither gives.
    assert (lag.threshold, lag.for_, lag.cooldown) == (
        900,
        timedelta(minutes=5),
        timedelta(minutes=15),
    )
    # Giving `above` replaces a default's `below`.
    assert (rules["CatalogDown"].condition, rules["CatalogDown"].threshold) == ("above", 0)
    assert rules["StorageUsageHigh"].for_ == timedelta(minutes=1)


def test_a_summary_template_may_use_every_documented_field() -> None:
    template = " ".join(f"{{{name}}}" for name in SUMMARY_FIELDS)
    config = _parse(
        {"rules": [{"name": "R", "signal": "catalog_up", "below": 1, "summary": template}]}
    )
    rule = next(rule for rule in config.rules if rule.name == "R")
    assert rule.summarize("s", 0.0, "why") == "why R warning catalog_up s 1.0 0.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), (45, 45), ("0s", 0), (0, 0)],
)
def test_durations_are_a_number_and_a_unit_or_whole_seconds(text: object, expected: int) -> None:
    assert parse_duration(text, "x") == timedelta(seconds=expected)


def _rule(**fields: Any) -> dict[str, Any]:
    return {"rules": [{"name": "R", "signal": "catalog_up", "below": 1, **fields}]}


def _notifier(**fields: Any) -> dict[str, Any]:
    return {"notifiers": {"n": fields}}


MAIL = {
    "type": "email",
    "host": "smtp.example.com",
    "from": "hw@example.com",
    "to": ["ops@example.com"],
}


@pytest.mark.parametrize(
    ("section", "field", "reason"),
    [
        ([], "alerts", "must be a mapping"),
        ({"rule": []}, "alerts.rule", "unknown key rule; known: defaults, notifiers, rules"),
        (
            {"defaults": {"notify": ["pager"]}},
            "alerts.defaults.notify[0]",
            "no notifier named 'pager'",
        ),
        ({"defaults": {"cooldown": "soon"}}, "alerts.defaults.cooldown", "must be a duration"),
        ({"defaults": {"severity": "info"}}, "alerts.defaults.severity", "unknown key"),
        ({"rules": {"name": "R"}}, "alerts.rules", "must be a list of rules"),
        ({"rules": ["R"]}, "alerts.rules[0]", "must be a mapping"),
        ({"rules": [{"signal": "catalog_up"}]}, "alerts.rules[0].name", "is required"),
        ({"rules": [{"name": "a/b"}]}, "alerts.rules[0].name", "is required"),
        (
            {"rules": [_rule()["rules"][0], _rule()["rules"][0]]},
            "alerts.rules[1].name",
            "'R' is declared twice (also rules[0])",
        ),
        (_rule(threshold=3), "alerts.rules[0].threshold", "unknown key threshold"),
        (_rule(Above=3, Below=2), "alerts.rules[0].Above", "unknown keys Above, Below"),
        ({"rules": [{"name": "R", "below": 1}]}, "alerts.rules[0].signal", "is required"),
        (_rule(signal="consumer_lag"), "alerts.rules[0].signal", "did you mean 'consumer_lag_s'?"),
        (_rule(signal="disk_free"), "alerts.rules[0].signal", "known: pipeline_failed, catalog_up"),
        ({"rules": [{"name": "R", "signal": "catalog_up"}]}, "alerts.rules[0].above", "one of"),
        (_rule(above=2), "alerts.rules[0].below", "not both"),
        (_rule(below="one"), "alerts.rules[0].below", "must be a number"),
        (_rule(below=True), "alerts.rules[0].below", "must be a number"),
        (_rule(below=float("nan")), "alerts.rules[0].below", "must be a number"),
        (_rule(severity="page"), "alerts.rules[0].severity", "info, warning, critical"),
        (_rule(notify="log"), "alerts.rules[0].notify", "must be a list"),
        (_rule(notify=["log", "pager"]), "alerts.rules[0].notify[1]", "declared: log"),
        (_rule(cooldown="-1m"), "alerts.rules[0].cooldown", "must be a duration"),
        (_rule(**{"for": 1.5}), "alerts.rules[0].for", "must be a duration"),
        (_rule(cooldown="9999999999d"), "alerts.rules[0].cooldown", "is too long"),
        (_rule(subject=""), "alerts.rules[0].subject", "non-empty"),
        (_rule(summary="{valeu}"), "alerts.rules[0].summary", "unknown field 'valeu'"),
        (_rule(summary="{value:d}"), "alerts.rules[0].summary", "not a valid str.format"),
        (_rule(summary="{0}"), "alerts.rules[0].summary", "not a valid str.format"),
        (_rule(runbook=7), "alerts.rules[0].runbook", "non-empty"),
        (_rule(enabled="no"), "alerts.rules[0].enabled", "true or false"),
        (
            {"rules": [{"name": "ConsumerLagHigh", "above": "lots"}]},
            "alerts.rules[0].above",
            "must be a number",
        ),
        ({"notifiers": []}, "alerts.notifiers", "must be a mapping"),
        ({"notifiers": {"ops mail": {"type": "log"}}}, "alerts.notifiers.ops mail", "name"),
        (_notifier(), "alerts.notifiers.n.type", "one of email, log, slack, webhook"),
        (_notifier(type="pager"), "alerts.notifiers.n.type", "got 'pager'"),
        ({"notifiers": {"log": {"type": "slack"}}}, "alerts.notifiers.log.type", "log notifier"),
        (_notifier(type="log", level="debug"), "alerts.notifiers.n.level", "unknown key"),
        (_notifier(type="slack"), "alerts.notifiers.n.url", "is required"),
        (_notifier(type="slack", url="ftp://x"), "alerts.notifiers.n.url", "http:// or https://"),
        (
            _notifier(type="slack", url="https://x", url_env="SLACK"),
            "alerts.notifiers.n.url",
            "give url or url_env, not both",
        ),
        (
            _notifier(type="slack", url_env="NOT_SET"),
            "alerts.notifiers.n.url_env",
            "environment variable NOT_SET is not set",
        ),
        (
            _notifier(type="slack", url_env="not a name"),
            "alerts.notifiers.n.url_env",
            "must name an environment variable",
        ),
        (
            _notifier(type="slack", url="https://x", timeout="0s"),
            "alerts.notifiers.n.timeout",
            "longer than 0s",
        ),
        (
            _notifier(type="webhook", url="https://x", secret_env="NOT_SET"),
            "alerts.notifiers.n.secret_env",
            "NOT_SET is not set",
        ),
        (
            _notifier(type="webhook", url="https://x", headers={"X-Headwater-Signature": "x"}),
            "alerts.notifiers.n.headers.X-Headwater-Signature",
            "set by the notifier",
        ),
        (
            _notifier(type="webhook", url="https://x", headers={"X-Count": 3}),
            "alerts.notifiers.n.headers.X-Count",
            "must be a text",
        ),
        (_notifier(**{**MAIL, "host": None}), "alerts.notifiers.n.host", "non-empty"),
        (
            _notifier(**{k: v for k, v in MAIL.items() if k != "host"}),
            "alerts.notifiers.n.host",
            "is required",
        ),
        (_notifier(**{**MAIL, "port": 70000}), "alerts.notifiers.n.port", "1 to 65535"),
        (_notifier(**{**MAIL, "port": "587"}), "alerts.notifiers.n.port", "1 to 65535"),
        (_notifier(**{**MAIL, "starttls": "yes"}), "alerts.notifiers.n.starttls", "true or false"),
        (_notifier(**{**MAIL, "username": "u"}), "alerts.notifiers.n.password", "is required"),
        (_notifier(**{**MAIL, "password": "p"}), "alerts.notifiers.n.username", "is required"),
        (
            _notifier(**{**MAIL, "username": "u", "password": "p", "starttls": False}),
            "alerts.notifiers.n.starttls",
            "never sent in clear",
        ),
        (
            _notifier(**{**MAIL, "username": "u", "password_env": "NOT_SET"}),
            "alerts.notifiers.n.password_env",
            "NOT_SET is not set",
        ),
        (_notifier(**{**MAIL, "from": "headwater"}), "alerts.notifiers.n.from", "email address"),
        (_notifier(**{**MAIL, "to": []}), "alerts.notifiers.n.to", "non-empty list"),
        (
            _notifier(**{**MAIL, "to": ["ops@x", "ops"]}),
            "alerts.notifiers.n.to[1]",
            "email address",
        ),
        (
            _notifier(**{**MAIL, "ca_file": "/nowhere/ca.pem"}),
            "alerts.notifiers.n.ca_file",
            "does not exist",
        ),
        (_notifier(**{**MAIL, "tls": True}), "alerts.notifiers.n.tls", "unknown key"),
    ],
)
def test_every_mistake_is_refused_naming_its_field(
    section: object, field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(section)
    assert caught.value.setting == field
    assert reason in caught.value.reason


def test_an_unknown_signal_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(_rule(signal="disk_free"))
    assert caught.value.reason == f"unknown signal 'disk_free'; known: {', '.join(SIGNALS)}"


def test_an_email_notifier_reads_its_ca_file_and_defaults_its_port(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked until used")
    config = _parse(_notifier(**{**MAIL, "ca_file": str(ca), "to": "ops@example.com"}))
    mail = config.notifiers["n"]
    assert isinstance(mail, EmailConfig)
    assert (mail.ca_file, mail.port, mail.starttls, mail.to) == (
        ca,
        587,
        True,
        ("ops@example.com",),
    )
    plain = _parse(_notifier(**{**MAIL, "starttls": False})).notifiers["n"]
    assert isinstance(plain, EmailConfig) and plain.port == 25


def test_the_alerts_page_documents_every_default_rule_and_signal() -> None:
    page = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text()
    for rule in DEFAULT_RULES:
        assert f"| {rule.name} | `{rule.signal}` |" in page
    for signal in SIGNALS:
        assert f"`{signal}`" in page
