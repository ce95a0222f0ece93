"""The ``alerts:`` section of ``headwater.yml``: rules, their defaults and the notifiers.

::

    alerts:
      defaults: {notify: [log], cooldown: 1h, for: 0s}
      notifiers:
        ops-mail: {type: email, host: smtp.example.com, password_env: SMTP_PASSWORD, ...}
        chat: {type: slack, url_env: SLACK_WEBHOOK_URL}
      rules:
        - {name: ConsumerLagHigh, signal: consumer_lag_s, above: 300, for: 5m, notify: [chat]}

`parse_alerts` checks all of it at start-up and raises `ConfigError` naming the exact field
(``alerts.rules[2].above``, ``alerts.notifiers.ops-mail.port``). Secrets named by ``*_env``
keys are read from the environment then, so a missing variable stops start-up instead of
failing every notification later.

The rules of `DEFAULT_RULES` always exist. A declared rule with a default's name is laid over
it: only the keys it gives change (``above: 600``), and ``enabled: false`` switches it off.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from headwater.errors import ConfigError
from headwater.ops import durations

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
Condition = Literal["above", "below"]

SIGNALS: Mapping[str, str] = MappingProxyType(
    {
        "pipeline_failed": "1 when the last run failed, else 0",
        "catalog_up": "1 when the Iceberg catalog answers, else 0",
        "storage_up": "1 when the warehouse storage answers, else 0",
        "consumer_lag_s": "seconds between the oldest delivery waiting and now",
        "table_small_files": "data files smaller than the target size",
        "job_failed": "1 when the last run of a job failed, else 0",
        "lineage_missing_pct": "percent of datasets with no lineage",
        "entity_coverage_pct": "percent of records matched to an entity",
        "error_rate_pct": "percent of requests answered 5xx",
        "storage_used_pct": "percent of the warehouse's storage in use",
    }
)
"""The signals a rule can watch, each with what its value measures."""

LOG_NOTIFIER = "log"
NOTIFIER_TYPES = ("email", "log", "slack", "webhook")
SUMMARY_FIELDS = ("detail", "rule", "severity", "signal", "subject", "threshold", "value")
"""The fields a rule's ``summary`` template may use (``value`` and ``threshold`` are floats)."""

