"""The shop generator: deterministic, collision-free across batches, dirty at the stated rates."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.demo.shop import (
    BATCH0_END,
    DIRT_RATES,
    RAW_SCHEMAS,
    SEQUENCE,
    SEQUENCE_SPAN,
    batch_window,
    generate_batch,
)

ORDERS = 20_000
EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
NUMBER = re.compile(r"\$?([0-9]+(\.[0-9]+)?|[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?|[0-9]+,[0-9]{1,2})")


@cache
def batch(number: int, orders: int = ORDERS, seed: int = 7) -> dict[str, pa.Table]:
    return generate_batch(number, orders=orders, seed=seed)


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()  # type: ignore[no-any-return]


def orders_of(tables: dict[str, pa.Table]) -> list[dict[str, Any]]:
    return rows(tables["raw.web_orders"]) + rows(tables["raw.pos_orders"])


def first_deliveries(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r["received_at"]):
        seen.setdefault(record["event_id"], record)
    return list(seen.values())


def close(measured: float, rate: float, tolerance: float = 0.35) -> bool:
    return abs(measured - rate) <= rate * tolerance


def test_schemas_are_the_declared_ones_and_all_nullable() -> None:
    tables = batch(0)
    assert tables.keys() == RAW_SCHEMAS.keys()
    for name, table in tables.items():
        assert table.schema.equals(RAW_SCHEMAS[name]), name
        assert all(field.nullable for field in table.schema)
        assert "event_id" in table.schema.names and "received_at" in table.schema.names
    allowed = {pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.timestamp("us", tz="UTC")}
    assert {f.type for s in RAW_SCHEMAS.values() for f in s} == allowed


def test_deterministic_for_a_seed() -> None:
    again = generate_batch(0, orders=ORDERS, seed=7)
    assert all(again[name].equals(table) for name, table in batch(0).items())
    other = generate_batch(0, orders=ORDERS, seed=8)
    assert not other["raw.web_orders"].equals(batch(0)["raw.web_orders"])


def test_sizes_and_the_channel_split() -> None:
    tables = batch(0)
    events = {r["event_id"] for r in orders_of(tables)}
    assert len(events) == ORDERS
    web = pc.count_distinct(tables["raw.web_orders"]["event_id"]).as_py()
    assert close(web / ORDERS, DIRT_RATES["web_share"], 0.05)
    customers = pc.count_distinct(tables["raw.web_customers"]["customer_id"]).as_py() + (
        pc.count_distinct(tables["raw.pos_customers"]["customer_id"]).as_py()
    )
    assert customers == ORDERS // 4  # one new customer per four orders in batch 0
    assert generate_batch(0, orders=0)["raw.web_orders"].num_rows == 0


def test_batches_do_not_collide_except_for_the_replayed_events() -> None:
    ids: list[dict[str, set[Any]]] = []
    for number in range(3):
        tables = batch(number)
        ids.append(
            {
                "events": {e for t in tables.values() for e in t["event_id"].to_pylist()},
                "orders": {r["order_id"] for r in orders_of(tables)} - {None},
                "customers": set(tables["raw.web_customers"]["customer_id"].to_pylist())
                | set(tables["raw.pos_customers"]["customer_id"].to_pylist()),
                "refunds": set(tables["raw.payments_refunds"]["refund_id"].to_pylist()),
            }
        )
    replay_size = round(ORDERS * DIRT_RATES["duplicate_next_batch"]) + round(
        ORDERS // 4 * DIRT_RATES["duplicate_next_batch"]
    )
    for later in (1, 2):
        # Exactly the replayed orders and customer creations are shared with the batch before.
        assert len(ids[later]["events"] & ids[later - 1]["events"]) == replay_size
        assert not ids[later]["refunds"] & ids[later - 1]["refunds"]
        prefixes = {o[1:5] for o in ids[later]["orders"]}
        assert prefixes == {f"{later:04d}", f"{later - 1:04d}"}
    assert not ids[2]["events"] & ids[0]["events"]  # a replay reaches back one batch only
    # Later batches bring returning customers from earlier batches, as updates.
    assert ids[1]["customers"] & ids[0]["customers"]


# What differs between two deliveries of one event: when it arrived and, at the point of sale,
# the row number the POS database gave each.
RECEIPT = {"received_at": None, "seq": None}


def test_a_replayed_event_is_the_same_payload_received_again() -> None:
    earlier = {r["event_id"]: r for r in orders_of(batch(0))}
    later = [r for r in orders_of(batch(1)) if r["event_id"] in earlier]
    assert later
    start, _ = batch_window(1)
    for record in later:
        original = earlier[record["event_id"]]
        assert {**record, **RECEIPT} == {**original, **RECEIPT}
        assert record["received_at"] >= start > original["received_at"]


def test_duplicate_deliveries_within_a_batch() -> None:
    for name, table in batch(0).items():
        events = table["event_id"].to_pylist()
        counts = Counter(events)
        duplicated = sum(n - 1 for n in counts.values())
        assert close(duplicated / len(counts), DIRT_RATES["duplicate_in_batch"], 0.5), name
        by_event: dict[str, list[dict[str, Any]]] = {}
        for record in rows(table):
            by_event.setdefault(record["event_id"], []).append(record)
        for deliveries in by_event.values():
            if len(deliveries) > 1:
                a, b = deliveries[:2]
                assert a["received_at"] != b["received_at"]
                assert {**a, **RECEIPT} == {**b, **RECEIPT}


def test_late_arrivals() -> None:
    for number in (0, 1):
        start, end = batch_window(number)
        replayed = {r["event_id"] for r in orders_of(batch(number - 1))} if number else set()
        orders = [
            r
            for r in first_deliveries(orders_of(batch(number)))
            if r["event_id"] not in replayed and r["ordered_at"] is not None
        ]
        late = [r for r in orders if r["ordered_at"] < start]
        assert close(len(late) / len(orders), DIRT_RATES["late_arrival"])
        assert all(start - timedelta(days=6) < r["ordered_at"] for r in late)
        assert all(r["ordered_at"] < r["received_at"] < end for r in orders)
        assert all(start <= r["received_at"] for r in late)
    assert batch_window(0) == (BATCH0_END - timedelta(days=30), BATCH0_END)
    assert batch_window(2) == (BATCH0_END + timedelta(days=1), BATCH0_END + timedelta(days=2))


def test_amounts_as_messy_strings() -> None:
    web = first_deliveries(rows(batch(0)["raw.web_orders"]))
    amounts = [r["amount"] for r in web]
    garbage = [a for a in amounts if a is not None and not NUMBER.fullmatch(a.strip())]
    assert close(len(garbage) / len(web), DIRT_RATES["amount_not_a_number"])
    assert {"n/a", ""} <= set(garbage)
    assert close(amounts.count(None) / len(web), DIRT_RATES["amount_missing"], 0.5)
    kinds = Counter(re.sub("[0-9]+", "9", a) for a in amounts if a and a not in garbage)
    assert {"9.9", "9,9", "$9.9", " 9.9 "} <= kinds.keys()
    assert kinds["9.9"] / len(web) > 0.75  # most are clean
    pos = first_deliveries(rows(batch(0)["raw.pos_orders"]))
    cents = [r["amount_cents"] for r in pos]
    assert close(cents.count(None) / len(pos), DIRT_RATES["amount_missing"], 0.5)
    assert all(c > 0 for c in cents if c is not None)


def test_missing_ids_and_times() -> None:
    orders = first_deliveries(orders_of(batch(0)))
    missing_id = sum(r["order_id"] is None for r in orders) / len(orders)
    missing_time = sum(r["ordered_at"] is None for r in orders) / len(orders)
    assert close(missing_id, DIRT_RATES["missing_order_id"], 0.5)
    assert close(missing_time, DIRT_RATES["missing_ordered_at"], 0.6)


def latest_customers(table: pa.Table) -> dict[Any, dict[str, Any]]:
    return {r["customer_id"]: r for r in sorted(rows(table), key=lambda r: r["updated_at"])}


def test_emails_and_phones_are_messy() -> None:
    web = latest_customers(batch(0)["raw.web_customers"])
    emails = [r["email"] for r in web.values()]
    invalid = [e for e in emails if e is not None and not EMAIL.fullmatch(e.strip().lower())]
    assert close(len(invalid) / len(web), DIRT_RATES["web_email_malformed"])
    assert any("@@" in e for e in invalid) and any("@" not in e for e in invalid)
    assert any(re.fullmatch(r"[^@]+@[^.]+", e) for e in invalid)  # no TLD: "bob@example"
    assert close(emails.count(None) / len(web), DIRT_RATES["web_email_missing"], 0.5)
    messy = [e for e in emails if e and e not in invalid and e != e.strip().lower()]
    assert any(e != e.strip() for e in messy) and any(e == e.upper() for e in messy)

    pos = latest_customers(batch(0)["raw.pos_customers"])
    phone_only = [r for r in pos.values() if r["email"] is None and r["phone"] is not None]
    assert len(phone_only) / len(pos) > 0.3
    phones = [r["phone"] for r in [*web.values(), *pos.values()] if r["phone"]]
    shapes = {re.sub("[0-9]", "9", p) for p in phones}
    assert {"+9 (999) 999-9999", "999.999.9999", "9999999999", "999-9999"} <= shapes
    short = sum(len(re.sub("[^0-9]", "", p)) < 10 for p in phones)
    assert close(short / (len(web) + len(pos)), DIRT_RATES["phone_malformed"], 0.5)


def test_the_same_person_appears_in_both_sources_typed_differently() -> None:
    web = latest_customers(batch(0)["raw.web_customers"])
    pos = latest_customers(batch(0)["raw.pos_customers"])

    def key(email: str | None) -> str | None:
        return email.strip().lower() if email else None

    web_emails = {key(r["email"]): r["email"] for r in web.values() if r["email"]}
    shared = [r for r in pos.values() if key(r["email"]) in web_emails]
    assert len(shared) / len(pos) > 0.1
    assert any(r["email"] != web_emails[key(r["email"])] for r in shared)
    digits = {re.sub("[^0-9]", "", r["phone"])[-10:] for r in web.values() if r["phone"]}
    assert any(re.sub("[^0-9]", "", r["phone"])[-10:] in digits for r in pos.values() if r["phone"])


def test_refunds_including_unknown_orders() -> None:
    tables = batch(0)
    refunds = first_deliveries(rows(tables["raw.payments_refunds"]))
    orders = {r["order_id"]: r for r in orders_of(tables) if r["order_id"]}
    unknown = [r for r in refunds if r["order_id"] not in orders]
    assert close(len(refunds) / ORDERS, DIRT_RATES["refund"] + DIRT_RATES["refund_unknown_order"])
    never = [r for r in unknown if r["order_id"][6:7] == "9"]  # 9-digit serial: never issued
    assert close(len(never) / ORDERS, DIRT_RATES["refund_unknown_order"], 0.5)
    for refund in refunds:
        order = orders.get(refund["order_id"])
        assert refund["amount"] > 0
        if order is not None and order["ordered_at"] is not None:
            assert refund["refunded_at"] >= order["ordered_at"]
            if "amount_cents" in order and order["amount_cents"] is not None:
                assert refund["amount"] <= order["amount_cents"] / 100


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="orders"):
        generate_batch(0, orders=-1)
    with pytest.raises(ValueError, match="batch"):
        generate_batch(-1, orders=10)


def test_the_point_of_sale_numbers_its_rows_per_batch_for_its_database_to_be_pulled_by() -> None:
    for number in (0, 1):
        for name in ("raw.pos_orders", "raw.pos_customers"):
            seq = batch(number)[name][SEQUENCE].to_pylist()
            assert seq == list(range(number * SEQUENCE_SPAN, number * SEQUENCE_SPAN + len(seq)))
    assert SEQUENCE not in RAW_SCHEMAS["raw.web_orders"].names  # webhooks have event ids
