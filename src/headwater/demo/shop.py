"""A seeded generator of a two-channel shop (web store and point of sale) for the shop demo.

``generate_batch(batch, orders=N)`` returns one delivery of the five raw tables of
``examples/shop``. Batch 0 is the initial load (30 days of orders ending 2026-11-01T00:00Z);
batch ``k`` is delivered ``k`` days later and holds that day's orders.

Every value is a pure function of ``(seed, batch, row index)`` computed with a 64-bit mixing
hash rather than a sequential random stream. That is what lets batch ``k`` re-deliver a range of
batch ``k - 1``'s events byte for byte (an at-least-once source replaying offsets) and refer to
earlier batches' customers without knowing how many orders those batches had.

The data is deliberately dirty, at the rates of ``DIRT_RATES``: duplicate deliveries, late
arrivals, malformed and inconsistently cased emails, phones in many formats, amounts as messy
strings, missing values and refunds for orders that do not exist.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa

__all__ = [
    "BATCH0_END",
    "DIRT_RATES",
    "MAX_BATCHES",
    "MAX_ORDERS",
    "RAW_SCHEMAS",
    "batch_window",
    "generate_batch",
]

_TS = pa.timestamp("us", tz="UTC")

# The POS system numbers its rows as it stores them: the column its database is pulled by.
# Batch k's rows are numbered from k * SEQUENCE_SPAN, in the order the generator makes them.
SEQUENCE = "seq"
SEQUENCE_SPAN = 100_000_000

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "raw.web_orders": pa.schema(
        [
            ("event_id", pa.string()),
            ("order_id", pa.string()),
            ("customer_id", pa.int64()),  # NULL for guest checkouts
            ("email", pa.string()),
            ("phone", pa.string()),
            ("amount", pa.string()),  # as typed into the checkout integration: "12,50", "$12.50"
            ("ordered_at", _TS),
            ("received_at", _TS),
        ]
    ),
    "raw.pos_orders": pa.schema(
        [
            (SEQUENCE, pa.int64()),
            ("event_id", pa.string()),
            ("order_id", pa.string()),
            ("store_id", pa.string()),
            ("customer_id", pa.string()),  # NULL for walk-ins
            ("phone", pa.string()),
            ("email", pa.string()),
            ("amount_cents", pa.int64()),
            ("ordered_at", _TS),
            ("received_at", _TS),
        ]
    ),
    "raw.web_customers": pa.schema(
        [
            ("event_id", pa.string()),
            ("customer_id", pa.int64()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("first_name", pa.string()),
            ("last_name", pa.string()),
            ("accepts_marketing", pa.bool_()),
            ("created_at", _TS),
            ("updated_at", _TS),
            ("received_at", _TS),
        ]
    ),
    "raw.pos_customers": pa.schema(
        [
            (SEQUENCE, pa.int64()),
            ("event_id", pa.string()),
            ("customer_id", pa.string()),
            ("name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("store_id", pa.string()),
            ("created_at", _TS),
            ("updated_at", _TS),
            ("received_at", _TS),
        ]
    ),
    "raw.payments_refunds": pa.schema(
        [
            ("event_id", pa.string()),
            ("refund_id", pa.string()),
            ("order_id", pa.string()),
            ("amount", pa.float64()),
            ("reason", pa.string()),
            ("refunded_at", _TS),
            ("received_at", _TS),
        ]
    ),
}

# The rates the generator aims at (the dirt, and a few shapes of the data); the tests measure
# them. Unless said otherwise a rate is a share of the rows of the table it concerns.
DIRT_RATES: dict[str, float] = {
    "web_share": 0.70,  # of customers, hence of orders
    "duplicate_in_batch": 0.02,  # rows of every table delivered twice within the batch
    "duplicate_next_batch": 0.01,  # of a batch's orders/customers: replayed from batch k - 1
    "late_arrival": 0.02,  # orders dated before the batch's window
    "guest_fresh": 0.03,  # orders by someone who never registers (unlinkable)
    "guest_known": 0.03,  # guest checkouts by a registered customer (linkable by email/phone)
    "missing_order_id": 0.005,
    "missing_ordered_at": 0.003,
    "amount_not_a_number": 0.02,  # of web orders: "n/a", "", "12.5.0", ...
    "amount_missing": 0.01,  # of web orders (NULL amount) and of POS orders (NULL cents)
    "web_email_missing": 0.01,  # of web customers
    "web_email_malformed": 0.03,  # of web customers: "bob@@example.com", "bobexample.com", ...
    "pos_email_missing": 0.40,  # of POS customers: many have only a phone
    "pos_email_malformed": 0.03,
    "pos_crossover": 0.30,  # of POS customers: the same person as an earlier web customer
    "phone_malformed": 0.02,  # of customers: a 7-digit local number
    "refund": 0.04,  # of orders
    "refund_unknown_order": 0.005,  # of orders: refunds for an order id that never existed
}

MAX_BATCHES = 200  # person numbers (hence unique phones) are laid out for this many batches
MAX_ORDERS = 20_000_000  # per batch, so a batch's row index fits the id layouts below

_US = 1_000_000
_MIN = 60 * _US
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
BATCH0_END = datetime(2026, 11, 1, tzinfo=UTC)
_BATCH0_END_US = int(BATCH0_END.timestamp()) * _US
_BATCH0_DAYS = 30
_TAIL = 3 * _HOUR  # orders stop this long before delivery so every derived time stays inside

_M64 = (1 << 64) - 1

# Hash domains: the kind sits in the key's top byte, so (kind, batch, index) never collide.
_K_ORDER = 1
_K_ORDER_TIME = 2
_K_ORDER_DIRT = 3
_K_CUSTOMER = 4
_K_CUSTOMER_DIRT = 5
_K_PERSON = 6
_K_UPDATE = 7
_K_REFUND = 8
_K_UNKNOWN_REFUND = 9
_K_DUPLICATE = 10
_K_REPLAY = 11
_K_ORDER_FORMAT = 12
_K_CUSTOMER_FORMAT = 13


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Olivia Liam Emma Noah Ava Elijah Sophia Lucas Mia Mateo Amelia Levi Harper Ezra Evelyn "
    "Asher Luna Leo Aria James Chloe Jack Nora Omar Zoe Ravi Ines Kenji Aisha Tomas Priya Ivan "
    "Grace Samuel Lena Diego Maya Felix Hana Arjun Clara Yusuf Elena Marco Sara Jonas Alice Bob"
)
_LAST = _words(
    "Smith Johnson Garcia Brown Jones Miller Davis Rodriguez Martinez Lopez Wilson Anderson "
    "Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Clark Lewis Robinson "
    "Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker "
    "Hall Rivera Campbell Mitchell Carter Roberts Kim Patel Novak"
)
# One dot in every domain: dropping the TLD then makes an address invalid ("bob@example").
_DOMAINS = ("example.com", "example.org", "example.net", "mail.test", "inbox.test")
_STORES = ("store-01", "store-02", "store-03", "store-04", "store-05", "store-06")
_GARBAGE_AMOUNTS = ("n/a", "N/A", "", "TBD", "12.5.0", "free", "--", "null")
_REFUND_REASONS = ("damaged", "wrong size", "not as described", "changed mind", "late delivery")


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a bijection on 64-bit ints, so distinct keys hash distinctly."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _p16(rate: float) -> int:
    """A threshold for comparing 16 hash bits against a probability."""
    return round(rate * 65536)


_WEB_16 = _p16(DIRT_RATES["web_share"])
_LATE_RATE = DIRT_RATES["late_arrival"]
_GUEST_FRESH_16 = _p16(DIRT_RATES["guest_fresh"])
_GUEST_16 = _p16(DIRT_RATES["guest_fresh"] + DIRT_RATES["guest_known"])
# Of the repeat orders that are not guest checkouts, the share by customers of earlier batches.
_EARLIER_SHARE = 0.35
_MISSING_ORDER_ID_16 = _p16(DIRT_RATES["missing_order_id"])
_MISSING_ORDERED_AT_16 = _p16(DIRT_RATES["missing_ordered_at"])
_MISSING_END_16 = _MISSING_ORDER_ID_16 + _MISSING_ORDERED_AT_16
_AMOUNT_MISSING_1024 = round(DIRT_RATES["amount_missing"] * 1024)
_REFUND_256 = round(DIRT_RATES["refund"] * 256)
_EARLIER_16 = 65536 - round(_EARLIER_SHARE * (65536 - _GUEST_16))
_DUPLICATE_16 = _p16(DIRT_RATES["duplicate_in_batch"])
_CROSSOVER_16 = _p16(DIRT_RATES["pos_crossover"])
_PHONE_MALFORMED_16 = _p16(DIRT_RATES["phone_malformed"])


def _window_us(batch: int) -> tuple[int, int]:
    end = _BATCH0_END_US + batch * _DAY
    start = end - (_BATCH0_DAYS * _DAY if batch == 0 else _DAY)
    return start, end


def batch_window(batch: int) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the order times of ``batch``; ``end`` is its delivery time."""
    start, end = _window_us(batch)
    return (
        datetime.fromtimestamp(start / _US, tz=UTC),
        datetime.fromtimestamp(end / _US, tz=UTC),
    )


