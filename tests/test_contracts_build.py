"""contracts.py: the project's Solidity sources compile, and the build cache is keyed by them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkgrad.chain import contracts
from zkgrad.errors import MissingFileError
from zkgrad.toolchain import EIP170_LIMIT


def test_registry_compiles_under_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKGRAD_CACHE", str(tmp_path))
    monkeypatch.setattr(contracts, "_memory", {})
    registry = contracts.compile_registry()
    assert registry.name == "ZkgradRegistry" and 0 < registry.runtime_size < EIP170_LIMIT
    assert len(list((tmp_path / "solc").glob("*.json"))) == 1
    # a second compile is served from disk without a compiler
    monkeypatch.setattr(contracts, "_memory", {})
    monkeypatch.setattr(contracts, "find_solc", lambda: pytest.fail("compiled again"))
    assert contracts.compile_registry() == registry


def test_an_edited_source_gets_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "IVerifier.sol").write_text((contracts.contracts_dir() / "IVerifier.sol").read_text())
    monkeypatch.setattr(contracts, "contracts_dir", lambda: src)
    monkeypatch.setenv("ZKGRAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(contracts, "_memory", {})
    body = (
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.20;\n"
        "contract C { function f() external pure returns (uint256) { return %d; } }\n"
    )
    (src / "C.sol").write_text(body % 1)
    first = contracts.compile_contracts(["C.sol"])["C"]
    (src / "C.sol").write_text(body % 2)
    second = contracts.compile_contracts(["C.sol"])["C"]
    assert first.bytecode != second.bytecode
    with pytest.raises(MissingFileError):
        contracts.compile_contracts(["Missing.sol"])
