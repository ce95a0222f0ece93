"""Proving the audit log intact, or finding the first position where it was tampered with.

Two independent checks:

1. **The chain**, entry by entry in ``seq`` order: ``seq`` has no gap, each entry's content
   hashes to its ``hash``, and each ``prev_hash`` is the previous entry's hash. Where a check
   fails, the neighbours tell what happened: an entry whose successor links past it was
   inserted; an entry that links to its successor was swapped with it; an entry whose content
   hashes correctly under the next ``seq`` was moved down after a deletion.
2. **Checkpoints**, the log's own and any an outside auditor kept: each signature must verify,
   the log must be at least as long as each checkpoint (else its tail was cut), and the Merkle
   root of the first ``tree size`` entries must equal the signed root, proved by an RFC 6962
   consistency proof from the checkpoint to the current tree. A chain rewritten consistently
   from some entry on (every hash recomputed) passes check 1 and fails this one.

An attacker who can write the database can still append forged entries after the latest
checkpoint: entries past it are reported as not yet signed. Checkpoint often (the server makes
one whenever ``GET /api/v1/audit/checkpoint`` is asked and the log has grown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from headwater.audit.checkpoints import Checkpoint, merkle_tree, stored_checkpoints
from headwater.audit.entries import GENESIS_HASH, AuditEntry, entry_hash
from headwater.audit.log import iter_entries
from headwater.audit.merkle import MerkleTree, verify_consistency


class Tamper(StrEnum):
    MODIFIED = "modified"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    NOT_EXTENDED = "not-extended"
    BAD_SIGNATURE = "bad-signature"


@dataclass(frozen=True)
class Finding:
    """The first problem found; ``position`` is the ``seq`` of the first bad entry."""

    position: int
    kind: Tamper
    message: str


@dataclass(frozen=True)
class AuditorCopy:
    """What an outside auditor kept: a checkpoint, and optionally the entry hashes it covers
    (from an export), which pin down the exact entry where a rewritten log departs."""

    checkpoint: Checkpoint
    hashes: Sequence[str] | None = None
    source: str = "checkpoint file"


@dataclass
class VerifyReport:
    entries: int
    root_hash: str | None
    checkpoints_checked: int = 0
    latest_signed_size: int = 0
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding is None

    def as_json(self) -> dict[str, Any]:
        finding = self.finding
        return {
            "ok": self.ok,
            "entries": self.entries,
            "rootHash": self.root_hash,
            "checkpointsChecked": self.checkpoints_checked,
            "latestSignedSize": self.latest_signed_size,
            "unsignedEntries": max(0, self.entries - self.latest_signed_size),
            "finding": None
            if finding is None
            else {
                "position": finding.position,
                "kind": str(finding.kind),
                "message": finding.message,
            },
            "notes": self.notes,
        }


def _hashes_as(entry: AuditEntry, seq: int) -> bool:
    """Whether ``entry``'s content hashes to its ``hash`` had it been stored at ``seq``."""
    return (
        entry_hash(
            seq, entry.time, entry.actor, entry.action, entry.target, entry.details, entry.prev_hash
        )
        == entry.hash
    )


def _broken_entry(
    entry: AuditEntry, following: AuditEntry | None, prev: str, before_prev: str | None
) -> Finding:
    """Explain an entry whose content does not match its hash."""
    n = entry.seq
    if entry.prev_hash != prev and entry.prev_hash == before_prev:
        return Finding(
            n - 1, Tamper.INSERTED, f"entry {n - 1} was inserted: entry {n} links past it"
        )
    if following is not None and entry.prev_hash == following.hash:
        return Finding(n, Tamper.REORDERED, f"entries {n} and {n + 1} were swapped")
    if following is not None and following.prev_hash == prev:
        return Finding(
            n, Tamper.INSERTED, f"entry {n} was inserted: entry {n + 1} links to entry {n - 1}"
        )
    if _hashes_as(entry, n + 1):
        return Finding(
            n,
            Tamper.MISSING,
            f"entry {n} was deleted and the entries after it renumbered "
            f"(entry {n} holds what was entry {n + 1})",
        )
    return Finding(
        n, Tamper.MODIFIED, f"entry {n} was modified: its content does not match its hash"
    )


def check_chain(entries: Iterable[AuditEntry], hashes: list[str]) -> Finding | None:
    """Check the chain, appending each good entry's hash to ``hashes``; the first problem."""
    rows: Iterator[AuditEntry] = iter(entries)
    current = next(rows, None)
    expected, prev, before_prev = 1, GENESIS_HASH, None
    while current is not None:
        following = next(rows, None)
        if current.seq != expected:
            gap = (
                f"entries {expected}-{current.seq - 1} are"
                if current.seq > expected + 1
                else (f"entry {expected} is")
            )
            return Finding(expected, Tamper.MISSING, f"{gap} missing (deleted)")
        if current.content_hash() != current.hash:
            return _broken_entry(current, following, prev, before_prev)
        if current.prev_hash != prev:
            if current.prev_hash == before_prev:
                return Finding(
                    expected - 1,
                    Tamper.INSERTED,
                    f"entry {expected - 1} was inserted: entry {expected} links past it",
                )
            return Finding(
                expected - 1,
                Tamper.MODIFIED,
                f"entry {expected - 1} was modified and re-hashed: entry {expected} still "
                "links to its original hash",
            )
        hashes.append(current.hash)
        before_prev, prev = prev, current.hash
        expected += 1
        current = following
    return None


