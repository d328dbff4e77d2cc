"""The Merkle tree over a dataset's batch commitments: byte for byte OpenZeppelin's
``StandardMerkleTree.of(values, ["uint256", "bytes32"])`` (npm ``@openzeppelin/merkle-tree`` 1.0.8),
so that ``MerkleProof.verifyCalldata(proof, root, leaf)`` accepts its proofs on chain.

Value ``i`` is ``(i, commitment_i)``, in schedule order. Its leaf is
``keccak256(keccak256(abi.encode(uint256 i, bytes32 commitment_i)))``; a node is the keccak256 of
its two children sorted as numbers and concatenated. The leaves are sorted ascending and laid out,
largest first, at the end of one array of ``2n - 1`` nodes whose node ``k`` has children
``2k + 1`` and ``2k + 2``; node 0 is the root. A proof is the siblings from the leaf up to the root.
"""

from __future__ import annotations

from functools import reduce
from typing import Sequence

from eth_abi import encode
from eth_utils import keccak

from .errors import InputError

LEAF_ENCODING = ("uint256", "bytes32")


def leaf_hash(index: int, commitment: bytes) -> bytes:
    """``keccak256(bytes.concat(keccak256(abi.encode(index, commitment))))``."""
    _check_node(commitment, "a batch commitment")
    if not 0 <= index < 2**256:
        raise InputError(f"leaf index {index} is not a uint256")
    return keccak(keccak(encode(list(LEAF_ENCODING), [index, commitment])))


def node_hash(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative hash: ``keccak256`` of the smaller node, then the larger."""
    return keccak(b"".join(sorted((a, b))))


class MerkleTree:
    """The tree of ``commitments`` (32 bytes each) in schedule order: value ``i`` is ``(i, commitments[i])``."""

    def __init__(self, commitments: Sequence[bytes]) -> None:
        if not commitments:
            raise InputError("a Merkle tree needs at least one batch commitment")
        self.commitments: tuple[bytes, ...] = tuple(commitments)
        leaves = sorted(leaf_hash(i, c) for i, c in enumerate(self.commitments))
        n = len(leaves)
        nodes: list[bytes] = [b""] * (2 * n - 1)
        nodes[n - 1:] = leaves[::-1]
        for k in range(n - 2, -1, -1):
            nodes[k] = node_hash(nodes[2 * k + 1], nodes[2 * k + 2])
        self.nodes: tuple[bytes, ...] = tuple(nodes)
        """The array layout, as ``StandardMerkleTree.dump().tree``."""
        self._position = {leaf: k for k, leaf in enumerate(self.nodes) if k >= n - 1}

    def __len__(self) -> int:
        return len(self.commitments)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, index: int) -> list[bytes]:
        """The Merkle path of value ``index`` (the batch with that schedule index), leaf to root."""
        if not 0 <= index < len(self):
            raise InputError(f"batch {index} is not in a tree of {len(self)} batches")
        k = self._position[leaf_hash(index, self.commitments[index])]
        path = []
        while k > 0:
            path.append(self.nodes[k + 1 if k % 2 else k - 1])
            k = (k - 1) // 2
        return path


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """``MerkleProof.verify(proof, root, leaf)``: whether ``leaf`` (a ``leaf_hash``) hashes up to ``root``."""
    for node in (root, leaf, *proof):
        _check_node(node, "a Merkle node")
    return reduce(node_hash, proof, leaf) == root


def _check_node(node: bytes, what: str) -> None:
    if not isinstance(node, bytes) or len(node) != 32:
        raise InputError(f"{what} must be 32 bytes, got {node!r:.80}")
