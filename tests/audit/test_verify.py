"""`verify_log` finds the first bad position for every kind of tampering, done directly in the
database by someone who switched the append-only triggers off.

Each test fills a log of ten entries, tampers with it, and checks the finding's kind and the
position of the first bad entry. Untouched logs verify.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from headwater import audit
from headwater.audit import Tamper
from headwater.db import Database
from tests.audit.tampering import (
    KEY,
    checkpoint,
    fill,
    insert,
    rehash,
    replace_row,
    row,
    shift,
    tampering,
)

SIZE = 10


def verified(database: Database, *copies: audit.AuditorCopy) -> audit.VerifyReport:
    with database.read() as connection:
        return audit.verify_log(connection, copies)


def finding(database: Database, *copies: audit.AuditorCopy) -> tuple[Tamper, int]:
    report = verified(database, *copies)
    assert report.finding is not None, "tampering went unnoticed"
    return report.finding.kind, report.finding.position


def test_an_untouched_log_verifies_with_its_checkpoints(database: Database) -> None:
    fill(database, 4)
    checkpoint(database)
    fill(database, SIZE - 4, start=5)
    checkpoint(database)
    report = verified(database)
    assert report.ok
    assert (report.entries, report.checkpoints_checked, report.latest_signed_size) == (
        SIZE,
        2,
        SIZE,
    )


def test_an_empty_log_verifies(database: Database) -> None:
    report = verified(database)
    assert report.ok
    assert report.entries == 0


def test_entries_after_the_latest_checkpoint_are_reported_unsigned(database: Database) -> None:
    fill(database, 3)
    checkpoint(database)
    fill(database, 2, start=4)
    report = verified(database)
    assert report.ok
    assert report.as_json()["unsignedEntries"] == 2
    assert "not yet signed" in report.notes[0]


def test_a_modified_entry(database: Database) -> None:
    fill(database, SIZE)
    with tampering(database) as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 4"))
    assert finding(database) == (Tamper.MODIFIED, 4)


def test_a_modified_entry_whose_hash_was_recomputed(database: Database) -> None:
    """The entry looks whole, but the next one still links to its original hash."""
    fill(database, SIZE)
    with tampering(database) as connection:
        original = row(connection, 4)
        forged = rehash(original, seq=4, prev_hash=original.prev_hash, details='{"n":0}')
        replace_row(connection, forged)
    assert finding(database) == (Tamper.MODIFIED, 4)


def test_a_deleted_entry(database: Database) -> None:
    fill(database, SIZE)
    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    assert finding(database) == (Tamper.MISSING, 6)


def test_a_deleted_entry_with_the_rest_renumbered(database: Database) -> None:
    fill(database, SIZE)
    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 6"))
        shift(connection, 7, -1)
    assert finding(database) == (Tamper.MISSING, 6)


def test_an_inserted_entry(database: Database) -> None:
    """A forged entry, correctly hashed and linked to its predecessor, pushed in at 5."""
    fill(database, SIZE)
    with tampering(database) as connection:
        before = row(connection, 4)
        shift(connection, 5, +1)
        insert(connection, rehash(before, seq=5, prev_hash=before.hash, details='{"n":99}'))
    assert finding(database) == (Tamper.INSERTED, 5)


def test_an_inserted_entry_with_a_made_up_hash(database: Database) -> None:
    fill(database, SIZE)
    with tampering(database) as connection:
        before = row(connection, 4)
        shift(connection, 5, +1)
        forged = rehash(before, seq=5, prev_hash=before.hash)
        insert(connection, {**forged, "hash": "ab" * 32})
    assert finding(database) == (Tamper.INSERTED, 5)


def test_reordered_entries(database: Database) -> None:
    fill(database, SIZE)
    with tampering(database) as connection:
        connection.execute(text("UPDATE audit_log SET seq = 1000 WHERE seq = 7"))
        connection.execute(text("UPDATE audit_log SET seq = 7 WHERE seq = 8"))
        connection.execute(text("UPDATE audit_log SET seq = 8 WHERE seq = 1000"))
    assert finding(database) == (Tamper.REORDERED, 7)


def test_a_truncated_tail(database: Database) -> None:
    """The chain alone cannot tell a short log from a cut one; the signed checkpoint can."""
    fill(database, SIZE)
    checkpoint(database)
    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq > 7"))
    kind, position = finding(database)
    assert (kind, position) == (Tamper.TRUNCATED, 8)


def test_a_truncated_tail_and_checkpoints_both_gone_is_caught_by_the_auditors_copy(
    database: Database, tmp_path: Path
) -> None:
    fill(database, SIZE)
    kept = tmp_path / "checkpoint.json"
    kept.write_text(json.dumps(checkpoint(database).as_json()))
    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq > 7"))
        connection.execute(text("DELETE FROM audit_checkpoints"))
    assert verified(database).ok  # what is left is a consistent, shorter log...
    copy = audit.read_auditor_copy(kept)
    assert finding(database, copy) == (Tamper.TRUNCATED, 8)  # ...which the auditor disproves


def rewrite_from(database: Database, first: int) -> None:
    """Rewrite entry ``first`` and re-hash every entry after it: a consistent, forged chain."""
    with tampering(database) as connection:
        prev_hash = row(connection, first - 1).hash
        for seq in range(first, SIZE + 1):
            original = row(connection, seq)
            details = '{"n":0,"soft":false}' if seq == first else None
            forged = rehash(original, seq=seq, prev_hash=prev_hash, details=details)
            replace_row(connection, forged)
            prev_hash = forged["hash"]


def test_a_checkpoint_the_log_does_not_extend(database: Database, tmp_path: Path) -> None:
    """The chain was rewritten from entry 4 on with every hash recomputed: it is internally
    consistent, but the signed checkpoint of 6 entries no longer matches. The checkpoint of
    2 entries still does, so the rewrite starts after entry 2."""
    fill(database, 2)
    checkpoint(database)
    fill(database, 4, start=3)
    kept = tmp_path / "checkpoint.json"
    kept.write_text(json.dumps(checkpoint(database).as_json()))
    fill(database, SIZE - 6, start=7)
    rewrite_from(database, 4)
    report = verified(database, audit.read_auditor_copy(kept))
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == (Tamper.NOT_EXTENDED, 3)
    assert "between 3 and 6" in report.finding.message


def test_an_auditors_export_pins_down_the_first_rewritten_entry(
    database: Database, tmp_path: Path
) -> None:
    fill(database, SIZE)
    made = checkpoint(database)
    export = tmp_path / "audit.jsonl"
    with database.read() as connection, export.open("wb") as out:
        audit.write_export(connection, made, out)
    rewrite_from(database, 4)
    assert finding(database, audit.read_auditor_copy(export)) == (Tamper.NOT_EXTENDED, 4)
    with tampering(database) as connection:
        connection.execute(text("DELETE FROM audit_checkpoints"))  # hide the evidence
    assert finding(database, audit.read_auditor_copy(export)) == (Tamper.NOT_EXTENDED, 4)


def test_a_forged_checkpoint_fails_its_signature(database: Database) -> None:
    fill(database, 3)
    checkpoint(database)
    with tampering(database) as connection:
        connection.execute(
            text("UPDATE audit_checkpoints SET time = '2020-01-01T00:00:00.000000Z'")
        )
    assert finding(database)[0] == Tamper.BAD_SIGNATURE


def test_a_checkpoint_signed_by_another_key_verifies_by_its_own_key(database: Database) -> None:
    """Key rotation: old checkpoints keep verifying with the key that signed them."""
    fill(database, 3)
    with database.write() as connection:
        audit.checkpoint_now(connection, audit.parse_seed(audit.generate_seed()))
    fill(database, 2, start=4)
    with database.write() as connection:
        latest = audit.checkpoint_now(connection, KEY)
    assert latest.key_id == KEY.key_id
    assert verified(database).ok
