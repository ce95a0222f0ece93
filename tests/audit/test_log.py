"""The audit log: one chain of entries, appended in the caller's transaction, append-only."""

from __future__ import annotations

import itertools
import threading

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from headwater import audit
from headwater.audit.entries import GENESIS_HASH, entry_hash
from headwater.db import Database
from tests.audit.tampering import fill


def entries(database: Database) -> list[audit.AuditEntry]:
    with database.read() as connection:
        found, _ = audit.list_entries(connection, limit=10_000, newest_first=False)
    return found


def test_entries_form_a_chain_from_seq_1(database: Database) -> None:
    fill(database, 3)
    [first, second, third] = entries(database)
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    for entry in (first, second, third):
        assert entry.hash == entry.content_hash()
        assert len(entry.hash) == 64


def test_the_hash_is_sha256_of_the_canonical_json_of_the_entry_with_its_prev_hash(
    database: Database,
) -> None:
    """Anyone can recompute it with the standard library alone (docs/security.md)."""
    import hashlib
    import json

    [entry] = fill(database, 1)
    document = {
        "seq": entry.seq,
        "time": entry.time,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": json.loads(entry.details),
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == entry.hash


def test_an_entry_commits_and_rolls_back_with_the_change_it_records(database: Database) -> None:
    record = audit.AuditRecord("namespace.put", "namespace:shop", "token:ops")
    with pytest.raises(RuntimeError), database.write() as connection:
        audit.append(connection, record)
        raise RuntimeError("the change failed")
    assert entries(database) == []

    with database.write() as connection:
        [entry] = audit.append(connection, record)
    assert entries(database) == [entry]


def test_several_records_in_one_call_get_consecutive_entries(database: Database) -> None:
    records = [audit.AuditRecord("tag.put", f"tag:t{n}", "cli:root") for n in range(5)]
    with database.write() as connection:
        appended = audit.append(connection, *records)
    assert [e.seq for e in appended] == [1, 2, 3, 4, 5]
    assert entries(database) == appended


def test_details_are_stored_as_canonical_json(database: Database) -> None:
    record = audit.AuditRecord("config.change", "config:settings", "cli:root", {"b": 1, "a": [2]})
    with database.write() as connection:
        [entry] = audit.append(connection, record)
    assert entry.details == '{"a":[2],"b":1}'
    assert orjson.loads(entries(database)[0].details) == {"a": [2], "b": 1}


@pytest.mark.parametrize(
    ("action", "target", "actor"),
    [("Delete", "x:y", "a"), ("delete", "x:y", "a"), ("a.b", "", "a"), ("a.b", "x", "")],
)
def test_a_malformed_record_is_refused_before_anything_is_written(
    action: str, target: str, actor: str
) -> None:
    with pytest.raises(ValueError):
        audit.AuditRecord(action, target, actor)


def test_details_that_are_not_json_are_refused(database: Database) -> None:
    record = audit.AuditRecord("a.b", "x:y", "cli:root", {"when": object()})
    with pytest.raises(ValueError, match="not JSON"), database.write() as connection:
        audit.append(connection, record)
    assert entries(database) == []


def test_concurrent_writers_never_fork_the_chain(database: Database) -> None:
    """Four threads append at once; the chain stays one line without gaps."""
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            fill(database, 15, start=base)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(100 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    chain = entries(database)
    assert [e.seq for e in chain] == list(range(1, 61))
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
    with database.read() as connection:
        assert audit.verify_log(connection).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log WHERE seq = 1",
        "DELETE FROM audit_log",
        "UPDATE audit_refs SET ref_key = 0",
        "DELETE FROM audit_refs",
        "UPDATE audit_checkpoints SET root_hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_database_itself_refuses_to_change_or_delete_audit_rows(
    database: Database, statement: str
) -> None:
    fill(database, 2)
    with database.write() as connection:
        audit.checkpoint_now(connection, audit.parse_seed(audit.generate_seed()))
        connection.execute(text("INSERT INTO audit_refs (ref_key, seq) VALUES (42, 1)"))
    with pytest.raises(DBAPIError, match="append-only"), database.write() as connection:
        connection.exec_driver_sql(statement)
    with database.read() as connection:
        assert audit.verify_log(connection).ok
        assert audit.log_size(connection) == 2


def test_postgresql_refuses_truncate(pg_database: Database) -> None:
    fill(pg_database, 1)
    for table in ("audit_log", "audit_refs", "audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), pg_database.write() as connection:
            connection.exec_driver_sql(f"TRUNCATE {table}")
    with pg_database.read() as connection:
        assert audit.log_size(connection) == 1


@pytest.mark.parametrize(
    "field", ["seq", "time", "actor", "action", "target", "details", "prev_hash"]
)
def test_the_hash_changes_with_every_field(field: str) -> None:
    fields: dict[str, object] = {
        "seq": 1,
        "time": "2026-12-01T00:00:00.000000Z",
        "actor": "token:ops",
        "action": "dataset.delete",
        "target": "dataset:shop:orders",
        "details": "{}",
        "prev_hash": GENESIS_HASH,
    }
    changed = {**fields, field: 2 if field == "seq" else '{"x":1}' if field == "details" else "z"}
    assert entry_hash(**changed) != entry_hash(**fields)  # type: ignore[arg-type]


def test_an_action_names_its_family_and_pages_merge_the_family_newest_first(
    database: Database,
) -> None:
    """``dataset`` matches ``dataset.*``, not ``datasets.x``; a page of a family
    of several actions is the family's entries in order, whichever action each is."""
    names = ["dataset.delete", "dataset.tag", "datasets.other", "dataset.tag.add", "job.delete"]
    records = [
        audit.AuditRecord(names[n % len(names)], f"dataset:shop:t{n}", "token:ops", {"n": n})
        for n in range(40)
    ]
    with database.write() as connection:
        audit.append(connection, *records)
    family = [n + 1 for n in range(40) if names[n % len(names)].split(".")[0] == "dataset"]
    with database.read() as connection:
        assert audit.actions_in_family(connection, "dataset") == [
            "dataset.delete",
            "dataset.tag",
            "dataset.tag.add",
        ]
        assert audit.actions_in_family(connection, "dataset.tag") == [
            "dataset.tag",
            "dataset.tag.add",
        ]
        assert audit.actions_in_family(connection, "data") == []
        pages = [
            audit.list_entries(connection, action="dataset", limit=7, offset=offset)
            for offset in range(0, 28, 7)
        ]
        oldest, total = audit.list_entries(
            connection, action="dataset", limit=5, offset=3, newest_first=False
        )
        assert audit.list_entries(connection, action="nothing.such") == ([], 0)
        exact, exact_total = audit.list_entries(connection, action="dataset.tag.add", limit=100)
    assert all(total == len(family) for _, total in pages) and total == len(family) == 24
    assert [e.seq for page, _ in pages for e in page] == sorted(family, reverse=True)
    assert [e.seq for e in oldest] == family[3:8]
    assert exact_total == 8 and {e.action for e in exact} == {"dataset.tag.add"}
