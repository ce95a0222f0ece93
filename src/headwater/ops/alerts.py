"""Evaluating the alert rules on measurements: each alert's state, notifications and audit.

An alert is one rule on one subject, keyed ``<rule>`` or ``<rule>/<subject>`` in
``alert_states`` (a key longer than the column is cut and ends with a digest of itself)::

    ok ──condition holds──► pending ──held for `for`──► firing ──condition clears──► ok
     ▲      (with `for: 0` straight to firing)             notify firing      notify resolved
     └──── condition clears, no notification ────┘         again after each `cooldown`

What a round measured decides what it touches:

- a value of None means "could not be measured": that alert keeps its state;
- a signal absent from the round, or measured as ``Measurement(signal, None, None)``, was not
  measured at all: all its alerts keep their state;
- an alert whose subject is absent from its signal's measurements (a dropped table), or whose
  rule is no longer configured, is removed, and resolves if it was firing.

A round holds the ``headwater.alerts`` named lock, so two evaluators never both notify; the one
that finds it taken does nothing. It sends its notifications outside any transaction, then
writes the states, every attempted notification (delivered or not, with the error) and the
``alert.fire`` / ``alert.resolve`` audit entries in one transaction: a crash in between sends
again on the next round rather than losing a notification. A firing notification that no
notifier delivered is tried again on the next round, not only after the cooldown.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, delete, func, select

from headwater import audit
from headwater.db import Database, aggregate_time, insert_for, named_lock
from headwater.db.schema import alert_notifications, alert_states
from headwater.ops.alert_rules import AlertConfig, Rule, Severity
from headwater.ops.notifiers import (
    Notification,
    NotificationState,
    Notifier,
    build_notifiers,
    deliver,
)

State = Literal["ok", "pending", "firing"]
LOCK_NAME = "headwater.alerts"
MAX_KEY = 256  # alert_states.rule
_ORDER: dict[str, int] = {"firing": 0, "pending": 1, "ok": 2}
_SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One signal's value for one subject (None: a signal without subjects)."""

    signal: str
    subject: str | None
    value: float | None  # None: could not be measured
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert as stored between rounds: its state, since when, and what it last saw."""

    key: str
    rule: str
    subject: str | None
    state: State
    value: float | None
    since: datetime
    fired_at: datetime | None
    notified_at: datetime | None
    evaluated_at: datetime
    signal: str
    severity: Severity
    threshold: float
    summary: str
    runbook: str
    detail: str


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changing state in a round; ``after`` is ok for one removed."""

    key: str
    rule: str
    subject: str | None
    before: State
    after: State
    value: float | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification attempted by one notifier; ``error`` says why it was not delivered."""

    notifier: str
    notification: Notification
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a round did. ``ran`` is False when another evaluation held the lock."""

    ran: bool
    transitions: tuple[Transition, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class _Step:
    """One alert's change in a round: ``after`` None removes it."""

    rule: Rule | None
    before: AlertState | None
    after: AlertState | None
    notification: Notification | None = None
    reason: str = ""


def alert_key(rule: str, subject: str | None) -> str:
    """The key of ``rule``'s alert on ``subject``, at most `MAX_KEY` characters."""
    key = rule if subject is None else f"{rule}/{subject}"
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY - len(digest) - 1]}~{digest}"


def evaluate(
    database: Database,
    config: AlertConfig,
    measurements: Sequence[Measurement],
    *,
    now: datetime,
    actor: str,
    notifiers: Mapping[str, Notifier] | None = None,
) -> Evaluation:
    """Run one round of every rule of ``config`` on ``measurements``.

    Args:
        database: where the alerts' states and notifications are kept.
        config: the rules and notifiers (`parse_alerts`).
        measurements: this round's values; for one signal and subject the last one counts.
        now: the time of the round, timezone-aware.
        actor: who evaluates, for the audit log (``scheduler``, ``cli:alice``).
        notifiers: the notifiers by name; default: built from ``config``.

    Returns:
        The transitions and every delivery attempted; ``ran`` False if another evaluation
        was under way, in which case nothing was done.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    senders = build_notifiers(config) if notifiers is None else notifiers
    with named_lock(database, LOCK_NAME) as held:
        if not held:
            return Evaluation(ran=False)
        with database.read() as connection:
            stored = {alert.key: alert for alert in current_alerts(connection)}
        steps = _plan(config, measurements, stored, now)
        sent = [_send(step, senders) for step in steps]
        steps = [_settle(step, deliveries) for step, deliveries in zip(steps, sent, strict=True)]
        with database.write() as connection:
            _store(connection, steps, sent, now, actor)
    transitions = tuple(
        transition for step in steps if (transition := _transition(step)) is not None
    )
    return Evaluation(True, transitions, tuple(d for deliveries in sent for d in deliveries))


def current_alerts(connection: Connection) -> list[AlertState]:
    """Every alert's state: firing first, then pending, then ok; critical first within each."""
    alerts = [_from_row(row) for row in connection.execute(select(alert_states))]
    return sorted(
        alerts,
        key=lambda a: (_ORDER[a.state], _SEVERITY_ORDER[a.severity], a.since, a.key),
    )


