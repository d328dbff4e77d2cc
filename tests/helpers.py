"""Test helpers: tampering with proofs, running the CLI, compiling the test-only contracts, a made-up
dataset for registry tests with stub verifiers."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from zkgrad import contracts
from zkgrad.chain.terms import Terms
from zkgrad.layout import FIELD_MODULUS, commit
from zkgrad.merkle import MerkleTree
from zkgrad.toolchain import (
    OPENZEPPELIN_VERSION,
    SOLC_VERSION,
    CompiledContract,
    find_solc,
)


def flip_proof_byte(src: Path, dst: Path, index: int = 100) -> Path:
    """A copy of the proof with one byte of the proof bytes flipped (both encodings kept equal)."""
    data = json.loads(Path(src).read_text())
    raw = bytearray(bytes.fromhex(data["hex_proof"].removeprefix("0x")))
    raw[index % len(raw)] ^= 0x01
    data["hex_proof"] = "0x" + raw.hex()
    data["proof"] = list(raw)
    dst.write_text(json.dumps(data))
    return dst


def flip_hex_nibble(src: Path, dst: Path, index: int = 100) -> Path:
    """A copy of the proof with one hex digit of ``hex_proof`` changed and ``proof`` left as it was:
    the two encodings then name two different proofs."""
    data = json.loads(Path(src).read_text())
    hx = data["hex_proof"].removeprefix("0x")
    i = index % len(hx)
    data["hex_proof"] = "0x" + hx[:i] + format(int(hx[i], 16) ^ 0x1, "x") + hx[i + 1:]
    dst.write_text(json.dumps(data))
    return dst


def change_instance(src: Path, dst: Path, index: int = -1, delta: int = 1) -> Path:
    """A copy of the proof with one public value (a field element) changed by ``delta``."""
    data = json.loads(Path(src).read_text())
    flat = [(i, j) for i, col in enumerate(data["instances"]) for j in range(len(col))]
    i, j = flat[index]
    v = int.from_bytes(bytes.fromhex(data["instances"][i][j]), "little")
    v = (v + delta) % FIELD_MODULUS
    data["instances"][i][j] = v.to_bytes(32, "little").hex()
    dst.write_text(json.dumps(data))
    return dst


def run_cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``zkgrad ARGS`` in-process through the real entry point: (exit code, stdout, stderr)."""
    from zkgrad.cli.main import run

    code = 0
    try:
        run([str(a) for a in args])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def copy_workspace(ws: Any, dest: Path) -> Any:
    """A copy of a workspace's spec, genesis, committed dataset and circuits (keys hard-linked),
    without steps or chain records."""
    import os
    import shutil

    from zkgrad.train.workspace import Workspace

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    dest.mkdir(parents=True)
    shutil.copy2(ws.spec_path, dest / "spec.json")
    if ws.dataset_path.is_file():
        shutil.copy2(ws.dataset_path, dest / "dataset.json")
    shutil.copytree(ws.genesis_dir, dest / "genesis")
    shutil.copytree(ws.circuits_dir, dest / "circuits", copy_function=link)
    for dep in (dest / "circuits").glob("*/deployments.json"):
        dep.unlink()
    return Workspace(dest)


def assert_tampered_refused_onchain(w3: Any, address: str, proof: Path, tmp_path: Path) -> None:
    """A flipped proof byte and a changed public value are each refused by the verifier at ``address``."""
    from zkgrad.chain.deployments import verify_onchain
    from zkgrad.prover.proof import Proof

    for i, tamper in enumerate((flip_proof_byte, change_instance)):
        bad = Proof.load(tamper(proof, tmp_path / f"bad{i}.json"))
        refused, _ = verify_onchain(w3, address, bad)
        assert not refused, tamper.__name__


def compile_test_contracts(cache: Any = None) -> dict[str, CompiledContract]:
    """The test-only contracts (tests/contracts/) and the shipped ones they import, compiled with
    the shipped settings; kept in pytest's cache (``cache``) by a hash of every source."""
    root = Path(__file__).resolve().parents[1]
    paths = sorted([*(root / "tests" / "contracts").glob("*.sol"), *contracts.sources_dir().glob("*.sol")])
    digest = hashlib.sha256(f"{SOLC_VERSION} {OPENZEPPELIN_VERSION} {contracts.OPTIMIZE_RUNS} {contracts.VIA_IR}".encode())
    for p in paths:
        digest.update(p.name.encode() + b"\0" + p.read_bytes())
    key = f"zkgrad/test-contracts/{digest.hexdigest()[:16]}"
    if cache is not None and (hit := cache.get(key, None)):
        return {n: CompiledContract(n, c["abi"], bytes.fromhex(c["bytecode"]), c["runtime_size"]) for n, c in hit.items()}
    # the common folder of all the files is the repository: imports resolve from there
    out = find_solc().compile(paths, optimize_runs=contracts.OPTIMIZE_RUNS, via_ir=contracts.VIA_IR)
    if cache is not None:
        cache.set(key, {n: {"abi": c.abi, "bytecode": c.bytecode.hex(), "runtime_size": c.runtime_size}
                        for n, c in out.items()})
    return out


class StubDataset:
    """``n`` made-up batches of ``words`` public words each and their dataset tree, for registry
    tests whose verifiers are stubs: the update that starts at version ``v`` uses batch ``v % n``."""

    def __init__(self, n: int, words: int) -> None:
        self.batches = [[secrets.randbelow(FIELD_MODULUS) for _ in range(words)] for _ in range(n)]
        self.tree = MerkleTree([commit(b) for b in self.batches])

    def batch(self, version: int) -> list[int]:
        """The batch words the update that starts at ``version`` must carry."""
        return list(self.batches[version % len(self.batches)])

    def path(self, version: int) -> list[bytes]:
        """The Merkle path of that batch's leaf."""
        return self.tree.proof(version % len(self.batches))

    def terms(self, **terms: Any) -> Terms:
        """Terms with this dataset's root and length, and ``terms``' other fields."""
        return Terms(dataset_root=self.tree.root, n_batches=len(self.batches), **terms)
