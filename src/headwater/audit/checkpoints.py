"""Signed checkpoints of the audit log's Merkle tree (RFC 6962), and proofs against them.

The tree's leaves are the entries' hashes in ``seq`` order: leaf ``i`` (from 0) is entry
``seq = i + 1``, and its RFC 6962 leaf input is the entry hash's 32 bytes. A checkpoint signs

    headwater audit checkpoint v1
    <tree size>
    <root hash, hex>
    <time>

with Ed25519 (one line each, ``\\n`` after each). An auditor who keeps checkpoints can later
ask for a consistency proof that a newer tree extends an older one, and for inclusion proofs of
single entries, and check both without trusting the server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from headwater.audit.entries import leaf_data, utc_text
from headwater.audit.log import entry_hashes, log_size
from headwater.audit.merkle import MerkleTree, leaf_hash
from headwater.audit.signing import SigningKey, key_id, verify_signature
from headwater.db import Database, insert_ignore
from headwater.db.schema import audit_checkpoints, audit_log
from headwater.errors import BadRequestError

HEADER = "headwater audit checkpoint v1"


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: str
    time: str
    key_id: str
    public_key: str
    signature: str

    def signed_text(self) -> bytes:
        return f"{HEADER}\n{self.tree_size}\n{self.root_hash}\n{self.time}\n".encode()

    def signature_valid(self) -> bool:
        return key_id(self.public_key) == self.key_id and verify_signature(
            self.public_key, self.signed_text(), self.signature
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "treeSize": self.tree_size,
            "rootHash": self.root_hash,
            "time": self.time,
            "algorithm": "Ed25519",
            "keyId": self.key_id,
            "publicKey": self.public_key,
            "signature": self.signature,
            "signedText": self.signed_text().decode(),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "checkpoint") -> Checkpoint:
        """Read a checkpoint as `as_json` writes it; a missing or wrong field is named."""
        if not isinstance(data, dict):
            raise BadRequestError("must be a JSON object", where)
        wanted = {
            "treeSize": int,
            "rootHash": str,
            "time": str,
            "keyId": str,
            "publicKey": str,
            "signature": str,
        }
        for name, kind in wanted.items():
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BadRequestError(f"is missing or not a {kind.__name__}", f"{where}.{name}")
        if data["treeSize"] < 0:
            raise BadRequestError("must not be negative", f"{where}.treeSize")
        return cls(
            data["treeSize"],
            data["rootHash"],
            data["time"],
            data["keyId"],
            data["publicKey"],
            data["signature"],
        )


def merkle_tree(hashes: list[str]) -> MerkleTree:
    """The tree over entry hashes (hex); raises ValueError for a hash that is not hex."""
    return MerkleTree([leaf_hash(leaf_data(h)) for h in hashes])


def log_tree(connection: Connection, size: int | None = None) -> MerkleTree:
    return merkle_tree(entry_hashes(connection, size))


class TreeCache:
    """The log's Merkle tree, kept between requests of one server process.

    The log only grows, so a tree of ``n`` entries answers roots and proofs for every size up
    to ``n``; a larger size reads only the hashes added since and hashes only what they change.
    (Verification never uses this: it rereads the whole log.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tree = MerkleTree([])

    def tree(self, connection: Connection, size: int) -> MerkleTree:
        with self._lock:
            if size > self._tree.size:
                known = self._tree.size
                query = (
                    select(audit_log.c.hash)
                    .where(audit_log.c.seq > known, audit_log.c.seq <= size)
                    .order_by(audit_log.c.seq)
                )
                new = [leaf_hash(leaf_data(h)) for h in connection.execute(query).scalars()]
                self._tree = self._tree.extended(new)
            return self._tree


def sign_checkpoint(key: SigningKey, tree_size: int, root: bytes, moment: datetime) -> Checkpoint:
    unsigned = Checkpoint(tree_size, root.hex(), utc_text(moment), key.key_id, key.public_key, "")
    return Checkpoint(
        unsigned.tree_size,
        unsigned.root_hash,
        unsigned.time,
        unsigned.key_id,
        unsigned.public_key,
        key.sign(unsigned.signed_text()),
    )


def _row_checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        int(row.tree_size), row.root_hash, row.time, row.key_id, row.public_key, row.signature
    )


def stored_checkpoints(connection: Connection) -> list[Checkpoint]:
    """Every stored checkpoint, smallest tree first."""
    rows = connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size))
    return [_row_checkpoint(row) for row in rows]


def latest_checkpoint(connection: Connection) -> Checkpoint | None:
    query = select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size.desc()).limit(1)
    row = connection.execute(query).first()
    return None if row is None else _row_checkpoint(row)


def store_checkpoint(connection: Connection, checkpoint: Checkpoint) -> None:
    """Keep ``checkpoint`` (one per tree size: a second one for the same size is dropped)."""
    row = {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "time": checkpoint.time,
        "key_id": checkpoint.key_id,
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
    }
    insert_ignore(connection, audit_checkpoints, [row], ["tree_size"])


def _current(connection: Connection, key: SigningKey) -> tuple[int, Checkpoint | None]:
    """The log's size, and the stored checkpoint of exactly that size by ``key`` if any."""
    size = log_size(connection)
    latest = latest_checkpoint(connection)
    if latest is not None and latest.tree_size == size and latest.key_id == key.key_id:
        return size, latest
    return size, None


def checkpoint_now(connection: Connection, key: SigningKey) -> Checkpoint:
    """A signed checkpoint of the whole log as it is, stored; the stored one if none is newer.

    Run it in a write transaction: the checkpoint covers exactly the entries committed before.
    """
    size, latest = _current(connection, key)
    if latest is not None:
        return latest
    checkpoint = sign_checkpoint(key, size, log_tree(connection, size).root(), datetime.now(UTC))
    store_checkpoint(connection, checkpoint)
    return checkpoint


def serve_checkpoint(database: Database, key: SigningKey, trees: TreeCache) -> Checkpoint:
    """`checkpoint_now` for a server: the tree is hashed in a read transaction, so on SQLite
    ingestion does not wait for it, and only storing the checkpoint takes the write lock.
    Entries are immutable once committed, so the size read first is all that is signed."""
    with database.read() as connection:
        size, latest = _current(connection, key)
        if latest is not None:
            return latest
        root = trees.tree(connection, size).root(size)
    checkpoint = sign_checkpoint(key, size, root, datetime.now(UTC))
    with database.write() as connection:
        store_checkpoint(connection, checkpoint)
    return checkpoint
