"""The audit log's Merkle tree is RFC 6962 / RFC 9162's, bit for bit.

`MerkleTree` builds the tree bottom-up, level by level; the reference functions below are RFC
6962 section 2.1's recursive definitions (MTH, PATH, SUBPROOF) transcribed with nothing but
hashlib, so agreement between the two for every small size is what shows the level-by-level
build, the promotion of unpaired nodes and the proof walks are the standard's. The known-answer
tests pin the result to the Certificate Transparency test data every other implementation
checks itself against.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from headwater.audit import merkle
from headwater.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# --- RFC 6962 section 2.1, transcribed -------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), counted up rather than bit-twiddled."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) of raw entries."""
    n = len(entries)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + entries[0])
    k = _k(n)
    return _sha256(b"\x01" + rfc_mth(entries[:k]) + rfc_mth(entries[k:]))


def rfc_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(entries)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*rfc_path(m, entries[:k]), rfc_mth(entries[k:])]
    return [*rfc_path(m - k, entries[k:]), rfc_mth(entries[:k])]


def rfc_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(entries)
    if m == n:
        return [] if b else [rfc_mth(entries)]
    k = _k(n)
    if m <= k:
        return [*rfc_subproof(m, entries[:k], b), rfc_mth(entries[k:])]
    return [*rfc_subproof(m - k, entries[k:], False), rfc_mth(entries[:k])]


def rfc_proof(m: int, entries: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return rfc_subproof(m, entries, True)


# --- fixtures ---------------------------------------------------------------------------------

ENTRIES = [f"audit entry {i}".encode() for i in range(140)]
LEAVES = [leaf_hash(entry) for entry in ENTRIES]
TREE = MerkleTree(LEAVES)
"""140 leaves: every tree below of up to 70 leaves is a prefix, and so is twice its size."""

OTHER_HASH = _sha256(b"no node of any tree here")


def flipped(hash_: bytes, at: int = 17) -> bytes:
    """The hash with one bit changed."""
    return hash_[:at] + bytes([hash_[at] ^ 0x04]) + hash_[at + 1 :]


def with_element_flipped(proof: list[bytes], position: int) -> list[bytes]:
    return [flipped(h) if i == position else h for i, h in enumerate(proof)]


# --- hashing ----------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_sha256_with_rfc6962_domain_prefixes() -> None:
    assert leaf_hash(b"entry") == _sha256(b"\x00entry")
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == _sha256(b"\x01" + left + right)
    # The prefixes are what keeps a leaf from passing for a node holding the same bytes.
    assert leaf_hash(left + right) != node_hash(left, right)
    assert HASH_SIZE == len(leaf_hash(b"")) == 32


def test_the_empty_tree_has_size_zero_and_the_root_sha256_of_nothing() -> None:
    tree = MerkleTree([])
    assert tree.size == 0
    assert tree.root() == EMPTY_ROOT == _sha256(b"")
    assert tree.consistency_proof(0) == []


def test_a_one_leaf_tree_has_the_leaf_hash_as_root_and_an_empty_inclusion_proof() -> None:
    tree = MerkleTree([LEAVES[0]])
    assert tree.root() == LEAVES[0]
    assert tree.inclusion_proof(0) == []
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])


# --- tree shape -------------------------------------------------------------------------------


def test_the_root_of_every_tree_of_0_to_130_leaves_is_rfc6962s_mth() -> None:
    for size in range(131):
        tree = MerkleTree(LEAVES[:size])
        assert tree.size == size
        assert tree.root() == rfc_mth(ENTRIES[:size]), f"size {size}"


def test_the_root_of_every_prefix_of_a_130_leaf_tree_is_rfc6962s_mth() -> None:
    tree = MerkleTree(LEAVES[:130])
    for size in range(131):
        assert tree.root(size) == rfc_mth(ENTRIES[:size]), f"prefix {size}"
    assert tree.root() == tree.root(130)


