"""JSON Lines export of the log with its checkpoint and proofs, and reading an auditor's copy.

The export's first line is ``{"checkpoint": {...}}`` (as ``GET /api/v1/audit/checkpoint``
answers); every further line is ``{"entry": {...}, "leafIndex": i, "inclusionProof": [...]}``
for the entries the checkpoint signs, each proof an RFC 6962 audit path (hex, leaf to root)
against the checkpoint's root. So one file lets an auditor check every entry's hash, the
chain, each entry's inclusion and the signature, with nothing but SHA-256 and Ed25519, and
later check that the live log still extends it (``headwater audit verify --from-checkpoint``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Connection

from headwater.audit.checkpoints import Checkpoint, merkle_tree
from headwater.audit.log import entry_hashes, iter_entries
from headwater.audit.verify import AuditorCopy
from headwater.errors import BadRequestError


def export_lines(
    connection: Connection, checkpoint: Checkpoint, progress: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The export of the first ``checkpoint.tree_size`` entries, one JSON line at a time."""
    yield orjson.dumps({"checkpoint": checkpoint.as_json()}) + b"\n"
    # Two passes, so that a million entries need a million hashes in memory, not entries.
    tree = merkle_tree(entry_hashes(connection, checkpoint.tree_size))
    for index, entry in enumerate(iter_entries(connection)):
        if entry.seq > checkpoint.tree_size:
            break
        proof = [p.hex() for p in tree.inclusion_proof(index)]
        line = {"entry": entry.as_json(), "leafIndex": index, "inclusionProof": proof}
        yield orjson.dumps(line) + b"\n"
        if progress is not None:
            progress(1)


def write_export(
    connection: Connection,
    checkpoint: Checkpoint,
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``out``; returns the number of entries written."""
    lines = 0
    for line in export_lines(connection, checkpoint, progress):
        out.write(line)
        lines += 1
    return lines - 1


def _line(raw: bytes, number: int, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"line {number} is not JSON: {exc}", where) from None


def read_auditor_copy(path: Path) -> AuditorCopy:
    """A checkpoint JSON file, or an export (whose entry hashes then pin down differences)."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadRequestError(f"cannot read: {exc.strerror}", where) from None
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        raise BadRequestError("is empty", where)
    first = _line(lines[0], 1, where)
    if len(lines) == 1 and isinstance(first, dict) and "checkpoint" not in first:
        return AuditorCopy(Checkpoint.from_json(first, where), source=f"checkpoint in {path.name}")
    if not isinstance(first, dict) or "checkpoint" not in first:
        raise BadRequestError('line 1 must be {"checkpoint": {...}}', where)
    checkpoint = Checkpoint.from_json(first["checkpoint"], f"{where}: line 1: checkpoint")
    hashes: list[str] = []
    for number, raw in enumerate(lines[1:], start=2):
        item = _line(raw, number, where)
        entry = item.get("entry") if isinstance(item, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            raise BadRequestError(f"line {number}: entry.hash is missing", where)
        hashes.append(entry["hash"])
    try:
        root = merkle_tree(hashes).root().hex()
    except ValueError:
        raise BadRequestError("an entry.hash is not hex", where) from None
    if len(hashes) == checkpoint.tree_size and root != checkpoint.root_hash:
        raise BadRequestError("its entries do not hash to its checkpoint's root", where)
    return AuditorCopy(checkpoint, hashes, source=f"export {path.name}")
