"""zkgrad.merkle is OpenZeppelin's StandardMerkleTree (["uint256", "bytes32"]): the same root and the
same proofs as the pinned npm @openzeppelin/merkle-tree, and a proof verifies only its own leaf."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkgrad.errors import InputError
from zkgrad.merkle import MerkleTree, leaf_hash, node_hash, verify
from zkgrad.toolchain import tools_dir

OZ_VERSION = "1.0.8"

# StandardMerkleTree.of([[i, c_i]], ["uint256", "bytes32"]): its root, getProof(i) for every i, its tree array.
JS = """
const fs = require("fs");
const [pkg, inp, out] = process.argv.slice(1);
const { StandardMerkleTree } = require(pkg);
const commitments = JSON.parse(fs.readFileSync(inp, "utf8"));
const tree = StandardMerkleTree.of(commitments.map((c, i) => [i, c]), ["uint256", "bytes32"]);
fs.writeFileSync(out, JSON.stringify({
  root: tree.root, proofs: commitments.map((_, i) => tree.getProof(i)), nodes: tree.dump().tree,
}));
"""


def _oz_package() -> Path:
    pkg = tools_dir() / "node_modules" / "@openzeppelin" / "merkle-tree"
    try:
        version = json.loads((pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        pytest.fail(f"@openzeppelin/merkle-tree is not installed in {pkg.parent.parent} (run scripts/bootstrap)")
    if version != OZ_VERSION:
        pytest.fail(f"@openzeppelin/merkle-tree {version} in {pkg}, the tree is pinned to {OZ_VERSION} "
                    "(run scripts/bootstrap)")
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH (install Node.js 20+, then run scripts/bootstrap)")
    return pkg


def _oz_tree(commitments: list[bytes], tmp: Path) -> dict[str, list[str] | list[list[str]] | str]:
    pkg = _oz_package()
    (tmp / "in.json").write_text(json.dumps(["0x" + c.hex() for c in commitments]))
    subprocess.run(["node", "-e", JS, str(pkg), str(tmp / "in.json"), str(tmp / "out.json")],
                   check=True, timeout=60, capture_output=True)
    return json.loads((tmp / "out.json").read_text())  # type: ignore[no-any-return]


def _commitments(n: int, salt: int = 0) -> list[bytes]:
    return [node_hash(i.to_bytes(32, "big"), salt.to_bytes(32, "big")) for i in range(n)]


def _hex(nodes: list[bytes]) -> list[str]:
    return ["0x" + b.hex() for b in nodes]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_root_and_proofs_equal_openzeppelins(n: int, tmp_path: Path) -> None:
    commitments = _commitments(n, salt=n)
    tree = MerkleTree(commitments)
    oz = _oz_tree(commitments, tmp_path)
    assert "0x" + tree.root.hex() == oz["root"]
    assert _hex(list(tree.nodes)) == oz["nodes"]
    assert [_hex(tree.proof(i)) for i in range(n)] == oz["proofs"]


def test_one_leaf_is_its_own_root() -> None:
    c = _commitments(1)[0]
    tree = MerkleTree([c])
    assert tree.root == leaf_hash(0, c) and tree.proof(0) == []


def test_leaf_is_double_keccak_of_abi_encoding() -> None:
    from eth_utils import keccak

    c = bytes(range(32))
    assert leaf_hash(5, c) == keccak(keccak((5).to_bytes(32, "big") + c))


@pytest.mark.parametrize("bad", [[], [b"\x01" * 31], ["00" * 32]], ids=["empty", "short", "str"])
def test_malformed_commitments_refused(bad: list[bytes]) -> None:
    with pytest.raises(InputError):
        MerkleTree(bad)


def test_index_outside_the_tree_refused() -> None:
    tree = MerkleTree(_commitments(3))
    for i in (-1, 3):
        with pytest.raises(InputError, match="not in a tree of 3"):
            tree.proof(i)


commitment_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=33)


@pytest.mark.fuzzing
@settings(max_examples=60, deadline=None)
@given(commitments=commitment_lists, data=st.data())
def test_every_proof_verifies_and_only_for_its_own_leaf(commitments: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(commitments)
    i = data.draw(st.integers(0, len(commitments) - 1))
    proof = tree.proof(i)
    assert verify(tree.root, leaf_hash(i, commitments[i]), proof)
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda c: c != commitments[i]))
    assert not verify(tree.root, leaf_hash(i, other), proof)
    j = data.draw(st.integers(0, 2**256 - 1).filter(lambda j: j != i))
    assert not verify(tree.root, leaf_hash(j, commitments[i]), proof)


@pytest.mark.fuzzing
@settings(max_examples=60, deadline=None)
@given(commitments=commitment_lists, data=st.data())
def test_a_changed_commitment_changes_the_root(commitments: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(commitments) - 1))
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda c: c != commitments[i]))
    changed = [*commitments[:i], other, *commitments[i + 1:]]
    assert MerkleTree(changed).root != MerkleTree(commitments).root