def test_a_prefix_root_costs_a_few_hashes_not_one_per_leaf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = MerkleTree([leaf_hash(i.to_bytes(4, "big")) for i in range(1000)])
    calls = 0
    real_node_hash = merkle.node_hash

    def counting_node_hash(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real_node_hash(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting_node_hash)
    for size in range(1, 1001):
        calls = 0
        tree.root(size)
        # One hash per complete subtree the prefix splits into, beyond the first.
        assert calls < size.bit_length(), f"prefix {size} took {calls} hashes"


def test_the_tree_keeps_its_own_copy_of_the_leaves() -> None:
    leaves = LEAVES[:5]
    tree = MerkleTree(leaves)
    leaves[2] = OTHER_HASH
    assert tree.root() == rfc_mth(ENTRIES[:5])


def test_an_extended_tree_equals_one_built_from_all_its_leaves() -> None:
    """The log grows: extending a tree hashes only what the new leaves change, and gives the
    same roots and proofs as building it anew; the tree it came from stays as it was."""
    for old in range(0, 34):
        base = MerkleTree(LEAVES[:old])
        for added in (0, 1, 2, 3, 5, 8, 13, 31):
            grown = base.extended(LEAVES[old : old + added])
            whole = MerkleTree(LEAVES[: old + added])
            assert grown.size == whole.size == old + added
            assert grown.root() == whole.root(), (old, added)
            for index in range(grown.size):
                assert grown.inclusion_proof(index) == whole.inclusion_proof(index)
            for size in range(grown.size + 1):
                assert grown.consistency_proof(size) == whole.consistency_proof(size)
        assert base.size == old
        assert base.root() == rfc_mth(ENTRIES[:old])


def test_extending_hashes_the_new_leaves_and_the_right_edge_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = MerkleTree(LEAVES[:128])
    calls = 0
    real = hashlib.sha256

    def counted(data: bytes = b"") -> Any:
        nonlocal calls
        calls += 1
        return real(data)

    monkeypatch.setattr(merkle.hashlib, "sha256", counted)
    tree.extended(LEAVES[128:130])
    assert calls <= 2 + 8  # one new pair, then one node per level up the right edge


# --- known answers ----------------------------------------------------------------------------
# Certificate Transparency's reference data (as in transparency-dev/merkle's proof tests): the
# roots of the trees of the first 0..8 of these entries, and proofs in them.

CT_ENTRIES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_TREE = MerkleTree([leaf_hash(entry) for entry in CT_ENTRIES])
CT_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]

CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CT_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def test_the_roots_of_the_reference_trees_of_0_to_8_entries() -> None:
    for size, expected in enumerate(CT_ROOTS):
        assert CT_TREE.root(size) == expected, f"size {size}"
        assert MerkleTree([leaf_hash(e) for e in CT_ENTRIES[:size]]).root() == expected


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_the_reference_inclusion_proofs(index: int, size: int, expected: list[str]) -> None:
    proof = CT_TREE.inclusion_proof(index, size)
    assert [h.hex() for h in proof] == expected
    assert verify_inclusion(leaf_hash(CT_ENTRIES[index]), index, size, proof, CT_ROOTS[size])


@pytest.mark.parametrize(("old_size", "new_size", "expected"), CT_CONSISTENCY)
def test_the_reference_consistency_proofs(
    old_size: int, new_size: int, expected: list[str]
) -> None:
    proof = CT_TREE.consistency_proof(old_size, new_size)
    assert [h.hex() for h in proof] == expected
    assert verify_consistency(old_size, new_size, CT_ROOTS[old_size], CT_ROOTS[new_size], proof)


# --- inclusion proofs -------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 71))
def test_every_inclusion_proof_is_rfc_path_and_verifies(size: int) -> None:
    own_tree = MerkleTree(LEAVES[:size])
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        assert proof == rfc_path(index, ENTRIES[:size]), f"leaf {index}"
        assert own_tree.inclusion_proof(index) == proof
        assert verify_inclusion(LEAVES[index], index, size, proof, root), f"leaf {index}"