def _first_difference(ours: Sequence[str], theirs: Sequence[str]) -> int | None:
    for index, (mine, kept) in enumerate(zip(ours, theirs, strict=False)):
        if mine != kept:
            return index + 1
    return None


def _check_checkpoint(
    report: VerifyReport,
    tree: MerkleTree,
    hashes: Sequence[str],
    copy: AuditorCopy,
    trusted: Sequence[Checkpoint],
) -> Finding | None:
    cp = copy.checkpoint
    if not cp.signature_valid():
        return Finding(
            min(cp.tree_size, report.entries) + 1 if cp.tree_size else 1,
            Tamper.BAD_SIGNATURE,
            f"the {copy.source} for {cp.tree_size} entries has an invalid signature",
        )
    if cp.tree_size > tree.size:
        return Finding(
            tree.size + 1,
            Tamper.TRUNCATED,
            f"the log ends at entry {tree.size} but the {copy.source} of {cp.time} signs "
            f"{cp.tree_size} entries: entries {tree.size + 1}-{cp.tree_size} were removed",
        )
    proof = tree.consistency_proof(cp.tree_size, tree.size)
    try:
        old_root = bytes.fromhex(cp.root_hash)
    except ValueError:
        old_root = b""
    if verify_consistency(cp.tree_size, tree.size, old_root, tree.root(), proof):
        return None
    exact = _first_difference(hashes, copy.hashes) if copy.hashes is not None else None
    if exact is not None:
        where = f"entry {exact} differs from the auditor's copy"
        return Finding(
            exact,
            Tamper.NOT_EXTENDED,
            f"the log does not extend the {copy.source} of {cp.time} ({cp.tree_size} entries): "
            f"{where}",
        )
    # Narrow the rewrite down with the largest signed checkpoint that still matches.
    lower = max(
        (t.tree_size for t in trusted if t.tree_size < cp.tree_size and _matches(tree, t)),
        default=0,
    )
    return Finding(
        lower + 1,
        Tamper.NOT_EXTENDED,
        f"the log does not extend the {copy.source} of {cp.time} ({cp.tree_size} entries): "
        f"the first rewritten entry is between {lower + 1} and {cp.tree_size}",
    )


def _matches(tree: MerkleTree, checkpoint: Checkpoint) -> bool:
    return (
        checkpoint.signature_valid()
        and checkpoint.tree_size <= tree.size
        and tree.root(checkpoint.tree_size).hex() == checkpoint.root_hash
    )


def _counted(
    entries: Iterable[AuditEntry], progress: Callable[[int], None], every: int = 10_000
) -> Iterator[AuditEntry]:
    done = 0
    for entry in entries:
        yield entry
        done += 1
        if done % every == 0:
            progress(every)
    progress(done % every)


def verify_log(
    connection: Connection,
    copies: Sequence[AuditorCopy] = (),
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check the chain, the log's stored checkpoints and the auditor's ``copies``;
    ``progress`` is told how many more entries were checked, now and then."""
    hashes: list[str] = []
    entries: Iterable[AuditEntry] = iter_entries(connection)
    if progress is not None:
        entries = _counted(entries, progress)
    finding = check_chain(entries, hashes)
    if finding is not None:
        return VerifyReport(entries=len(hashes), root_hash=None, finding=finding)
    tree = merkle_tree(hashes)
    report = VerifyReport(entries=tree.size, root_hash=tree.root().hex())
    stored = stored_checkpoints(connection)
    # Copies with entry hashes first: they name the exact entry where a rewrite begins.
    own = [AuditorCopy(cp, source="stored checkpoint") for cp in stored]
    checks = [
        *(c for c in copies if c.hashes is not None),
        *own,
        *(c for c in copies if c.hashes is None),
    ]
    for copy in checks:
        problem = _check_checkpoint(report, tree, hashes, copy, stored)
        report.checkpoints_checked += 1
        if problem is not None:
            report.finding = problem
            return report
        report.latest_signed_size = max(report.latest_signed_size, copy.checkpoint.tree_size)
    unsigned = report.entries - report.latest_signed_size
    if unsigned:
        report.notes.append(
            f"{unsigned} entries after the latest checkpoint are not yet signed: "
            "`headwater audit checkpoint` signs them"
        )
    return report
