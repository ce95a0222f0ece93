"""Appending to the audit log, inside the caller's transaction, and reading it back.

`append` is the one function every package calls to record a state change. It runs on the
caller's connection, so the entry commits or rolls back with the change it records. Entries
must form one chain, so appends are serialised: on SQLite every write transaction already
holds the database's write lock (``BEGIN IMMEDIATE``); on PostgreSQL `append` takes a
transaction-scoped advisory lock before it reads the head, held until the caller commits.
Callers append last in their transaction, so the lock is held for the commit only, and since
nothing waits for a row lock after taking it, it cannot close a deadlock cycle.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Select, func, select, text, union, union_all

from headwater.audit.entries import GENESIS_HASH, AuditEntry, AuditRecord, seal, utc_text
from headwater.db.schema import audit_log, audit_refs

if TYPE_CHECKING:
    import psycopg

# Any constant works; this one spells "hwaudit" so that it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x6877_6175_6469_74
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
ENTRY_NAMES = ("seq", "time", "actor", "action", "target", "details", "prev_hash", "hash")
_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.time,
    audit_log.c.actor,
    audit_log.c.action,
    audit_log.c.target,
    audit_log.c.details,
    audit_log.c.prev_hash,
    audit_log.c.hash,
)


def append(connection: Connection, *records: AuditRecord) -> list[AuditEntry]:
    """Append ``records`` to the log in order, in the caller's transaction; returns the entries."""
    if not records:
        return []
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    head = connection.execute(_HEAD).first()
    seq, prev_hash = (int(head.seq), str(head.hash)) if head else (0, GENESIS_HASH)
    # Taken after the lock, so times never go backwards along the chain.
    now = utc_text(datetime.now(UTC))
    entries: list[AuditEntry] = []
    refs: list[tuple[int, int]] = []
    for record in records:
        seq += 1
        entry = seal(record, seq, now, prev_hash)
        entries.append(entry)
        prev_hash = entry.hash
        refs.extend((key, seq) for key in {ref_key(ref) for ref in record.refs})
    rows = [
        (e.seq, e.time, e.actor, e.action, e.target, e.details, e.prev_hash, e.hash)
        for e in entries
    ]
    _insert_rows(connection, "audit_log", ENTRY_NAMES, rows)
    if refs:
        _insert_rows(connection, "audit_refs", ("ref_key", "seq"), refs)
    return entries


@functools.lru_cache(maxsize=65_536)  # a job writes the same datasets run after run
def ref_key(ref: str) -> int:
    """The index key of a target: its SHA-256's first 8 bytes as a signed 64-bit integer.

    Two given targets share a key with a chance of 2^-64, and making up a name that shares a
    given target's key takes about 2^64 hashes; either way the cost would be one foreign entry
    in that target's history or filtered list, never a changed entry.
    """
    return int.from_bytes(hashlib.sha256(ref.encode()).digest()[:8], "big", signed=True)


def _insert_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` through the driver: an append is on the hot path of every lineage write,
    where SQLAlchemy's per-row work and, on PostgreSQL, a statement per row cost more than the
    rows themselves (docs/benchmarks.md). PostgreSQL gets them by COPY, in the caller's
    transaction."""
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        raw = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        int(row.seq),
        row.time,
        row.actor,
        row.action,
        row.target,
        row.details,
        row.prev_hash,
        row.hash,
    )


def log_size(connection: Connection) -> int:
    """The number of entries (the highest ``seq``; verification checks there are no gaps)."""
    return int(connection.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one())


def iter_entries(connection: Connection, *, batch: int = 10_000) -> Iterator[AuditEntry]:
    """Every entry in ``seq`` order, fetched in batches by key (no long-lived cursor)."""
    after = 0
    query = select(*_COLUMNS).order_by(audit_log.c.seq).limit(batch)
    while True:
        rows = connection.execute(query.where(audit_log.c.seq > after)).all()
        for row in rows:
            yield _entry(row)
        if len(rows) < batch:
            return
        after = int(rows[-1].seq)


def entry_hashes(connection: Connection, size: int | None = None) -> list[str]:
    """The hashes of the first ``size`` entries (all by default), in ``seq`` order."""
    query = select(audit_log.c.hash).order_by(audit_log.c.seq)
    if size is not None:
        query = query.where(audit_log.c.seq <= size)
    return list(connection.execute(query).scalars())


def get_entry(connection: Connection, seq: int) -> AuditEntry | None:
    row = connection.execute(select(*_COLUMNS).where(audit_log.c.seq == seq)).first()
    return None if row is None else _entry(row)


def actions_in_family(connection: Connection, family: str) -> list[str]:
    """The actions in the log that ``family`` names: itself and ``family.*`` (``lineage``
    matches ``lineage.event``; actions are dotted families).

    Read as a loose index scan: one seek of the action index per distinct action in the log
    (a few dozen at most), since a prefix match (``LIKE 'x.%'``) can use that index on neither
    backend (SQLite's LIKE ignores case; PostgreSQL's needs the C collation) and so read every
    entry."""
    found: list[str] = []
    after: str | None = None
    while True:
        step = select(func.min(audit_log.c.action))
        if after is not None:
            step = step.where(audit_log.c.action > after)
        after = connection.execute(step).scalar()
        if after is None:
            return found
        if after == family or after.startswith(f"{family}."):
            found.append(after)


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    target: str | None = None
    after: datetime | None = None
    before: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor is not None:
            query = query.where(audit_log.c.actor == self.actor)
        if self.target is not None:
            # A UNION, not ``target = X OR seq IN (refs)``: each half is one index lookup,
            # where an OR can make a backend read the whole log.
            matching = union(
                select(audit_log.c.seq).where(audit_log.c.target == self.target),
                select(audit_refs.c.seq).where(audit_refs.c.ref_key == ref_key(self.target)),
            )
            query = query.where(audit_log.c.seq.in_(matching))
        if self.after is not None:
            query = query.where(audit_log.c.time > utc_text(self.after))
        if self.before is not None:
            query = query.where(audit_log.c.time < utc_text(self.before))
        return query


def list_entries(
    connection: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> tuple[list[AuditEntry], int]:
    """A page of entries matching the filters, and how many match in all; ``action`` names a
    family (`actions_in_family`)."""
    filters = Filters(actor, target, after, before)
    order = audit_log.c.seq.desc() if newest_first else audit_log.c.seq
    page = filters.apply(select(*_COLUMNS))
    if action is None:
        counted = filters.apply(select(func.count()).select_from(audit_log))
    else:
        actions = actions_in_family(connection, action)
        if not actions:
            return [], 0
        # One branch per action, each the newest (or oldest) of that action alone, read
        # backwards along the (action, seq) index: the page is the best of their merge. A
        # plain ``action IN (...)`` leaves the planner to choose between walking the whole log
        # for a rare action and sorting every entry of a common one.
        branches = [
            filters.apply(select(audit_log.c.seq).where(audit_log.c.action == name))
            .order_by(order)
            .limit(offset + limit)
            .subquery()
            for name in actions
        ]
        merged = union_all(*(select(b.c.seq) for b in branches)).subquery()
        page = select(*_COLUMNS).where(audit_log.c.seq.in_(select(merged.c.seq)))
        counted = filters.apply(
            select(func.count()).select_from(audit_log).where(audit_log.c.action.in_(actions))
        )
    page = page.order_by(order).limit(limit).offset(offset)
    entries = [_entry(row) for row in connection.execute(page)]
    return entries, int(connection.execute(counted).scalar_one())