@pytest.mark.parametrize("size", range(1, 71))
def test_an_inclusion_proof_fails_for_any_other_leaf_index_or_tree_head(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        leaf = LEAVES[index]
        assert not verify_inclusion(LEAVES[index + 1], index, size, proof, root)
        assert not verify_inclusion(flipped(leaf), index, size, proof, root)
        for other in range(size):
            if other != index:
                assert not verify_inclusion(leaf, other, size, proof, root), f"{index} as {other}"
        # Another tree head: a size with its own root.
        for other_size in {size - 1, size + 1, size * 2, size // 2} - {size}:
            if other_size > index:
                other_root = TREE.root(other_size)
                assert not verify_inclusion(leaf, index, other_size, proof, other_root)
        # Another size with this root: sizes next to each other can place a leaf identically
        # (leaf 0 of 3 and of 4), which is why a root is only signed with its size, but twice
        # or half the size never can.
        assert not verify_inclusion(leaf, index, size * 2, proof, root)
        if index < size // 2:
            assert not verify_inclusion(leaf, index, size // 2, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, flipped(root))


@pytest.mark.parametrize("size", range(1, 71))
def test_an_altered_truncated_or_extended_inclusion_proof_fails(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        leaf = LEAVES[index]
        for position in range(len(proof)):
            altered = with_element_flipped(proof, position)
            assert not verify_inclusion(leaf, index, size, altered, root), f"{index}@{position}"
        if proof:
            assert not verify_inclusion(leaf, index, size, proof[:-1], root)
            assert not verify_inclusion(leaf, index, size, proof[1:], root)
        if len(proof) > 1:
            assert not verify_inclusion(leaf, index, size, proof[::-1], root)
        for extended in ([*proof, OTHER_HASH], [OTHER_HASH, *proof], [*proof, root]):
            assert not verify_inclusion(leaf, index, size, extended, root)


# --- consistency proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("new_size", range(1, 51))
def test_every_consistency_proof_is_rfc_proof_and_verifies(new_size: int) -> None:
    own_tree = MerkleTree(LEAVES[:new_size])
    new_root = TREE.root(new_size)
    for old_size in range(1, new_size + 1):
        proof = TREE.consistency_proof(old_size, new_size)
        expected = [] if old_size == new_size else rfc_proof(old_size, ENTRIES[:new_size])
        assert proof == expected, f"{old_size} -> {new_size}"
        assert own_tree.consistency_proof(old_size) == proof
        old_root = TREE.root(old_size)
        assert verify_consistency(old_size, new_size, old_root, new_root, proof), old_size


@pytest.mark.parametrize("new_size", range(1, 51))
def test_a_consistency_proof_fails_for_a_wrong_root_or_an_altered_proof(new_size: int) -> None:
    new_root = TREE.root(new_size)
    for old_size in range(1, new_size + 1):
        proof = TREE.consistency_proof(old_size, new_size)
        old_root = TREE.root(old_size)

        def accepts(
            proof: list[bytes],
            old_root: bytes = old_root,
            new_root: bytes = new_root,
            old_size: int = old_size,
        ) -> bool:
            return verify_consistency(old_size, new_size, old_root, new_root, proof)

        assert not accepts(proof, old_root=flipped(old_root)), old_size
        assert not accepts(proof, new_root=flipped(new_root)), old_size
        assert not accepts([*proof, OTHER_HASH]), old_size
        assert not accepts([OTHER_HASH, *proof]), old_size
        if old_size == new_size:
            assert not accepts([old_root]), "equal sizes take no proof"
            continue
        assert not accepts(proof, old_root=new_root, new_root=old_root), old_size
        assert not accepts([]), old_size
        assert not accepts(proof[:-1]), old_size
        assert not accepts(proof[1:]), old_size
        assert not accepts([*proof, new_root]), old_size
        for position in range(len(proof)):
            assert not accepts(with_element_flipped(proof, position)), f"{old_size}@{position}"


@pytest.mark.parametrize("new_size", range(2, 51))
def test_a_consistency_proof_fails_for_any_other_pair_of_tree_heads(new_size: int) -> None:
    for old_size in range(1, new_size):
        proof = TREE.consistency_proof(old_size, new_size)
        for other_old, other_new in [
            (old_size - 1, new_size),
            (old_size + 1, new_size),
            (old_size, new_size - 1),
            (old_size, new_size + 1),
            (old_size, new_size * 2),
        ]:
            if 0 < other_old < other_new:
                old_root, new_root = TREE.root(other_old), TREE.root(other_new)
                assert not verify_consistency(other_old, other_new, old_root, new_root, proof)
        # Another new size with this new root: as with inclusion, neighbouring sizes can share a
        # proof's shape, but twice or half the size never can.
        old_root, new_root = TREE.root(old_size), TREE.root(new_size)
        assert not verify_consistency(old_size, new_size * 2, old_root, new_root, proof)
        if old_size < new_size // 2:
            assert not verify_consistency(old_size, new_size // 2, old_root, new_root, proof)


def test_the_empty_tree_is_consistent_with_every_tree_through_an_empty_proof() -> None:
    for size in range(5):
        assert TREE.consistency_proof(0, size) == []
        assert verify_consistency(0, size, EMPTY_ROOT, TREE.root(size), [])
    assert not verify_consistency(0, 3, EMPTY_ROOT, TREE.root(3), [EMPTY_ROOT])


def test_equal_sizes_are_consistent_exactly_when_the_roots_are_equal() -> None:
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, OTHER_HASH, [])
    assert verify_consistency(7, 7, TREE.root(7), TREE.root(7), [])
    assert not verify_consistency(7, 7, TREE.root(7), TREE.root(8), [])


# --- bad arguments ----------------------------------------------------------------------------


def test_the_tree_refuses_anything_but_32_byte_leaf_hashes() -> None:
    with pytest.raises(ValueError, match=r"leaf hash 1 is 5 bytes"):
        MerkleTree([LEAVES[0], b"entry", LEAVES[2]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.root(9), r"size 9 is not between 0 and the tree's size 8"),
        (lambda t: t.root(-1), r"size -1"),
        (lambda t: t.inclusion_proof(8), r"leaf index 8 is not in a tree of 8 leaves"),
        (lambda t: t.inclusion_proof(3, 3), r"leaf index 3 is not in a tree of 3 leaves"),
        (lambda t: t.inclusion_proof(-1), r"leaf index -1"),
        (lambda t: t.inclusion_proof(0, 0), r"leaf index 0 is not in a tree of 0 leaves"),
        (lambda t: t.inclusion_proof(0, 9), r"size 9 is not between 0 and the tree's size 8"),
        (lambda t: t.consistency_proof(5, 4), r"old size 5 is not between 0 and the new size 4"),
        (lambda t: t.consistency_proof(-1), r"old size -1"),
        (lambda t: t.consistency_proof(9), r"old size 9 is not between 0 and the new size 8"),
        (lambda t: t.consistency_proof(2, 9), r"new_size 9 is not between 0"),
    ],
)
def test_proof_builders_reject_impossible_arguments(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(CT_TREE)


ROOT_5 = TREE.root(5)
PROOF_2_OF_5 = TREE.inclusion_proof(2, 5)
JUNK: Any = "not bytes"


@pytest.mark.parametrize(
    "arguments",
    [
        (LEAVES[2], -1, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 5, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2, 0, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2, -5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2][:31], 2, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2, 5, PROOF_2_OF_5, ROOT_5 + b"\x00"),
        (LEAVES[2], 2, 5, [PROOF_2_OF_5[0][:16], *PROOF_2_OF_5[1:]], ROOT_5),
        (LEAVES[2], 2, 5, [*PROOF_2_OF_5[:-1], b""], ROOT_5),
        (LEAVES[2], 2, 5, b"".join(PROOF_2_OF_5), ROOT_5),
        (LEAVES[2], 2, 5, None, ROOT_5),
        (LEAVES[2], 2, 5, [JUNK], ROOT_5),
        (JUNK, 2, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], JUNK, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2.0, 5, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2, None, PROOF_2_OF_5, ROOT_5),
        (LEAVES[2], 2, 5, PROOF_2_OF_5, None),
    ],
)
def test_verify_inclusion_answers_false_to_malformed_input(arguments: tuple[Any, ...]) -> None:
    assert verify_inclusion(LEAVES[2], 2, 5, PROOF_2_OF_5, ROOT_5)
    assert verify_inclusion(*arguments) is False


ROOT_3 = TREE.root(3)
PROOF_3_TO_5 = TREE.consistency_proof(3, 5)


@pytest.mark.parametrize(
    "arguments",
    [
        (5, 3, ROOT_5, ROOT_3, PROOF_3_TO_5),
        (-1, 5, ROOT_3, ROOT_5, PROOF_3_TO_5),
        (3, -5, ROOT_3, ROOT_5, PROOF_3_TO_5),
        (3, 5, ROOT_3[:31], ROOT_5, PROOF_3_TO_5),
        (3, 5, ROOT_3, ROOT_5 + b"\x00", PROOF_3_TO_5),
        (3, 5, ROOT_3, ROOT_5, [PROOF_3_TO_5[0][:16], *PROOF_3_TO_5[1:]]),
        (3, 5, ROOT_3, ROOT_5, b"".join(PROOF_3_TO_5)),
        (3, 5, ROOT_3, ROOT_5, None),
        (3, 5, ROOT_3, ROOT_5, [JUNK]),
        (3, 5, JUNK, ROOT_5, PROOF_3_TO_5),
        (JUNK, 5, ROOT_3, ROOT_5, PROOF_3_TO_5),
        (3, 5.0, ROOT_3, ROOT_5, PROOF_3_TO_5),
        (0, 0, b"", b"", []),
        (0, 3, ROOT_3[:8], ROOT_3, []),
    ],
)
def test_verify_consistency_answers_false_to_malformed_input(arguments: tuple[Any, ...]) -> None:
    assert verify_consistency(3, 5, ROOT_3, ROOT_5, PROOF_3_TO_5)
    assert verify_consistency(*arguments) is False