# No "/": it separates the rule from the subject in an alert's key.
_RULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
_NOTIFIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECTION_KEYS = {"defaults", "notifiers", "rules"}
_DEFAULTS_KEYS = {"notify", "cooldown", "for"}
_RULE_KEYS = {
    "name",
    "signal",
    "subject",
    "above",
    "below",
    "for",
    "severity",
    "notify",
    "cooldown",
    "summary",
    "runbook",
    "enabled",
}
_EMAIL_KEYS = {
    "type",
    "host",
    "port",
    "starttls",
    "username",
    "password",
    "password_env",
    "from",
    "to",
    "ca_file",
    "timeout",
}
# Headers the webhook notifier sets itself.
_RESERVED_HEADERS = {"content-type", "content-length", "x-headwater-signature"}


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule: ``signal`` compared with ``threshold``, for each subject it covers.

    ``for_`` is the ``for:`` key: how long the condition must hold before the alert fires.
    ``subject`` is a glob (``raw.*``); None covers every subject of the signal.
    """

    name: str
    signal: str
    condition: Condition
    threshold: float
    severity: Severity
    notify: tuple[str, ...]
    cooldown: timedelta
    for_: timedelta
    subject: str | None
    summary: str | None
    runbook: str

    def covers(self, subject: str | None) -> bool:
        if self.subject is None:
            return True
        return subject is not None and fnmatch.fnmatchcase(subject, self.subject)

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.condition == "above" else value < self.threshold

    def summarize(self, subject: str | None, value: float | None, detail: str = "") -> str:
        """The one-line summary of this rule's alert on ``subject`` at ``value`` (None: the
        subject is no longer measured)."""
        where = f" on {subject}" if subject else ""
        if value is None:
            return f"{self.signal} is no longer measured{where}"
        if self.summary is not None:
            return self.summary.format(
                detail=detail,
                rule=self.name,
                severity=self.severity,
                signal=self.signal,
                subject=subject or "",
                threshold=self.threshold,
                value=value,
            )
        return f"{self.signal} is {value:g}, {self.condition} {self.threshold:g}{where}"


@dataclass(frozen=True, slots=True)
class EmailConfig:
    name: str
    host: str
    port: int
    starttls: bool
    sender: str  # the ``from:`` key
    to: tuple[str, ...]
    username: str | None
    password: str | None = field(repr=False)
    ca_file: Path | None
    timeout_s: float


@dataclass(frozen=True, slots=True)
class SlackConfig:
    name: str
    url: str = field(repr=False)  # an incoming webhook's URL is its credential
    timeout_s: float


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    name: str
    url: str = field(repr=False)
    secret: str | None = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)  # may carry tokens
    timeout_s: float


@dataclass(frozen=True, slots=True)
class LogConfig:
    name: str = LOG_NOTIFIER


NotifierConfig = EmailConfig | SlackConfig | WebhookConfig | LogConfig


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """The rules in effect (defaults included, disabled ones left out) and every notifier."""

    rules: tuple[Rule, ...]
    notifiers: Mapping[str, NotifierConfig]


@dataclass(frozen=True, slots=True)
class _Defaults:
    notify: tuple[str, ...] = (LOG_NOTIFIER,)
    cooldown: timedelta = timedelta(hours=1)
    for_: timedelta = timedelta(0)


_DEFAULT_SPECS: tuple[dict[str, Any], ...] = (
    {"name": "PipelineFailure", "signal": "pipeline_failed", "above": 0, "severity": "critical"},
    {"name": "CatalogDown", "signal": "catalog_up", "below": 1, "severity": "critical"},
    {"name": "StorageDown", "signal": "storage_up", "below": 1, "severity": "critical"},
    {
        "name": "ConsumerLagHigh",
        "signal": "consumer_lag_s",
        "above": 300,
        "for": "5m",
        "severity": "warning",
    },
    {
        "name": "TableNeedsCompaction",
        "signal": "table_small_files",
        "above": 100,
        "severity": "info",
    },
    {"name": "JobFailure", "signal": "job_failed", "above": 0, "severity": "warning"},
    {"name": "LineageMissing", "signal": "lineage_missing_pct", "above": 20, "severity": "warning"},
    {
        "name": "EntityCoverageLow",
        "signal": "entity_coverage_pct",
        "below": 90,
        "severity": "warning",
    },
    {
        "name": "ErrorRateHigh",
        "signal": "error_rate_pct",
        "above": 5,
        "for": "10m",
        "severity": "warning",
    },
    {"name": "StorageUsageHigh", "signal": "storage_used_pct", "above": 85, "severity": "warning"},
)


def parse_alerts(
    section: object, where: str = "alerts", environ: Mapping[str, str] | None = None
) -> AlertConfig:
    """Check the ``alerts:`` section and build its rules and notifiers.

    Args:
        section: the section as YAML loaded it; None when the file has none.
        where: its path, the start of every field path in errors.
        environ: where ``*_env`` keys are looked up; default ``os.environ``.

    Returns:
        The rules in effect (`DEFAULT_RULES`, overridden by name, then the declared ones) and
        every notifier, ``log`` included.

    Raises:
        ConfigError: naming the field at fault, e.g. ``alerts.rules[2].above``.
    """
    block = {} if section is None else _mapping(section, where)
    _refuse_unknown(block, _SECTION_KEYS, where)
    notifiers = _notifiers(
        block.get("notifiers"), f"{where}.notifiers", os.environ if environ is None else environ
    )
    defaults = _defaults(block.get("defaults"), f"{where}.defaults", notifiers)
    rules = _rules(block.get("rules"), f"{where}.rules", defaults, notifiers)
    return AlertConfig(rules, MappingProxyType(notifiers))


def parse_duration(value: object, where: str) -> timedelta:
    """A duration setting (`headwater.ops.durations`); a `ConfigError` naming ``where``."""
    try:
        return durations.parse_duration(value)
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{where}.{key}", "keys must be text")
    return dict(value)


def _refuse_unknown(block: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}",
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}",
        )


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, f"must be a non-empty text, got {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(where, f"must be a number, got {value!r}")
    return float(value)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, got {value!r}")
    return value


def _timeout(block: Mapping[str, Any], at: str) -> float:
    timeout = parse_duration(block.get("timeout", "10s"), f"{at}.timeout")
    if not timeout:
        raise ConfigError(f"{at}.timeout", "must be longer than 0s")
    return timeout.total_seconds()


def _secret(block: Mapping[str, Any], key: str, at: str, environ: Mapping[str, str]) -> str | None:
    """``block[key]``, or the environment variable ``block[key + "_env"]`` names."""
    env_key = f"{key}_env"
    if key in block and env_key in block:
        raise ConfigError(f"{at}.{key}", f"give {key} or {env_key}, not both")
    if env_key in block:
        variable = block[env_key]
        if not isinstance(variable, str) or not _ENV_NAME.fullmatch(variable):
            raise ConfigError(
                f"{at}.{env_key}", f"must name an environment variable, got {variable!r}"
            )
        secret = environ.get(variable, "")
        if not secret:
            raise ConfigError(f"{at}.{env_key}", f"environment variable {variable} is not set")
        return secret
    if key in block:
        # Never echo the value: it is a secret.
        if not isinstance(block[key], str) or not block[key]:
            raise ConfigError(f"{at}.{key}", "must be a non-empty text")
        return str(block[key])
    return None


def _url(block: Mapping[str, Any], at: str, environ: Mapping[str, str]) -> str:
    url = _secret(block, "url", at, environ)
    if url is None:
        raise ConfigError(f"{at}.url", "is required (or url_env naming a variable that holds it)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        key = "url_env" if "url_env" in block else "url"
        raise ConfigError(f"{at}.{key}", "must be an http:// or https:// URL")
    return url


def _address(value: object, where: str) -> str:
    address = _text(value, where)
    if "@" not in address:
        raise ConfigError(where, f"must be an email address, got {address!r}")
    return address


def _email(name: str, block: Mapping[str, Any], at: str, environ: Mapping[str, str]) -> EmailConfig:
    _refuse_unknown(block, _EMAIL_KEYS, at)
    if "host" not in block:
        raise ConfigError(f"{at}.host", "is required")
    starttls = _flag(block.get("starttls", True), f"{at}.starttls")
    port = block.get("port", 587 if starttls else 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{at}.port", f"must be a port number from 1 to 65535, got {port!r}")
    username = None if block.get("username") is None else _text(block["username"], f"{at}.username")
    password = _secret(block, "password", at, environ)
    if username is not None and password is None:
        raise ConfigError(f"{at}.password", "is required with a username (or password_env)")
    if username is None and password is not None:
        raise ConfigError(f"{at}.username", "is required with a password")
    if username is not None and not starttls:
        raise ConfigError(
            f"{at}.starttls", "must be true with a username: a password is never sent in clear"
        )
    for key in ("from", "to"):
        if key not in block:
            raise ConfigError(f"{at}.{key}", "is required")
    recipients = [block["to"]] if isinstance(block["to"], str) else block["to"]
    if not isinstance(recipients, list) or not recipients:
        raise ConfigError(f"{at}.to", "must be an address or a non-empty list of addresses")
    ca_file = None
    if block.get("ca_file") is not None:
        ca_file = Path(_text(block["ca_file"], f"{at}.ca_file"))
        if not ca_file.is_file():
            raise ConfigError(f"{at}.ca_file", f"file {ca_file} does not exist")
    return EmailConfig(
        name=name,
        host=_text(block["host"], f"{at}.host"),
        port=port,
        starttls=starttls,
        sender=_address(block["from"], f"{at}.from"),
        to=tuple(_address(item, f"{at}.to[{i}]") for i, item in enumerate(recipients)),
        username=username,
        password=password,
        ca_file=ca_file,
        timeout_s=_timeout(block, at),
    )


def _slack(name: str, block: Mapping[str, Any], at: str, environ: Mapping[str, str]) -> SlackConfig:
    _refuse_unknown(block, {"type", "url", "url_env", "timeout"}, at)
    return SlackConfig(name=name, url=_url(block, at, environ), timeout_s=_timeout(block, at))


def _webhook(
    name: str, block: Mapping[str, Any], at: str, environ: Mapping[str, str]
) -> WebhookConfig:
    _refuse_unknown(
        block, {"type", "url", "url_env", "secret", "secret_env", "headers", "timeout"}, at
    )
    headers = _mapping(block.get("headers") or {}, f"{at}.headers")
    for header, value in headers.items():
        if header.lower() in _RESERVED_HEADERS:
            raise ConfigError(f"{at}.headers.{header}", "is set by the notifier itself")
        if not isinstance(value, str):
            raise ConfigError(f"{at}.headers.{header}", "must be a text")
    return WebhookConfig(
        name=name,
        url=_url(block, at, environ),
        secret=_secret(block, "secret", at, environ),
        headers=MappingProxyType(headers),
        timeout_s=_timeout(block, at),
    )


def _log(name: str, block: Mapping[str, Any], at: str, environ: Mapping[str, str]) -> LogConfig:
    _refuse_unknown(block, {"type"}, at)
    return LogConfig(name)


_NOTIFIER_PARSERS: dict[
    str, Callable[[str, Mapping[str, Any], str, Mapping[str, str]], NotifierConfig]
] = {
    "email": _email,
    "log": _log,
    "slack": _slack,
    "webhook": _webhook,
}


def _notifiers(value: object, where: str, environ: Mapping[str, str]) -> dict[str, NotifierConfig]:
    declared = {} if value is None else _mapping(value, where)
    notifiers: dict[str, NotifierConfig] = {LOG_NOTIFIER: LogConfig()}
    for name, raw in declared.items():
        at = f"{where}.{name}"
        if not _NOTIFIER_NAME.fullmatch(name):
            raise ConfigError(
                at, "a notifier's name is at most 100 letters, digits, '_', '.' or '-'"
            )
        block = _mapping(raw, at)
        kind = block.get("type")
        if kind not in _NOTIFIER_PARSERS:
            raise ConfigError(
                f"{at}.type", f"must be one of {', '.join(NOTIFIER_TYPES)}, got {kind!r}"
            )
        if name == LOG_NOTIFIER and kind != "log":
            raise ConfigError(
                f"{at}.type", "the notifier named log is the log notifier; name this one otherwise"
            )
        notifiers[name] = _NOTIFIER_PARSERS[str(kind)](name, block, at, environ)
    return notifiers


def _notify(value: object, where: str, notifiers: Mapping[str, NotifierConfig]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, f"must be a list of notifier names, got {value!r}")
    for index, name in enumerate(value):
        if name not in notifiers:
            raise ConfigError(
                f"{where}[{index}]",
                f"no notifier named {name!r}; declared: {', '.join(sorted(notifiers))}",
            )
    return tuple(str(name) for name in value)


def _defaults(value: object, where: str, notifiers: Mapping[str, NotifierConfig]) -> _Defaults:
    block = {} if value is None else _mapping(value, where)
    _refuse_unknown(block, _DEFAULTS_KEYS, where)
    builtin = _Defaults()
    return _Defaults(
        notify=_notify(block["notify"], f"{where}.notify", notifiers)
        if "notify" in block
        else builtin.notify,
        cooldown=parse_duration(block.get("cooldown", "1h"), f"{where}.cooldown"),
        for_=parse_duration(block.get("for", 0), f"{where}.for"),
    )


def _signal(value: object, where: str) -> str:
    if isinstance(value, str) and value in SIGNALS:
        return value
    close = difflib.get_close_matches(str(value), SIGNALS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(where, f"unknown signal {value!r}{hint}; known: {', '.join(SIGNALS)}")


def _summary(value: object, where: str) -> str:
    template = _text(value, where)
    sample = dict.fromkeys(SUMMARY_FIELDS, "x") | {"value": 1.0, "threshold": 1.0}
    try:
        template.format(**sample)
    except KeyError as exc:
        raise ConfigError(
            where, f"unknown field {exc.args[0]!r}; fields: {', '.join(SUMMARY_FIELDS)}"
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(where, f"not a valid str.format template: {exc}") from None
    return template


def _rule(
    spec: Mapping[str, Any],
    where: str,
    defaults: _Defaults,
    notifiers: Mapping[str, NotifierConfig],
) -> tuple[Rule, bool]:
    """The rule ``spec`` declares, and whether it is enabled."""
    _refuse_unknown(spec, _RULE_KEYS, where)
    name = str(spec["name"])
    if "signal" not in spec:
        raise ConfigError(f"{where}.signal", f"is required; known: {', '.join(SIGNALS)}")
    given = [key for key in ("above", "below") if key in spec]
    if not given:
        raise ConfigError(f"{where}.above", "a rule needs one of above or below")
    if len(given) > 1:
        raise ConfigError(f"{where}.below", "give one of above or below, not both")
    condition = cast(Condition, given[0])
    severity = spec.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}, got {severity!r}"
        )
    subject = None if spec.get("subject") is None else _text(spec["subject"], f"{where}.subject")
    runbook = spec.get("runbook")
    rule = Rule(
        name=name,
        signal=_signal(spec["signal"], f"{where}.signal"),
        condition=condition,
        threshold=_number(spec[condition], f"{where}.{condition}"),
        severity=severity,
        notify=_notify(spec["notify"], f"{where}.notify", notifiers)
        if "notify" in spec
        else defaults.notify,
        cooldown=parse_duration(spec["cooldown"], f"{where}.cooldown")
        if "cooldown" in spec
        else defaults.cooldown,
        for_=parse_duration(spec["for"], f"{where}.for") if "for" in spec else defaults.for_,
        subject=subject,
        summary=None
        if spec.get("summary") is None
        else _summary(spec["summary"], f"{where}.summary"),
        runbook=f"docs/operations.md#{name.lower()}"
        if runbook is None
        else _text(runbook, f"{where}.runbook"),
    )
    return rule, _flag(spec.get("enabled", True), f"{where}.enabled")


def _rules(
    value: object, where: str, defaults: _Defaults, notifiers: Mapping[str, NotifierConfig]
) -> tuple[Rule, ...]:
    if value is not None and not isinstance(value, list):
        raise ConfigError(where, f"must be a list of rules, got {type(value).__name__}")
    # Name -> (spec, its path); the defaults first, in their order, each replaced in place.
    specs: dict[str, tuple[dict[str, Any], str]] = {
        spec["name"]: (spec, f"{where}(default {spec['name']})") for spec in _DEFAULT_SPECS
    }
    declared: dict[str, int] = {}
    for index, item in enumerate(value or []):
        at = f"{where}[{index}]"
        spec = _mapping(item, at)
        name = spec.get("name")
        if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
            raise ConfigError(
                f"{at}.name",
                "is required: a letter, then at most 99 letters, digits, '_', '.' or '-'",
            )
        if name in declared:
            raise ConfigError(
                f"{at}.name", f"{name!r} is declared twice (also rules[{declared[name]}])"
            )
        declared[name] = index
        if name in specs:
            base = specs[name][0]
            if "above" in spec or "below" in spec:
                base = {k: v for k, v in base.items() if k not in ("above", "below")}
            spec = {**base, **spec}
        specs[name] = (spec, at)
    rules = []
    for spec, at in specs.values():
        rule, enabled = _rule(spec, at, defaults, notifiers)
        if enabled:
            rules.append(rule)
    return tuple(rules)


DEFAULT_RULES: tuple[Rule, ...] = parse_alerts(None, environ={}).rules
"""The rules in effect when ``alerts:`` declares none: one per alert of the runbook."""
