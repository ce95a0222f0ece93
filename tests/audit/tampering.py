"""Filling an audit log, and tampering with it directly in the database, as an attacker with
database access would: with the append-only triggers switched off first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from headwater import audit
from headwater.audit.entries import entry_hash
from headwater.db import Database

APPEND_ONLY = ("audit_log", "audit_refs", "audit_checkpoints")
KEY = audit.parse_seed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")


def fill(database: Database, count: int, *, start: int = 1) -> list[audit.AuditEntry]:
    """Append ``count`` distinct entries, one transaction each."""
    entries = []
    for n in range(start, start + count):
        record = audit.AuditRecord(
            "dataset.delete", f"dataset:shop:table_{n}", "token:ops", {"n": n, "soft": True}
        )
        with database.write() as connection:
            entries.extend(audit.append(connection, record))
    return entries


def checkpoint(database: Database) -> audit.Checkpoint:
    with database.write() as connection:
        return audit.checkpoint_now(connection, KEY)


@contextmanager
def tampering(database: Database) -> Iterator[Connection]:
    """A transaction in which the audit tables can be changed (triggers off, back on after)."""
    with database.write() as connection:
        if database.backend == "postgresql":
            for table in APPEND_ONLY:
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for table in APPEND_ONLY:
                for operation in ("update", "delete"):
                    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
        yield connection
        if database.backend == "postgresql":
            for table in APPEND_ONLY:
                connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def row(connection: Connection, seq: int) -> Any:
    return connection.execute(text("SELECT * FROM audit_log WHERE seq = :seq"), {"seq": seq}).one()


def rehash(row: Any, *, seq: int, prev_hash: str, details: str | None = None) -> dict[str, Any]:
    """The column values of ``row`` moved to ``seq`` after ``prev_hash``, hashed correctly."""
    values = {
        "seq": seq,
        "time": row.time,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "details": row.details if details is None else details,
        "prev_hash": prev_hash,
    }
    values["hash"] = entry_hash(
        seq,
        values["time"],
        values["actor"],
        values["action"],
        values["target"],
        values["details"],
        prev_hash,
    )
    return values


def shift(connection: Connection, first: int, by: int) -> None:
    """Renumber entries ``first``.. by ``by`` (from the far end, so keys never collide)."""
    order = "DESC" if by > 0 else "ASC"
    seqs = connection.execute(
        text(f"SELECT seq FROM audit_log WHERE seq >= :first ORDER BY seq {order}"),
        {"first": first},
    ).scalars()
    for seq in list(seqs):
        connection.execute(
            text("UPDATE audit_log SET seq = :new WHERE seq = :old"), {"new": seq + by, "old": seq}
        )


def insert(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(
        text(
            "INSERT INTO audit_log (seq, time, actor, action, target, details, prev_hash, hash) "
            "VALUES (:seq, :time, :actor, :action, :target, :details, :prev_hash, :hash)"
        ),
        values,
    )


def replace_row(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": values["seq"]})
    insert(connection, values)
