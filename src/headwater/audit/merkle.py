"""The Merkle tree of RFC 6962 / RFC 9162 (Certificate Transparency) over SHA-256.

Everything here is the standard, bit for bit, so that anyone can check an audit log with any
Certificate Transparency library, or with their own code. To re-implement it:

**Hashes.** Every hash is SHA-256, 32 bytes. An entry ``d`` (raw bytes) becomes the leaf hash
``SHA-256(0x00 || d)``; two subtrees with hashes ``l`` and ``r`` become ``SHA-256(0x01 || l ||
r)``. The prefix bytes keep a leaf from ever being passed off as an interior node (second
preimage attacks). The tree of no entries has the root ``SHA-256("")`` (``e3b0c442...b855``).

**Tree shape.** For entries ``D[0:n]``, ``MTH`` (the Merkle Tree Hash) is::

    MTH([])      = SHA-256("")
    MTH([d])     = SHA-256(0x00 || d)
    MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   for n > 1,

where ``k`` is the largest power of two strictly smaller than ``n``: the left subtree is always
complete, and only the right edge of the tree can be ragged. (A midpoint split gives different
roots for most sizes, silently.) The same tree is built bottom-up by hashing neighbours in
pairs, level by level, and *promoting an unpaired last node unchanged* to the next level; this
module does that and keeps every level, so node ``j`` of level ``l`` is
``MTH(D[j * 2**l : min((j + 1) * 2**l, n)])``.

**Inclusion proof** (RFC 9162 2.1.3): the hashes of the siblings of the nodes on the way from
leaf ``m`` to the root, leaf end first (``PATH(m, D[0:n])``). The verifier rebuilds the root
from the leaf hash, putting each sibling left or right as the bits of ``m`` and ``n - 1`` say.

**Consistency proof** (RFC 9162 2.1.4): for sizes ``0 < m < n``, the fewest subtree hashes from
which both the old root (of ``D[0:m]``) and the new root (of ``D[0:n]``) can be rebuilt, proving
the log of ``n`` entries begins with the ``m`` entries the old root committed to. Its first
element is a node of the old tree, or nothing when ``m`` is a power of two (the old root is
then itself a node of the new tree). ``m == n`` needs no proof (the roots must be equal) and
neither does ``m == 0``.

A proof is a list of 32-byte hashes; the proof's sizes and index travel beside it, and a root is
only meaningful together with its size (a Certificate Transparency signed tree head signs both):
the same proof can verify against two sizes whose trees place the leaf identically, e.g. leaf 0
of 3 and of 4 entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash: leaf, node, root and proof element."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the tree of no entries, ``SHA-256("")``."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one entry: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """RFC 6962's ``k`` for ``n >= 2``: the largest power of two strictly smaller than ``n``."""
    return 1 << ((n - 1).bit_length() - 1)


