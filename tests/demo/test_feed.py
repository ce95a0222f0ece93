"""The demo's feed: what it needs is set for a newcomer, and a state it cannot go on from is
named, not fed twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headwater import ingest
from headwater.config import Settings
from headwater.db import Database
from headwater.demo.feed import DEMO_SECRETS, POS_URL_ENV, deliveries, demo_environment
from headwater.demo.run import DemoStateError, deliver, run_demo
from headwater.demo.shop import generate_batch
from headwater.lake import Lake
from headwater.pipeline import ensure_sources, load_project

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def test_the_environment_gets_demo_values_only_where_nothing_is_set(tmp_path: Path) -> None:
    environ = {"SHOP_WEB_WEBHOOK_SECRET": "mine"}
    demo_environment(tmp_path, environ)
    assert environ["SHOP_WEB_WEBHOOK_SECRET"] == "mine"
    assert environ["SHOP_PAYMENTS_WEBHOOK_SECRET"] == DEMO_SECRETS["SHOP_PAYMENTS_WEBHOOK_SECRET"]
    assert environ[POS_URL_ENV] == f"sqlite:///{tmp_path / 'shop-pos.db'}"


def test_raw_tables_written_directly_by_an_older_demo_are_named_not_fed_again(
    database: Database, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POS_URL_ENV, f"sqlite:///{tmp_path / 'shop-pos.db'}")
    project = load_project(SHOP)
    ensure_sources(project, lake)
    deliver(lake, 0, orders=200)
    settings = Settings(home=tmp_path)
    with pytest.raises(DemoStateError, match=f"remove the demo's folder \\({tmp_path}\\)"):
        run_demo(project, database, lake, settings, orders=200, actor="t")


def test_each_delivery_is_signed_when_it_is_posted_not_when_the_day_is_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stripe signatures expire after 300 s; a large day takes longer than that to post.
    monkeypatch.setenv("SHOP_WEB_WEBHOOK_SECRET", "w")
    monkeypatch.setenv("SHOP_PAYMENTS_WEBHOOK_SECRET", "p")
    sources = ingest.webhook_sources(load_project(SHOP))
    data = generate_batch(0, orders=100)
    refund = next(d for d in deliveries(sources, data) if d.source.scheme == "stripe")
    monkeypatch.setattr(time, "time", lambda: 1_900_000_000.0)
    assert refund.signed()["Stripe-Signature"].startswith("t=1900000000,v1=")