@functools.cache
def _late_threshold(batch: int) -> int:
    """Late arrivals are drawn among the orders whose time is not tied to a customer created in
    the same batch (a repeat order cannot predate its customer); scale the draw so that the
    share over all orders is ``late_arrival``."""
    repeat = 0.75 * (1 - DIRT_RATES["guest_fresh"] - DIRT_RATES["guest_known"])
    eligible = 0.25 + 0.75 - repeat + (repeat * _EARLIER_SHARE if batch > 0 else 0.0)
    return _p16(min(1.0, _LATE_RATE / eligible))


class _Person(NamedTuple):
    first: str
    last: str
    email: str  # canonical: lower case, valid
    phone: str  # 10 digits


class _Customer(NamedTuple):
    event_id: str
    web: bool
    customer_id: int | str
    email: str | None  # as the source has it
    phone: str | None
    person: _Person
    flag: bool | None  # web: accepts_marketing
    store_id: str
    created_at: int
    received_at: int


def _email_variant(canonical: str, r: int) -> str:
    """The same address as people and integrations type it; normalises to ``canonical``."""
    r %= 100
    if r < 70:
        return canonical
    if r < 82:
        return canonical.title()
    if r < 90:
        return canonical.upper()
    return "  " + canonical.title() + " "


def _email_malformed(canonical: str, r: int) -> str:
    r %= 3
    if r == 0:
        return canonical.replace("@", "@@")
    if r == 1:
        return canonical.replace("@", "")
    return canonical.rsplit(".", 1)[0]  # "bob@example": no TLD