def _checked(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    leaves = list(leaf_hashes)
    if any(len(h) != HASH_SIZE for h in leaves):
        bad = next(i for i, h in enumerate(leaves) if len(h) != HASH_SIZE)
        raise ValueError(
            f"leaf hash {bad} is {len(leaves[bad])} bytes; a leaf hash is {HASH_SIZE} bytes"
            " (pass leaf_hash(entry), not the entry)"
        )
    return leaves


class MerkleTree:
    """The tree over a sequence of leaf hashes, with every level kept for fast proofs.

    Takes leaf hashes (``leaf_hash(entry)``), not entries, so that a caller that stores the leaf
    hashes never re-hashes its entries. The roots and proofs of every prefix of the leaves
    (every earlier size of the log) come from the same tree.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        # A copy: the levels above are only right for the leaves they were hashed from.
        leaves = _checked(leaf_hashes)
        self._size = len(leaves)
        self._levels: list[list[bytes]] = [leaves] if leaves else []
        self._rehash_from(0)

    def extended(self, leaf_hashes: Sequence[bytes]) -> MerkleTree:
        """A new tree of these leaves followed by ``leaf_hashes``.

        Only what the new leaves change is hashed: one node per new leaf and level, and the
        right edge of each level (a node that was promoted alone now has a partner). This tree
        is left as it was, so readers holding it are never disturbed.
        """
        tree = MerkleTree.__new__(MerkleTree)
        tree._levels = [list(level) for level in self._levels] or [[]]
        tree._levels[0].extend(_checked(leaf_hashes))
        tree._size = len(tree._levels[0])
        if not tree._size:
            tree._levels = []
        tree._rehash_from(self._size)
        return tree

    def _rehash_from(self, changed: int) -> None:
        """Hash every level above the leaves again from leaf ``changed`` on."""
        # One comprehension per level, with the hash function and prefix bound to locals: a
        # million leaves means a million hashes, and Python-level overhead per node is the cost.
        sha256 = hashlib.sha256
        prefix = _NODE_PREFIX
        depth = 0
        while self._levels and len(self._levels[depth]) > 1:
            level = self._levels[depth]
            parent = changed // 2
            if depth + 1 == len(self._levels):
                self._levels.append([])
            upper = self._levels[depth + 1]
            del upper[parent:]
            # zip of one iterator with itself pairs neighbours; not strict, because an odd last
            # node has no partner and is promoted below instead.
            pairs = iter(level[2 * parent :])
            upper.extend(
                [
                    sha256(prefix + left + right).digest()
                    for left, right in zip(pairs, pairs, strict=False)
                ]
            )
            if len(level) % 2:
                upper.append(level[-1])
            changed = parent
            depth += 1

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves (default: all of them)."""
        size = self._check_size(size, "size")
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

        RFC 9162 2.1.3.1 ``PATH(index, D[0:size])``, sibling of the leaf first.
        """
        size = self._check_size(size, "size")
        if index < 0 or index >= size:
            raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
        # PATH recurses into the half holding the leaf and appends the other half's hash after
        # the inner path; walking top-down and reversing gives the same list without recursion.
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            mid = lo + _split(hi - lo)
            if index < mid:
                path.append(self._range_hash(mid, hi))
                hi = mid
            else:
                path.append(self._range_hash(lo, mid))
                lo = mid
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the first ``old_size`` leaves begin the tree of ``new_size`` leaves.

        RFC 9162 2.1.4.1 ``PROOF(old_size, D[0:new_size])``; empty when ``old_size`` is 0 or
        equal to ``new_size``, where there is nothing to prove.
        """
        new_size = self._check_size(new_size, "new_size")
        if old_size < 0 or old_size > new_size:
            raise ValueError(f"old size {old_size} is not between 0 and the new size {new_size}")
        if old_size in (0, new_size):
            return []
        # SUBPROOF(m, D[lo:hi], b) top-down: ``complete`` is RFC's ``b``, true while the
        # subtree at hand is still exactly the old tree's left edge (and so the old root
        # itself need not be sent when the walk ends on it).
        proof: list[bytes] = []
        lo, hi, complete = 0, new_size, True
        while old_size != hi:
            mid = lo + _split(hi - lo)
            if old_size <= mid:
                proof.append(self._range_hash(mid, hi))
                hi = mid
            else:
                proof.append(self._range_hash(lo, mid))
                lo = mid
                complete = False
        if not complete:
            proof.append(self._range_hash(lo, hi))
        proof.reverse()
        return proof

    def _check_size(self, size: int | None, name: str) -> int:
        if size is None:
            return self._size
        if size < 0 or size > self._size:
            raise ValueError(f"{name} {size} is not between 0 and the tree's size {self._size}")
        return size

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` for ``0 <= lo < hi <= size``, from the stored levels.

        A stored node of level ``l`` covers ``[j * 2**l, min((j + 1) * 2**l, size))``: any
        aligned complete range, and any aligned range that ends at the tree's right edge, is one
        lookup. Proofs only ask for ranges whose start is aligned to their split, so the
        fallback below meets a stored node at every step: O(log n) for a prefix's right edge.
        """
        n = hi - lo
        level = (n - 1).bit_length()  # the lowest level whose nodes span n leaves
        if lo & ((1 << level) - 1) == 0 and (n == 1 << level or hi == self._size):
            return self._levels[level][lo >> level]
        mid = lo + _split(n)
        return node_hash(self._range_hash(lo, mid), self._range_hash(mid, hi))


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    # bool is an int to Python, but True is no leaf index anyone meant to send.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _proof_hashes(proof: object) -> list[bytes] | None:
    """The proof as a list, or None if it is not a sequence of 32-byte hashes."""
    if not isinstance(proof, Sequence) or isinstance(proof, (str, bytes, bytearray)):
        return None
    hashes = list(proof)
    return hashes if all(_is_hash(h) for h in hashes) else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``(size, root)``.

    RFC 9162 2.1.3.2. Needs no tree, and answers False, never raises, for malformed input (a
    wrong-length hash, a negative or out-of-range index, a proof too short or too long).
    """
    hashes = _proof_hashes(proof)
    if (
        hashes is None
        or not (_is_hash(leaf) and _is_hash(root) and _is_count(index) and _is_count(size))
        or index >= size
    ):
        return False
    # fn walks the leaf's position up the tree and sn the last leaf's: where fn is a right
    # child the sibling is on the left, and where fn == sn the leaf's node is the last one on
    # its level and was promoted past the levels where it had no sibling.
    fn, sn = index, size - 1
    r = leaf
    for p in hashes:
        if sn == 0:
            return False  # more proof than tree
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # sn == 0: the proof reached the root, not some node below it. Roots are public, so a
    # plain comparison leaks nothing a constant-time one would protect.
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``(old_size, old_root)`` is a prefix of the tree
    ``(new_size, new_root)``.

    RFC 9162 2.1.4.2. Equal sizes need an empty proof and equal roots; old size 0 needs an
    empty proof and is consistent with any new tree (every log starts empty). Needs no tree,
    and answers False, never raises, for malformed input.
    """
    hashes = _proof_hashes(proof)
    if (
        hashes is None
        or not (_is_hash(old_root) and _is_hash(new_root))
        or not (_is_count(old_size) and _is_count(new_size))
        or old_size > new_size
    ):
        return False
    if old_size == new_size:
        return not hashes and old_root == new_root
    if old_size == 0:
        return not hashes
    if not hashes:
        return False
    # A power-of-two old tree is a node of the new one, so the prover left out its hash.
    if old_size & (old_size - 1) == 0:
        hashes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    # Skip the levels where the old tree's last node is a right child: the first proof element
    # is the lowest node the old and new trees share, and it sits above them.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            return False  # more proof than tree
        if fn & 1 or fn == sn:
            # A node left of both right edges: part of the old tree and of the new one.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            # A node right of the old tree's edge: only in the new tree.
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
