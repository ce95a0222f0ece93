"""Deliveries put straight into the inbox, for tests of what happens after receiving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from headwater import ingest
from headwater.db import Database
from headwater.ingest.inbox import store_one
from headwater.pipeline import load_project
from tests.ingest.projects import SECRETS_ENV, write_project


def web_sources(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ingest.WebhookSource]:
    for name, value in SECRETS_ENV.items():
        monkeypatch.setenv(name, value)
    return ingest.webhook_sources(load_project(write_project(root)))


def order(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "email": f"c{n}@example.com",
        "total": n / 4,
        "created_at": f"2026-12-01T10:{n % 60:02d}:00Z",
        "extra": {"kept": "in the payload"},
    }


def store(database: Database, numbers: range, *, topic: str = "orders") -> None:
    with database.write() as connection:
        for n in numbers:
            body = orjson.dumps(order(n))
            delivery = ingest.Delivery("web", topic, f"evt-{n}", None, datetime.now(UTC), body)
            store_one(connection, delivery)


class Killed(Exception):
    """Stands for the process dying at a fault point (the real kills are in test_exactly_once)."""


def killed_at(point: str) -> Callable[[str, str], None]:
    """A stand-in for `headwater.faults.fault_point` that raises `Killed` at ``point``."""

    def fault_point(reached: str, subject: str) -> None:
        if reached == point:
            raise Killed(f"{reached}@{subject}")

    return fault_point