def last_evaluated(connection: Connection) -> datetime | None:
    """When the rules were last evaluated (None: never)."""
    when = connection.execute(select(func.max(alert_states.c.evaluated_at))).scalar_one()
    return None if when is None else aggregate_time(when)


def _from_row(row: Any) -> AlertState:
    details = row.details
    return AlertState(
        key=row.rule,
        rule=details["rule"],
        subject=details["subject"],
        state=cast(State, row.state),
        value=row.value,
        since=row.since,
        fired_at=row.fired_at,
        notified_at=row.notified_at,
        evaluated_at=row.evaluated_at,
        signal=details["signal"],
        severity=details["severity"],
        threshold=details["threshold"],
        summary=details["summary"],
        runbook=details["runbook"],
        detail=details["detail"],
    )


def _plan(
    config: AlertConfig,
    measurements: Sequence[Measurement],
    stored: Mapping[str, AlertState],
    now: datetime,
) -> list[_Step]:
    by_signal: dict[str, dict[str | None, Measurement]] = {}
    for measurement in measurements:
        by_signal.setdefault(measurement.signal, {})[measurement.subject] = measurement
    unmeasured = {
        signal
        for signal, by_subject in by_signal.items()
        if None in by_subject and _value(by_subject[None]) is None
    }
    steps: list[_Step] = []
    kept: set[str] = set()
    for rule in config.rules:
        if rule.signal not in by_signal or rule.signal in unmeasured:
            continue
        for subject, measurement in by_signal[rule.signal].items():
            if not rule.covers(subject):
                continue
            key = alert_key(rule.name, subject)
            kept.add(key)
            value = _value(measurement)
            if value is not None:
                steps.append(
                    _advance(rule, stored.get(key), subject, value, measurement.detail, now)
                )
    rules = {rule.name: rule for rule in config.rules}
    for key, alert in stored.items():
        configured = rules.get(alert.rule)
        if key in kept or (
            configured is not None
            and (configured.signal not in by_signal or configured.signal in unmeasured)
        ):
            continue
        steps.append(_remove(configured, alert, now))
    return steps


def _value(measurement: Measurement) -> float | None:
    # NaN compares false with everything: it would resolve an alert it says nothing about.
    value = measurement.value
    return None if value is None or math.isnan(value) else float(value)


def _advance(
    rule: Rule,
    before: AlertState | None,
    subject: str | None,
    value: float,
    detail: str,
    now: datetime,
) -> _Step:
    state: State = "ok" if before is None else before.state
    since = now if before is None else before.since
    fired_at = None if before is None else before.fired_at
    notified_at = None if before is None else before.notified_at
    notify: NotificationState | None = None
    if not rule.breached(value):
        if state == "firing":
            notify = "resolved"
        if state != "ok":
            since = now
        after_state: State = "ok"
        fired_at = notified_at = None
    elif state == "firing":
        after_state = "firing"
        if notified_at is None or now - notified_at >= rule.cooldown:
            notify, notified_at = "firing", now
    else:
        if state == "ok":
            since = now
        if now - since >= rule.for_:
            after_state, since, fired_at, notified_at, notify = "firing", now, now, now, "firing"
        else:
            after_state = "pending"
    after = AlertState(
        key=alert_key(rule.name, subject),
        rule=rule.name,
        subject=subject,
        state=after_state,
        value=value,
        since=since,
        fired_at=fired_at,
        notified_at=notified_at,
        evaluated_at=now,
        signal=rule.signal,
        severity=rule.severity,
        threshold=rule.threshold,
        summary=rule.summarize(subject, value, detail),
        runbook=rule.runbook,
        detail=detail,
    )
    notification = None
    if notify == "resolved":
        assert before is not None  # only a firing alert resolves
        # A firing alert's since is when it fired.
        notification = _notification(rule, after, notify, before.fired_at or before.since, now)
    elif notify == "firing":
        notification = _notification(rule, after, notify, fired_at or now, None)
    reason = "condition cleared" if notify == "resolved" else ""
    return _Step(rule, before, after, notification, reason)


def _remove(rule: Rule | None, alert: AlertState, now: datetime) -> _Step:
    """The alert of a subject no longer measured, or of a rule no longer configured."""
    if rule is None:
        return _Step(None, alert, None, reason="rule no longer configured")
    notification = None
    if alert.state == "firing":
        gone = replace(
            alert,
            value=None,
            summary=rule.summarize(alert.subject, None),
            detail="no longer measured",
        )
        notification = _notification(rule, gone, "resolved", alert.fired_at or alert.since, now)
    return _Step(rule, alert, None, notification, reason="no longer measured")


