"""zkgrad/contracts: the shipped build is what the pinned solc makes of the shipped sources, and
using it needs no compiler."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from zkgrad import contracts, toolchain
from zkgrad.contracts import build
from zkgrad.errors import ToolchainError
from zkgrad.toolchain import EIP170_LIMIT


def test_rebuilding_gives_the_shipped_build_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built from a copy elsewhere: neither the checkout's location nor a forgotten rebuild hides."""
    copy = tmp_path / "sources"
    copy.mkdir()
    for source in contracts.sources_dir().glob("*.sol"):
        shutil.copyfile(source, copy / source.name)
    monkeypatch.setattr(build, "sources_dir", lambda: copy)
    assert toolchain.find_solc().pinned
    assert build.build() == contracts.build_file().read_text(), "run: python -m zkgrad.contracts.build"


def test_the_build_records_the_sources_it_was_made_from() -> None:
    """A cheap check of the same (no compiler): each source's sha256 is the one built, and so is
    each library file they import (by its import path, from the tools folder)."""
    doc = json.loads(contracts.build_file().read_text())
    own = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in contracts.sources_dir().glob("*.sol")}
    imported = {n: h for n, h in doc["sources"].items() if n not in own}
    assert {n: h for n, h in doc["sources"].items() if n in own} == own
    assert all(n.startswith(("@openzeppelin/contracts/", "solady/src/")) for n in imported)
    libs = toolchain.library_dir()
    assert imported == {n: hashlib.sha256((libs / n).read_bytes()).hexdigest() for n in imported}
    assert doc["solc"] == toolchain.SOLC_VERSION
    assert doc["settings"] == {"optimizer_runs": contracts.OPTIMIZE_RUNS, "via_ir": contracts.VIA_IR}


def test_a_changed_library_file_makes_the_build_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a throwaway source importing OpenZeppelin: two builds are byte-identical, the imported
    files are recorded, and changing one of them changes the build (so --check catches it)."""
    src, tools = tmp_path / "src", tmp_path / "tools"
    src.mkdir()
    (src / "Leaf.sol").write_text(
        '// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\n'
        'import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";\n'
        "contract Leaf { function ok(bytes32[] calldata p, bytes32 r, bytes32 l) external pure returns (bool) "
        "{ return MerkleProof.verifyCalldata(p, r, l); } }\n")
    oz = "node_modules/@openzeppelin/contracts/utils/cryptography"
    shutil.copytree(toolchain.library_dir().parent / oz, tools / oz)
    monkeypatch.setenv("ZKGRAD_SOLC", str(toolchain.find_solc().path))
    monkeypatch.setenv("ZKGRAD_TOOLS", str(tools))
    monkeypatch.setattr(build, "sources_dir", lambda: src)
    first = build.build()
    assert build.build() == first
    doc = json.loads(first)
    assert set(doc["contracts"]) == {"Leaf"}
    merkle = tools / oz / "MerkleProof.sol"
    assert doc["sources"]["@openzeppelin/contracts/utils/cryptography/MerkleProof.sol"] == \
        hashlib.sha256(merkle.read_bytes()).hexdigest()
    assert set(doc["sources"]) == {"Leaf.sol", "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol",
                                   "@openzeppelin/contracts/utils/cryptography/Hashes.sol"}
    (tools / oz / "Hashes.sol").write_text((tools / oz / "Hashes.sol").read_text() + "\n")
    changed = json.loads(build.build())
    assert changed["sources"] != doc["sources"]
    assert changed["contracts"]["Leaf"]["bytecode"] != doc["contracts"]["Leaf"]["bytecode"]


def test_shipped_contracts_load_without_a_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ZKGRAD_TOOLS", str(tmp_path))
    monkeypatch.delenv("ZKGRAD_SOLC", raising=False)
    with pytest.raises(ToolchainError):
        toolchain.find_solc()
    registry = contracts.shipped(contracts.REGISTRY)
    adapter = contracts.shipped(contracts.ADAPTER)
    assert 0 < registry.runtime_size < EIP170_LIMIT and 0 < adapter.runtime_size < EIP170_LIMIT
    assert registry.bytecode[:1] == b"\x60" and any(e.get("name") == "submitUpdate" for e in registry.abi)
    with pytest.raises(ToolchainError, match="NoSuchContract"):
        contracts.shipped("NoSuchContract")


def test_check_mode_reports_a_stale_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "build.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(build, "build_file", lambda: stale)
    monkeypatch.setattr(build, "build", lambda: '{"contracts": {}}\n')
    assert build.main(["--check"]) == 1
    assert "STALE" in capsys.readouterr().out
    assert build.main([]) == 0 and stale.read_text() == '{"contracts": {}}\n'
    assert build.main(["--check"]) == 0
