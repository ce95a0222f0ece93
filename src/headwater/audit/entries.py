"""Audit entries: what a caller records, what is stored, and the bytes that are hashed.

An entry is ``{seq, time, actor, action, target, details, prev_hash, hash}``. Its hash is

    hash = SHA-256( canonical JSON of {action, actor, details, prev_hash, seq, target, time} )

where canonical JSON is UTF-8, keys sorted at every level, no whitespace, non-ASCII characters
not escaped (what ``orjson.dumps(..., option=OPT_SORT_KEYS)`` and Python's
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` both produce for the
strings, integers, booleans, lists and objects entries hold). ``prev_hash`` is the previous
entry's hash, 64 zeros for the first entry, so each hash covers the whole history before it.
``seq`` counts from 1 without gaps; ``time`` is ISO-8601 UTC with microseconds
(``2026-12-01T08:34:25.123456Z``), stored as that text so both backends give back the exact
bytes that were hashed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS_HASH = "0" * 64
ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_ACTOR = 256
MAX_TARGET = 4096


def utc_text(moment: datetime) -> str:
    """The fixed-width text form of a time in entries (sorts like the time itself)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class AuditRecord:
    """What a caller records: who did what to which target, and the facts worth keeping.

    ``action`` is dotted lower case (``lineage.event``, ``dataset.delete``, ``token.create``);
    ``target`` names the thing changed the way the lineage API names nodes
    (``dataset:<namespace>:<name>``, ``job:<namespace>:<name>``, ``run:<uuid>``,
    ``token:<name>``); ``refs`` are other targets the change concerns (the datasets a run read
    and wrote) so that their history finds it. ``details`` must never hold a secret.
    """

    action: str
    target: str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)
    refs: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not ACTION.match(self.action) or len(self.action) > 64:
            raise ValueError(f"audit action {self.action!r} is not dotted lower case")
        if not self.actor or len(self.actor) > MAX_ACTOR:
            raise ValueError(f"audit actor must be 1-{MAX_ACTOR} characters")
        if not self.target or len(self.target) > MAX_TARGET:
            raise ValueError(f"audit target must be 1-{MAX_TARGET} characters")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry; ``details`` is the canonical JSON text that was hashed."""

    seq: int
    time: str
    actor: str
    action: str
    target: str
    details: str
    prev_hash: str
    hash: str

    def content_hash(self) -> str:
        """The hash this entry's content and ``prev_hash`` call for."""
        return entry_hash(
            self.seq, self.time, self.actor, self.action, self.target, self.details, self.prev_hash
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": orjson.Fragment(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_hash(
    seq: int, time: str, actor: str, action: str, target: str, details: str, prev_hash: str
) -> str:
    """SHA-256 of the canonical JSON of an entry without its own hash (module docstring)."""
    document = {
        "action": action,
        "actor": actor,
        "details": orjson.Fragment(details),
        "prev_hash": prev_hash,
        "seq": seq,
        "target": target,
        "time": time,
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal(record: AuditRecord, seq: int, time: str, prev_hash: str) -> AuditEntry:
    """The entry ``record`` becomes at position ``seq`` after the entry hashed ``prev_hash``."""
    try:
        details = canonical_json(dict(record.details)).decode()
    except TypeError as exc:
        raise ValueError(f"audit details of {record.action} are not JSON: {exc}") from exc
    digest = entry_hash(seq, time, record.actor, record.action, record.target, details, prev_hash)
    return AuditEntry(
        seq, time, record.actor, record.action, record.target, details, prev_hash, digest
    )


def leaf_data(entry_hash_hex: str) -> bytes:
    """What an entry contributes to the Merkle tree: its 32-byte hash (RFC 6962 leaf input)."""
    return bytes.fromhex(entry_hash_hex)