def _phone_format(digits: str, r: int) -> str:
    a, e, n = digits[:3], digits[3:6], digits[6:]
    r %= 6
    if r == 0:
        return f"+1 ({a}) {e}-{n}"
    if r == 1:
        return f"{a}.{e}.{n}"
    if r == 2:
        return digits
    if r == 3:
        return f"({a}) {e}-{n}"
    if r == 4:
        return f"+1{digits}"
    return f"{a}-{e}-{n}"


def _amount_string(cents: int, r: int) -> str | None:
    """A web amount as the storefront integration sends it; ~3 % cannot be used."""
    r %= 1000
    plain = f"{cents // 100}.{cents % 100:02d}"
    if r < 830:
        return plain
    if r < 870:
        return plain.replace(".", ",")  # a decimal comma from a European storefront
    if r < 920:
        return f"${cents / 100:,.2f}"  # currency sign, thousands separator above 999
    if r < 970:
        return " " + plain.rstrip("0").rstrip(".") + " "
    if r < 990:
        return _GARBAGE_AMOUNTS[r % len(_GARBAGE_AMOUNTS)]
    return None


class _Shop:
    """The pure functions of one seed, with a cache of the customers already computed."""

    def __init__(self, seed: int) -> None:
        self.salt = _mix((seed * 0x9E3779B97F4A7C15 + 0x5EED) & _M64)
        self._customers: dict[tuple[int, int], _Customer] = {}

    def _h(self, kind: int, batch: int, index: int) -> int:
        return _mix(self.salt ^ ((kind << 56) | (batch << 32) | index))

    # -- people and customers ---------------------------------------------------------------

    def person(self, number: int) -> _Person:
        h = _mix(self.salt ^ ((_K_PERSON << 56) | number))
        first = _FIRST[h % len(_FIRST)]
        last = _LAST[(h >> 8) % len(_LAST)]
        domain = _DOMAINS[(h >> 16) % len(_DOMAINS)]
        email = f"{first.lower()}.{last.lower()}.{number}@{domain}"
        # An odd multiplier not divisible by 5 is a bijection modulo 8e9: phones are unique.
        phone = str(2_000_000_000 + (number * 2_654_435_761 + 734_019_226) % 8_000_000_000)
        return _Person(first, last, email, phone)

    def _is_web(self, batch: int, c: int) -> bool:
        return (self._h(_K_CUSTOMER, batch, c) & 0xFFFF) < _WEB_16

    def customer(self, batch: int, c: int) -> _Customer:
        """Customer ``c`` of ``batch``: registered at that batch's order ``4 * c``."""
        cached = self._customers.get((batch, c))
        if cached is not None:
            return cached
        h = self._h(_K_CUSTOMER, batch, c)
        web = (h & 0xFFFF) < _WEB_16
        number = batch * 40_000_000 + c
        if not web and c > 0 and ((h >> 16) & 0xFFFF) < _CROSSOVER_16:
            # A web customer of this batch who later registers in a store: same person, the
            # email typed differently, the phone in another format.
            other = (h >> 32) % c
            for _ in range(16):
                if self._is_web(batch, other):
                    number = batch * 40_000_000 + other
                    break
                if other == 0:
                    break
                other -= 1
        person = self.person(number)
        d = self._h(_K_CUSTOMER_DIRT, batch, c)  # which dirt: time 0-8, email 9-24, phone 25-40
        f = self._h(_K_CUSTOMER_FORMAT, batch, c)  # how it is spelled
        ordered_at, received_at = self.order_times(batch, 4 * c, True, 0)
        created_at = ordered_at - _US * (1 + (d & 0x1FF))
        r_email = (d >> 9) & 0xFFFF
        r_phone = (d >> 25) & 0xFFFF
        email: str | None
        if web:
            customer_id: int | str = 7_000_000_000_000 + batch * 20_000_000 + c
            missing, malformed, has_phone = (
                DIRT_RATES["web_email_missing"],
                DIRT_RATES["web_email_malformed"],
                0.45,
            )
        else:
            customer_id = f"C{batch:03d}-{c:08d}"
            missing, malformed, has_phone = (
                DIRT_RATES["pos_email_missing"],
                DIRT_RATES["pos_email_malformed"],
                0.95,
            )
        if r_email < _p16(missing):
            email = None
        elif r_email < _p16(missing + malformed):
            email = _email_malformed(person.email, f & 0xFFFF)
        else:
            email = _email_variant(person.email, f & 0xFFFF)
        phone: str | None
        if r_phone < _PHONE_MALFORMED_16:
            phone = _phone_format(person.phone, 5)[4:]  # "010-1234": no area code
        elif r_phone < _p16(has_phone):
            phone = _phone_format(person.phone, (f >> 16) & 0xFF)
        else:
            phone = None
        flag = None if (f >> 24) & 0xF == 0 else (f >> 24) & 0xF < 7
        customer = _Customer(
            event_id=f"{h:016x}",
            web=web,
            customer_id=customer_id,
            email=email,
            phone=phone,
            person=person,
            flag=flag,
            store_id=_STORES[(f >> 28) % len(_STORES)],
            created_at=created_at,
            received_at=max(created_at, received_at - _US),
        )
        self._customers[(batch, c)] = customer
        return customer

    # -- orders -----------------------------------------------------------------------------

    def order_times(self, batch: int, i: int, eligible: bool, floor: int) -> tuple[int, int]:
        """``(ordered_at, received_at)`` of order ``i``; ``floor`` bounds ``ordered_at`` below
        (a repeat order comes after its customer registered)."""
        start, end = _window_us(batch)
        h = self._h(_K_ORDER_TIME, batch, i)
        if eligible and (h & 0xFFFF) < _late_threshold(batch):
            ordered_at = start - _DAY - (((h >> 16) & 0xFFFFFFFF) * 4 * _DAY >> 32)
            received_at = start + ((h >> 48) * (end - start - _TAIL) >> 16)
            return ordered_at, received_at
        ordered_at = start + (((h >> 16) * (end - start - _TAIL)) >> 48)
        if ordered_at < floor:
            ordered_at = floor + _MIN * (1 + ((h >> 4) & 0x3F) % 60)
        return ordered_at, ordered_at + 2 * _US + ((h >> 10) & 0x3F) * 14 * _US

    def orders(
        self,
        batch: int,
        indices: range,
        tables: dict[str, dict[str, list[Any]]],
        side_effects: bool,
    ) -> None:
        """Append orders ``indices`` of ``batch`` to the order tables; with ``side_effects`` also
        the refunds and the customer updates they cause."""
        web, pos = tables["raw.web_orders"], tables["raw.pos_orders"]
        web_customers, pos_customers = tables["raw.web_customers"], tables["raw.pos_customers"]
        refunds = tables["raw.payments_refunds"]
        h_of, customer, order_times, person = self._h, self.customer, self.order_times, self.person
        _, end = _window_us(batch)
        for i in indices:
            # Three hashes per order; each field reads its own bits of one of them.
            h = h_of(_K_ORDER, batch, i)  # role 0-15, pick 16-39, batch/channel 40-55, refund 56-63
            d = h_of(
                _K_ORDER_DIRT, batch, i
            )  # amount 0-23, missing 24-39, spelling 40-59, store 60-63
            e = h_of(_K_ORDER_FORMAT, batch, i)  # contact details
            role = h & 0xFFFF
            pick = (h >> 16) & 0xFFFFFF
            cust: _Customer | None = None
            guest: _Person | None = None
            update: _Customer | None = None
            floor = 0
            eligible = True
            if i % 4 == 0:
                cust = customer(batch, i // 4)
            elif role < _GUEST_FRESH_16:
                guest = person(batch * 40_000_000 + 20_000_000 + i)
            elif role < _GUEST_16:
                guest = customer(batch, pick % (i // 4 + 1)).person
            elif batch > 0 and role >= _EARLIER_16:
                cust = update = customer(((h >> 40) & 0xFFFF) % batch, pick % (i // 4 + 1))
            else:
                cust = customer(batch, pick % (i // 4 + 1))
                floor, eligible = cust.created_at, False
            ordered_at, received_at = order_times(batch, i, eligible, floor)
            is_web = cust.web if cust is not None else (h >> 40) & 0xFFFF < _WEB_16
            true_cents = 400 + int(30000 * ((d & 0xFFFF) / 65536.0) ** 2.6)
            if (d >> 16) & 0xFF == 0:
                true_cents += 100_000  # an occasional big basket: thousands separators
            true_order_id = f"{'W' if is_web else 'P'}{batch:04d}-{i:08d}"
            r_missing = (d >> 24) & 0xFFFF
            order_id = None if r_missing < _MISSING_ORDER_ID_16 else true_order_id
            ordered = None if _MISSING_ORDER_ID_16 <= r_missing < _MISSING_END_16 else ordered_at
            who = cust.person if cust is not None else guest
            assert who is not None
            if is_web:
                email: str | None
                if cust is not None and (e & 0xF) < 13 and cust.email is not None:
                    email = cust.email
                elif (e >> 4) & 0xFF == 0:
                    email = None
                else:
                    email = _email_variant(who.email, (e >> 12) & 0xFFFF)
                web["event_id"].append(f"{h:016x}")
                web["order_id"].append(order_id)
                web["customer_id"].append(cust.customer_id if cust is not None else None)
                web["email"].append(email)
                web["phone"].append(
                    _phone_format(who.phone, e >> 32) if (e >> 28) & 0xF < 5 else None
                )
                web["amount"].append(_amount_string(true_cents, (d >> 40) & 0x3FF))
                web["ordered_at"].append(ordered)
                web["received_at"].append(received_at)
            else:
                if cust is not None:
                    phone, email = cust.phone, None  # looked up by the loyalty account
                elif role >= _GUEST_FRESH_16:
                    # A registered customer at the till without their card: the cashier types a
                    # phone number, or an email for the e-receipt.
                    phone = _phone_format(who.phone, e >> 32) if (e >> 40) & 0xF < 13 else None
                    email = None if phone else _email_variant(who.email, (e >> 12) & 0xFFFF)
                else:
                    phone = _phone_format(who.phone, e >> 32) if (e >> 40) & 0xF < 5 else None
                    email = None
                pos["event_id"].append(f"{h:016x}")
                pos["order_id"].append(order_id)
                pos["store_id"].append(
                    cust.store_id if cust is not None else _STORES[(d >> 60) % len(_STORES)]
                )
                pos["customer_id"].append(cust.customer_id if cust is not None else None)
                pos["phone"].append(phone)
                pos["email"].append(email)
                pos["amount_cents"].append(
                    None if (d >> 50) & 0x3FF < _AMOUNT_MISSING_1024 else true_cents
                )
                pos["ordered_at"].append(ordered)
                pos["received_at"].append(received_at)
            if not side_effects:
                continue
            if update is not None:
                # Each order by an earlier batch's customer updates their record (as Shopify's
                # customers/update does). It also makes the customer exist when that earlier
                # batch was smaller than this one.
                _append_customer(
                    web_customers if update.web else pos_customers,
                    update,
                    f"{h_of(_K_UPDATE, batch, i):016x}",
                    updated_at=ordered_at,
                    received_at=received_at,
                )
            if (h >> 56) < _REFUND_256:
                r = h_of(_K_REFUND, batch, i)
                full = (r & 0xFF) < 154
                cents = true_cents if full else true_cents * (10 + (r >> 8) % 80) // 100
                # Up to three days later, but within this delivery: a refund is paid out no
                # earlier than an hour after the order and delivered with the batch.
                room = min(3 * _DAY, end - 2 * _HOUR - ordered_at)
                refunded_at = ordered_at + _HOUR + ((r >> 16) & 0xFFFF) * room // 65536
                refunds["event_id"].append(f"{r:016x}")
                refunds["refund_id"].append(f"R{batch:04d}-{i:08d}")
                # The true id even when the order event lost it: that refund's order is unknown.
                refunds["order_id"].append(true_order_id)
                refunds["amount"].append(cents / 100)
                refunds["reason"].append(_REFUND_REASONS[(r >> 32) % len(_REFUND_REASONS)])
                refunds["refunded_at"].append(refunded_at)
                refunds["received_at"].append(
                    max(refunded_at, received_at) + _US * (1 + (r >> 40) % 300)
                )

    def new_customers(
        self, batch: int, indices: range, tables: dict[str, dict[str, list[Any]]]
    ) -> None:
        for c in indices:
            cust = self.customer(batch, c)
            table = tables["raw.web_customers"] if cust.web else tables["raw.pos_customers"]
            _append_customer(
                table, cust, cust.event_id, updated_at=cust.created_at, received_at=cust.received_at
            )

    def unknown_refunds(
        self, batch: int, count: int, tables: dict[str, dict[str, list[Any]]]
    ) -> None:
        """Refunds of orders placed before the data starts: their order ids never exist."""
        start, end = _window_us(batch)
        refunds = tables["raw.payments_refunds"]
        for n in range(count):
            r = self._h(_K_UNKNOWN_REFUND, batch, n)
            prefix = "W" if (r & 0xFFFF) < _WEB_16 else "P"
            refunded_at = start + ((r >> 16) & 0xFFFFFFFF) * (end - start - _TAIL) // (1 << 32)
            refunds["event_id"].append(f"{r:016x}")
            refunds["refund_id"].append(f"R{batch:04d}-{90_000_000 + n:08d}")
            # 9-digit serials: real order ids of a batch have 8.
            refunds["order_id"].append(f"{prefix}{batch:04d}-{90_000_000 + n:08d}")
            refunds["amount"].append((400 + (r >> 48) % 20000) / 100)
            refunds["reason"].append(_REFUND_REASONS[(r >> 8) % len(_REFUND_REASONS)])
            refunds["refunded_at"].append(refunded_at)
            refunds["received_at"].append(refunded_at + _US * (1 + (r >> 20) % 300))

    # -- duplicate deliveries ---------------------------------------------------------------

    def duplicate_rows(self, batch: int, tables: dict[str, dict[str, list[Any]]]) -> None:
        """Deliver ``duplicate_in_batch`` of every table's rows a second time, a little later."""
        for number, columns in enumerate(tables.values()):
            chosen: list[tuple[int, int]] = []
            for row in range(len(columns["received_at"])):
                h = _mix(self.salt ^ ((_K_DUPLICATE << 56) | (number << 48) | (batch << 32) | row))
                if (h & 0xFFFF) < _DUPLICATE_16:
                    chosen.append((row, _US * (1 + (h >> 16) % 1800)))
            for field, values in columns.items():
                if field == "received_at":
                    values.extend(values[row] + delay for row, delay in chosen)
                else:
                    values.extend(values[row] for row, _ in chosen)

    def replay_previous(
        self, batch: int, orders: int, tables: dict[str, dict[str, list[Any]]]
    ) -> None:
        """Re-deliver a contiguous range of batch ``batch - 1``'s orders and new customers, as a
        source replaying offsets after a restart does: the same events, received again now."""
        start, _ = _window_us(batch)
        h = self._h(_K_REPLAY, batch, 0)
        rate = DIRT_RATES["duplicate_next_batch"]
        replay = _empty_tables()
        n = round(orders * rate)
        if n:
            first = (h & 0xFFFFFFFF) % (orders - n + 1)
            self.orders(batch - 1, range(first, first + n), replay, side_effects=False)
        customers = (orders + 3) // 4
        n = round(customers * rate)
        if n:
            first = (h >> 32) % (customers - n + 1)
            self.new_customers(batch - 1, range(first, first + n), replay)
        for name, columns in replay.items():
            received = columns["received_at"]
            for row in range(len(received)):
                # Within the first three hours of the new day: the replay follows a restart.
                received[row] = start + self._h(_K_REPLAY, batch, row + 1) % (3 * _HOUR)
            for field, values in columns.items():
                tables[name][field].extend(values)


def _empty_tables() -> dict[str, dict[str, list[Any]]]:
    """Every column but `SEQUENCE`, numbered once the batch is complete."""
    return {
        name: {field: [] for field in schema.names if field != SEQUENCE}
        for name, schema in RAW_SCHEMAS.items()
    }


def _append_customer(
    table: dict[str, list[Any]],
    cust: _Customer,
    event_id: str,
    *,
    updated_at: int,
    received_at: int,
) -> None:
    table["event_id"].append(event_id)
    table["customer_id"].append(cust.customer_id)
    table["email"].append(cust.email)
    table["phone"].append(cust.phone)
    if cust.web:
        table["first_name"].append(cust.person.first)
        table["last_name"].append(cust.person.last)
        table["accepts_marketing"].append(cust.flag)
    else:
        table["name"].append(f"{cust.person.first} {cust.person.last}")
        table["store_id"].append(cust.store_id)
    table["created_at"].append(cust.created_at)
    table["updated_at"].append(updated_at)
    table["received_at"].append(received_at)


def generate_batch(batch: int, *, orders: int, seed: int = 7) -> dict[str, pa.Table]:
    """Delivery ``batch`` of the shop: ``orders`` new orders across web and POS, the customers
    and refunds they bring, and the dirt of ``DIRT_RATES``. Keys are ``raw.<table>``.

    Deterministic in ``(batch, orders, seed)``; ids of different batches never collide except
    for the deliberate re-deliveries of batch ``batch - 1``'s events. Those assume the previous
    batch had at least as many orders as this one (otherwise a few replayed events are new).
    """
    if not 0 <= batch < MAX_BATCHES:
        raise ValueError(f"batch must be in [0, {MAX_BATCHES}), not {batch}")
    if not 0 <= orders <= MAX_ORDERS:
        raise ValueError(f"orders must be in [0, {MAX_ORDERS}], not {orders}")
    shop = _Shop(seed)
    tables = _empty_tables()
    shop.new_customers(batch, range((orders + 3) // 4), tables)
    shop.orders(batch, range(orders), tables, side_effects=True)
    shop.unknown_refunds(batch, round(orders * DIRT_RATES["refund_unknown_order"]), tables)
    shop.duplicate_rows(batch, tables)
    if batch > 0:
        shop.replay_previous(batch, orders, tables)
    for name, schema in RAW_SCHEMAS.items():
        if SEQUENCE in schema.names:
            rows = len(tables[name]["event_id"])
            tables[name][SEQUENCE] = list(
                range(batch * SEQUENCE_SPAN, batch * SEQUENCE_SPAN + rows)
            )
    return {
        name: pa.Table.from_pydict(tables[name], schema=schema)
        for name, schema in RAW_SCHEMAS.items()
    }