def _notification(
    rule: Rule,
    alert: AlertState,
    state: NotificationState,
    fired_at: datetime,
    resolved_at: datetime | None,
) -> Notification:
    return Notification(
        rule=rule.name,
        key=alert.key,
        subject=alert.subject,
        state=state,
        severity=rule.severity,
        summary=alert.summary,
        value=alert.value,
        threshold=rule.threshold,
        signal=rule.signal,
        fired_at=fired_at,
        resolved_at=resolved_at,
        runbook=rule.runbook,
        detail=alert.detail,
    )


def _send(step: _Step, notifiers: Mapping[str, Notifier]) -> list[Delivery]:
    if step.notification is None or step.rule is None:
        return []
    deliveries = []
    for name in step.rule.notify:
        notifier = notifiers.get(name)
        error = (
            f"notifier {name}: not configured"
            if notifier is None
            else deliver(notifier, step.notification)
        )
        deliveries.append(Delivery(name, step.notification, error))
    return deliveries


def _settle(step: _Step, deliveries: list[Delivery]) -> _Step:
    """Keep the last notification time when no notifier delivered this firing one, so that
    the next round tries again instead of waiting for the cooldown."""
    notification, after = step.notification, step.after
    if (
        notification is None
        or notification.state != "firing"
        or after is None
        or not deliveries
        or any(d.delivered for d in deliveries)
    ):
        return step
    before = step.before
    kept = before.notified_at if before is not None and before.state == "firing" else None
    return replace(step, after=replace(after, notified_at=kept))


def _row(alert: AlertState) -> dict[str, Any]:
    return {
        "rule": alert.key,
        "state": alert.state,
        "value": alert.value,
        "since": alert.since,
        "fired_at": alert.fired_at,
        "notified_at": alert.notified_at,
        "evaluated_at": alert.evaluated_at,
        "details": {
            "rule": alert.rule,
            "subject": alert.subject,
            "signal": alert.signal,
            "severity": alert.severity,
            "threshold": alert.threshold,
            "summary": alert.summary,
            "runbook": alert.runbook,
            "detail": alert.detail,
        },
    }


def _store(
    connection: Connection,
    steps: Sequence[_Step],
    sent: Sequence[Sequence[Delivery]],
    now: datetime,
    actor: str,
) -> None:
    rows = [_row(step.after) for step in steps if step.after is not None]
    if rows:
        insert = insert_for(connection, alert_states)
        columns = [name for name in rows[0] if name != "rule"]
        upsert = insert.on_conflict_do_update(
            index_elements=["rule"], set_={name: insert.excluded[name] for name in columns}
        )
        connection.execute(upsert, rows)
    removed = [step.before.key for step in steps if step.after is None and step.before]
    if removed:
        connection.execute(delete(alert_states).where(alert_states.c.rule.in_(removed)))
    attempts = [
        {
            "rule": delivery.notification.key,
            "state": delivery.notification.state,
            "notifier": delivery.notifier,
            "sent_at": now,
            "delivered": delivery.delivered,
            "error": delivery.error,
            "payload": delivery.notification.as_json(),
        }
        for deliveries in sent
        for delivery in deliveries
    ]
    if attempts:
        connection.execute(alert_notifications.insert(), attempts)
    records = [
        record
        for step, deliveries in zip(steps, sent, strict=True)
        if (record := _audit_record(step, deliveries, actor)) is not None
    ]
    # Last in the transaction: on PostgreSQL the audit lock is then held for the commit only.
    audit.append(connection, *records)


def _audit_record(
    step: _Step, deliveries: Sequence[Delivery], actor: str
) -> audit.AuditRecord | None:
    was_firing = step.before is not None and step.before.state == "firing"
    is_firing = step.after is not None and step.after.state == "firing"
    if was_firing == is_firing:
        return None
    alert = step.after if is_firing else step.before
    assert alert is not None
    details: dict[str, Any] = {
        "rule": alert.rule,
        "subject": alert.subject,
        "signal": alert.signal,
        "value": None if step.after is None else step.after.value,
        "threshold": alert.threshold,
        "severity": alert.severity,
        "delivered": sorted(d.notifier for d in deliveries if d.delivered),
        "failed": sorted(d.notifier for d in deliveries if not d.delivered),
    }
    if step.reason:
        details["reason"] = step.reason
    action = "alert.fire" if is_firing else "alert.resolve"
    return audit.AuditRecord(action, f"alert:{alert.key}", actor, details)


def _transition(step: _Step) -> Transition | None:
    before: State = "ok" if step.before is None else step.before.state
    after: State = "ok" if step.after is None else step.after.state
    if before == after:
        return None
    alert = step.after or step.before
    assert alert is not None
    return Transition(alert.key, alert.rule, alert.subject, before, after, alert.value)
