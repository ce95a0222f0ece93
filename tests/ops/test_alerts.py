"""Evaluating alert rules, round by round, on both backends: ok → pending → firing → ok, one
notification per firing and cooldown, every attempt recorded, fire and resolve audited, and
never two evaluators notifying at once. Time is passed in; nothing sleeps."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from headwater import audit
from headwater.db import Database
from headwater.db.schema import alert_notifications
from headwater.ops.alert_rules import AlertConfig, parse_alerts
from headwater.ops.alerts import (
    MAX_KEY,
    Evaluation,
    Measurement,
    Transition,
    alert_key,
    current_alerts,
    evaluate,
)
from headwater.ops.notifiers import Notification
from tests.ops.notifying import receiving

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LAG = {"name": "Lag", "signal": "consumer_lag_s", "above": 300, "for": "5m", "cooldown": "30m"}
SMALL = {"name": "SmallFiles", "signal": "table_small_files", "subject": "raw.*", "above": 100}
DOWN = {"name": "Down", "signal": "catalog_up", "below": 1, "severity": "critical"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _config(*rules: dict[str, Any], notifiers: dict[str, Any] | None = None) -> AlertConfig:
    """Only ``rules``: the default rules would watch the same signals."""
    parsed = parse_alerts({"rules": list(rules), "notifiers": notifiers or {}}, environ={})
    names = {rule["name"] for rule in rules}
    return AlertConfig(tuple(r for r in parsed.rules if r.name in names), parsed.notifiers)


def _round(
    database: Database, config: AlertConfig, minutes: float, *measurements: Measurement
) -> Evaluation:
    return evaluate(database, config, list(measurements), now=at(minutes), actor="scheduler")


def _sent(database: Database) -> list[tuple[str, str, str, bool]]:
    """(key, firing|resolved, notifier, delivered) of every notification attempted."""
    table = alert_notifications.c
    with database.read() as connection:
        rows = connection.execute(
            select(table.rule, table.state, table.notifier, table.delivered).order_by(table.id)
        )
        return [(row.rule, row.state, row.notifier, row.delivered) for row in rows]


def _states(database: Database) -> dict[str, str]:
    with database.read() as connection:
        return {alert.key: alert.state for alert in current_alerts(connection)}


def _audited(database: Database) -> list[tuple[str, str, str, dict[str, Any]]]:
    with database.read() as connection:
        entries, _ = audit.list_entries(connection, newest_first=False)
    return [(e.action, e.target, e.actor, orjson.loads(e.details)) for e in entries]


def lag(value: float | None) -> Measurement:
    return Measurement("consumer_lag_s", None, value)


def test_an_alert_is_pending_until_its_condition_has_held_for_its_duration_then_fires(
    database: Database,
) -> None:
    config = _config(LAG)
    first = _round(database, config, 0, lag(400))
    assert first.transitions == (Transition("Lag", "Lag", None, "ok", "pending", 400),)
    assert first.deliveries == ()
    assert _round(database, config, 4, lag(420)).transitions == ()
    assert _states(database) == {"Lag": "pending"}
    fired = _round(database, config, 5, lag(450))
    assert fired.transitions == (Transition("Lag", "Lag", None, "pending", "firing", 450),)
    (delivery,) = fired.deliveries
    assert (delivery.notifier, delivery.delivered) == ("log", True)
    notification = delivery.notification
    assert (notification.state, notification.value, notification.fired_at) == ("firing", 450, at(5))
    assert notification.summary == "consumer_lag_s is 450, above 300"
    assert _sent(database) == [("Lag", "firing", "log", True)]
    with database.read() as connection:
        (alert,) = current_alerts(connection)
    assert (alert.state, alert.since, alert.fired_at, alert.notified_at) == (
        "firing",
        at(5),
        at(5),
        at(5),
    )


def test_an_alert_without_a_duration_fires_on_the_first_breach(database: Database) -> None:
    result = _round(database, _config(DOWN), 0, Measurement("catalog_up", None, 0))
    assert result.transitions == (Transition("Down", "Down", None, "ok", "firing", 0),)
    assert _sent(database) == [("Down", "firing", "log", True)]


def test_a_firing_alert_is_notified_again_only_once_its_cooldown_has_passed(
    database: Database,
) -> None:
    config = _config({**LAG, "for": 0})
    for minutes in (0, 10, 29, 30, 31, 59):
        _round(database, config, minutes, lag(400))
    assert _sent(database) == [("Lag", "firing", "log", True)] * 2
    with database.read() as connection:
        assert current_alerts(connection)[0].notified_at == at(30)
    _round(database, config, 60, lag(400))
    assert len(_sent(database)) == 3


def test_a_firing_alert_resolves_when_its_condition_clears(database: Database) -> None:
    config = _config({**LAG, "for": 0})
    _round(database, config, 0, lag(400))
    resolved = _round(database, config, 7, lag(12))
    assert resolved.transitions == (Transition("Lag", "Lag", None, "firing", "ok", 12),)
    notification = resolved.deliveries[0].notification
    assert (notification.state, notification.fired_at, notification.resolved_at) == (
        "resolved",
        at(0),
        at(7),
    )
    assert _sent(database) == [("Lag", "firing", "log", True), ("Lag", "resolved", "log", True)]
    assert _states(database) == {"Lag": "ok"}
    # Firing again is a new firing: notified at once, whatever the cooldown.
    _round(database, config, 8, lag(400))
    assert _sent(database)[-1] == ("Lag", "firing", "log", True)


def test_fire_and_resolve_are_audited_with_the_actor_and_what_was_delivered(
    database: Database,
) -> None:
    config = _config(DOWN)
    _round(database, config, 0, Measurement("catalog_up", None, 0))
    _round(database, config, 1, Measurement("catalog_up", None, 0))
    _round(database, config, 2, Measurement("catalog_up", None, 1))
    common = {"rule": "Down", "subject": None, "signal": "catalog_up", "threshold": 1.0}
    assert _audited(database) == [
        (
            "alert.fire",
            "alert:Down",
            "scheduler",
            {**common, "value": 0.0, "severity": "critical", "delivered": ["log"], "failed": []},
        ),
        (
            "alert.resolve",
            "alert:Down",
            "scheduler",
            {
                **common,
                "value": 1.0,
                "severity": "critical",
                "delivered": ["log"],
                "failed": [],
                "reason": "condition cleared",
            },
        ),
    ]


def test_a_pending_alert_that_clears_goes_back_to_ok_without_a_notification(
    database: Database,
) -> None:
    config = _config(LAG)
    _round(database, config, 0, lag(400))
    cleared = _round(database, config, 3, lag(100))
    assert cleared.transitions == (Transition("Lag", "Lag", None, "pending", "ok", 100),)
    # The duration counts again from the next breach.
    _round(database, config, 4, lag(400))
    _round(database, config, 8, lag(400))
    assert _sent(database) == [] and _audited(database) == []
    assert _states(database) == {"Lag": "pending"}


def test_each_subject_a_rule_covers_is_its_own_alert(database: Database) -> None:
    config = _config({**SMALL, "summary": "{subject} has {value:.0f} small files"})
    result = _round(
        database,
        config,
        0,
        Measurement("table_small_files", "raw.orders", 150),
        Measurement("table_small_files", "raw.refunds", 20),
        Measurement("table_small_files", "staging.orders", 900),
    )
    assert _states(database) == {"SmallFiles/raw.orders": "firing", "SmallFiles/raw.refunds": "ok"}
    (delivery,) = result.deliveries
    assert delivery.notification.summary == "raw.orders has 150 small files"
    assert delivery.notification.subject == "raw.orders"


def test_an_alert_whose_subject_is_no_longer_measured_resolves_and_goes(
    database: Database,
) -> None:
    config = _config(SMALL)
    small = [Measurement("table_small_files", t, 150) for t in ("raw.orders", "raw.refunds")]
    _round(database, config, 0, *small)
    dropped = _round(database, config, 1, small[1])
    assert dropped.transitions == (
        Transition("SmallFiles/raw.orders", "SmallFiles", "raw.orders", "firing", "ok", 150),
    )
    (delivery,) = dropped.deliveries
    notification = delivery.notification
    assert (notification.state, notification.value, notification.detail) == (
        "resolved",
        None,
        "no longer measured",
    )
    assert notification.summary == "table_small_files is no longer measured on raw.orders"
    assert _states(database) == {"SmallFiles/raw.refunds": "firing"}
    assert _audited(database)[-1][:2] == ("alert.resolve", "alert:SmallFiles/raw.orders")
    assert _audited(database)[-1][3]["reason"] == "no longer measured"


def test_a_value_that_could_not_be_measured_neither_fires_nor_resolves(
    database: Database,
) -> None:
    config = _config(LAG, SMALL)
    _round(database, config, 0, lag(400), Measurement("table_small_files", "raw.orders", 150))
    # Unmeasurable: a value of None or NaN, a signal measured as (signal, None, None), or a
    # signal missing from the round altogether.
    _round(database, config, 3, lag(None), Measurement("table_small_files", None, None))
    _round(database, config, 4, lag(float("nan")))
    assert _states(database) == {"Lag": "pending", "SmallFiles/raw.orders": "firing"}
    # The duration still counts from the first breach.
    fired = _round(database, config, 5, lag(400))
    assert [t.after for t in fired.transitions] == ["firing"]
    assert [(key, state) for key, state, _, _ in _sent(database)] == [
        ("SmallFiles/raw.orders", "firing"),
        ("Lag", "firing"),
    ]


def test_the_alert_of_a_rule_no_longer_configured_is_removed_and_resolved_in_the_audit(
    database: Database,
) -> None:
    _round(database, _config(DOWN), 0, Measurement("catalog_up", None, 0))
    result = _round(database, _config(LAG), 1, lag(10))
    assert Transition("Down", "Down", None, "firing", "ok", 0) in result.transitions
    assert _states(database) == {"Lag": "ok"}
    assert _audited(database)[-1][:2] == ("alert.resolve", "alert:Down")
    assert _audited(database)[-1][3]["reason"] == "rule no longer configured"


def test_a_failing_notifier_is_recorded_and_the_others_still_deliver(database: Database) -> None:
    with receiving(then=500) as receiver:
        config = _config(
            {**DOWN, "notify": ["hook", "log"]},
            notifiers={"hook": {"type": "webhook", "url": receiver.url, "secret": "s"}},
        )
        result = _round(database, config, 0, Measurement("catalog_up", None, 0))
    assert _states(database) == {"Down": "firing"}
    assert [(d.notifier, d.delivered) for d in result.deliveries] == [
        ("hook", False),
        ("log", True),
    ]
    with database.read() as connection:
        rows = connection.execute(
            select(alert_notifications.c.notifier, alert_notifications.c.error)
        ).all()
    errors = dict((notifier, error) for notifier, error in rows)
    assert errors["log"] is None
    assert errors["hook"].startswith("notifier hook: POST http://127.0.0.1:")
    assert errors["hook"].endswith("HTTP 500 Internal Server Error after 3 attempts")
    assert _audited(database)[0][3]["failed"] == ["hook"]
    assert _audited(database)[0][3]["delivered"] == ["log"]


def test_a_firing_notification_nobody_delivered_is_tried_again_on_the_next_round(
    database: Database,
) -> None:
    with receiving(then=503) as receiver:
        config = _config(
            {**DOWN, "notify": ["hook"]},
            notifiers={"hook": {"type": "webhook", "url": receiver.url}},
        )
        _round(database, config, 0, Measurement("catalog_up", None, 0))
        receiver.then = 200
        _round(database, config, 1, Measurement("catalog_up", None, 0))
        _round(database, config, 2, Measurement("catalog_up", None, 0))
    assert _sent(database) == [("Down", "firing", "hook", False), ("Down", "firing", "hook", True)]


@dataclass
class Gate:
    """A notifier that holds its sends until released, to keep an evaluation under way."""

    entered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    sent: list[Notification] = field(default_factory=list)
    name: str = "log"

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)
        self.entered.set()
        assert self.released.wait(10)


def test_two_evaluations_at_once_notify_once(database: Database) -> None:
    config = _config(DOWN)
    down = [Measurement("catalog_up", None, 0)]
    gate = Gate()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            evaluate, database, config, down, now=at(0), actor="a", notifiers={"log": gate}
        )
        assert gate.entered.wait(10)
        second = evaluate(database, config, down, now=at(0), actor="b", notifiers={"log": gate})
        gate.released.set()
        assert first.result(10).ran
    assert second == Evaluation(ran=False)
    assert len(gate.sent) == 1
    assert _sent(database) == [("Down", "firing", "log", True)]
    # One after the other, the second finds it notified within the cooldown.
    later = evaluate(database, config, down, now=at(1), actor="b", notifiers={"log": gate})
    assert later.ran and later.deliveries == ()


def test_current_alerts_lists_firing_first_then_pending_then_ok(database: Database) -> None:
    config = _config(LAG, SMALL, DOWN)
    _round(
        database,
        config,
        0,
        lag(400),
        Measurement("catalog_up", None, 1),
        Measurement("table_small_files", "raw.a", 150),
        Measurement("table_small_files", "raw.b", 10),
    )
    _round(database, config, 1, lag(400), Measurement("catalog_up", None, 0))
    with database.read() as connection:
        alerts = current_alerts(connection)
    assert [(a.key, a.state, a.severity) for a in alerts] == [
        ("Down", "firing", "critical"),
        ("SmallFiles/raw.a", "firing", "warning"),
        ("Lag", "pending", "warning"),
        ("SmallFiles/raw.b", "ok", "warning"),
    ]
    small = alerts[1]
    assert (small.subject, small.signal, small.threshold, small.value) == (
        "raw.a",
        "table_small_files",
        100,
        150,
    )
    assert small.summary == "table_small_files is 150, above 100 on raw.a"
    assert small.runbook == "docs/operations.md#smallfiles"


def test_an_alert_key_too_long_for_its_column_is_cut_and_stays_unique() -> None:
    assert alert_key("Lag", None) == "Lag"
    assert alert_key("Lag", "web/orders") == "Lag/web/orders"
    long_a, long_b = alert_key("R", "t" * 300 + "a"), alert_key("R", "t" * 300 + "b")
    assert len(long_a) == len(long_b) == MAX_KEY and long_a != long_b


def test_the_time_of_a_round_must_carry_its_zone(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(database, _config(DOWN), [], now=datetime(2026, 3, 1), actor="a")
