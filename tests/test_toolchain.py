"""Finding solc and foundry's tools, and compiling Solidity (with OpenZeppelin imports) with the real solc."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from zkgrad import toolchain
from zkgrad.errors import ToolchainError
from zkgrad.toolchain import (
    EIP170_LIMIT,
    ContractSizeWarning,
    SolidityCompileError,
    find_anvil,
    find_cast,
    find_forge,
    find_solc,
)

TINY = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Tiny {
    error NotOwner(address caller);
    uint256 public value;
    function set(uint256 v) external { value = v; }
}
"""


def _fake(path: Path, version: str = toolchain.SOLC_VERSION) -> Path:
    """An executable that answers ``--version`` like solc of ``version``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}+commit.00000000.fake\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty tools folder and PATH, no explicit settings."""
    tools, bin_dir = tmp_path / "tools", tmp_path / "bin"
    tools.mkdir()
    bin_dir.mkdir()
    monkeypatch.setenv("ZKGRAD_TOOLS", str(tools))
    monkeypatch.setenv("PATH", str(bin_dir))
    for var in ("ZKGRAD_SOLC", "ZKGRAD_ANVIL", "ZKGRAD_FORGE", "ZKGRAD_CAST"):
        monkeypatch.delenv(var, raising=False)
    return {"tools": tools, "bin": bin_dir, "tmp": tmp_path}


# --- lookup order -----------------------------------------------------------------------
def test_solc_lookup_order(isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path_solcjs = _fake(isolated["bin"] / "solcjs")
    assert find_solc() == toolchain.Solc(path_solcjs, "js")
    path_solc = _fake(isolated["bin"] / "solc")
    assert find_solc() == toolchain.Solc(path_solc, "native")  # native beats solcjs on PATH
    local = _fake(isolated["tools"] / "node_modules" / ".bin" / "solcjs")
    assert find_solc() == toolchain.Solc(local, "js")  # tools folder beats PATH
    explicit = _fake(isolated["tmp"] / "my" / "solc")
    monkeypatch.setenv("ZKGRAD_SOLC", str(explicit))
    assert find_solc() == toolchain.Solc(explicit, "native")  # the setting beats everything


def test_solc_of_another_version_on_path_is_passed_over(isolated: dict[str, Path]) -> None:
    _fake(isolated["bin"] / "solc", "0.8.30")
    with pytest.raises(ToolchainError) as info:
        find_solc()
    assert str(info.value).count("\n") == 0
    assert "solc 0.8.30" in info.value.message and f"pinned to solc {toolchain.SOLC_VERSION}" in info.value.message
    assert info.value.hint is not None and "scripts/bootstrap" in info.value.hint
    pinned = _fake(isolated["bin"] / "solcjs")
    assert find_solc() == toolchain.Solc(pinned, "js")  # the pinned one further down the list wins


def test_explicit_solc_of_another_version_is_refused(isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(isolated["bin"] / "solc")  # a pinned one on PATH does not override the explicit setting
    monkeypatch.setenv("ZKGRAD_SOLC", str(_fake(isolated["tmp"] / "old" / "solc", "0.8.19")))
    with pytest.raises(ToolchainError, match=r"is solc 0\.8\.19, but zkgrad is pinned") as info:
        find_solc()
    assert info.value.hint is not None and "ZKGRAD_SOLC" in info.value.hint


@pytest.mark.parametrize("find, name", [(find_anvil, "anvil"), (find_forge, "forge"), (find_cast, "cast")])
def test_foundry_tool_lookup_order(isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                   find, name: str) -> None:  # type: ignore[no-untyped-def]
    on_path = _fake(isolated["bin"] / name)
    assert find() == on_path
    package_bin = _fake(isolated["tools"] / f"node_modules/@foundry-rs/{name}-linux-amd64/bin/{name}")
    assert find() == package_bin
    dot_bin = _fake(isolated["tools"] / "node_modules" / ".bin" / name)
    assert find() == dot_bin
    explicit = _fake(isolated["tmp"] / "my" / name)
    monkeypatch.setenv(f"ZKGRAD_{name.upper()}", str(explicit))
    assert find() == explicit


def test_tools_dir_defaults_to_repo_dot_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZKGRAD_TOOLS", raising=False)
    assert toolchain.tools_dir() == Path(toolchain.__file__).resolve().parent.parent / ".tools"


@pytest.mark.parametrize("find, var", [(find_solc, "ZKGRAD_SOLC"), (find_anvil, "ZKGRAD_ANVIL"),
                                       (find_forge, "ZKGRAD_FORGE"), (find_cast, "ZKGRAD_CAST")])
def test_explicit_setting_to_a_missing_file_is_refused(
    isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch, find, var: str  # type: ignore[no-untyped-def]
) -> None:
    for name in ("solc", "anvil", "forge", "cast"):
        _fake(isolated["bin"] / name)  # present on PATH, yet the wrong setting is not ignored
    monkeypatch.setenv(var, str(isolated["tmp"] / "nope"))
    with pytest.raises(ToolchainError, match=var):
        find()


@pytest.mark.parametrize("find", [find_solc, find_anvil, find_forge, find_cast])
def test_missing_tool_names_the_install_command(isolated: dict[str, Path], find) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ToolchainError) as info:
        find()
    assert info.value.hint is not None
    assert "scripts/bootstrap" in info.value.hint
    npm = ("npm install --prefix .tools solc@0.8.28 @foundry-rs/anvil-linux-amd64@1.7.1 "
           "@foundry-rs/forge-linux-amd64@1.7.1 @foundry-rs/cast-linux-amd64@1.7.1 "
           "@openzeppelin/contracts@5.7.0 @openzeppelin/merkle-tree@1.0.8")
    assert npm in info.value.hint


def test_bootstrap_pins_agree_with_the_module() -> None:
    root = Path(toolchain.__file__).resolve().parent.parent
    script = (root / "scripts" / "bootstrap").read_text()
    pins = dict(re.findall(r'^(\w+_VERSION)="([^"]+)"$', script, re.M))
    npm_pins = ("SOLC_VERSION", "FOUNDRY_VERSION", "OPENZEPPELIN_VERSION", "MERKLE_TREE_VERSION", "SOLADY_VERSION")
    assert {k: pins[k] for k in npm_pins} == {k: getattr(toolchain, k) for k in npm_pins}
    listed = re.search(r"^NPM_PACKAGES=\((.*?)\)$", script, re.M | re.S)
    assert listed is not None
    packages = re.sub(r"\$\{(\w+)\}", lambda m: pins[m.group(1)], listed.group(1))
    assert tuple(re.findall(r'"([^"]+)"', packages)) == toolchain.NPM_PACKAGES


# --- the real compiler ------------------------------------------------------------------
@pytest.fixture(scope="module")
def solc() -> toolchain.Solc:
    return find_solc()


def test_real_solc_is_the_pinned_version(solc: toolchain.Solc) -> None:
    assert solc.version.startswith(toolchain.SOLC_VERSION + "+")


def test_compile_tiny_contract(solc: toolchain.Solc) -> None:
    out = solc.compile({"Tiny.sol": TINY})
    tiny = out["Tiny"]
    names = {(e["type"], e.get("name")) for e in tiny.abi}
    assert {("function", "set"), ("function", "value"), ("error", "NotOwner")} <= names
    assert tiny.bytecode[:2] == bytes.fromhex("6080")  # solc's creation code preamble
    assert 0 < tiny.runtime_size < len(tiny.bytecode)


def test_compile_files_resolves_imports(solc: toolchain.Solc, tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Base.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Base { function one() external pure returns (uint256) { return 1; } }\n"
    )
    main = tmp_path / "Main.sol"
    main.write_text(
        '// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\nimport "lib/Base.sol";\n'
        "contract Main is Base {}\n"
    )
    out = solc.compile([main])
    assert any(e.get("name") == "one" for e in out["Main"].abi)
    assert "Base" in out


def test_compile_error_carries_the_first_message(solc: toolchain.Solc) -> None:
    bad = "pragma solidity ^0.8.24;\ncontract Bad { function f() external { undefinedThing(); } }\n"
    with pytest.raises(SolidityCompileError, match="Undeclared identifier") as info:
        solc.compile({"Bad.sol": bad})
    assert isinstance(info.value, ToolchainError)
    assert info.value.data["errors"]


def big_contract(size: int) -> str:
    """A contract whose runtime code holds a string literal of ``size`` bytes."""
    return (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Big { function blob() external pure returns (string memory) "
        f'{{ return "{"a" * size}"; }} }}\n'
    )


def test_oversized_runtime_warns_but_compiles(solc: toolchain.Solc) -> None:
    with pytest.warns(ContractSizeWarning, match="EIP-170"):
        out = solc.compile({"Big.sol": big_contract(EIP170_LIMIT + 1000)})
    assert out["Big"].runtime_size > EIP170_LIMIT


# --- OpenZeppelin imports, from the tools folder ------------------------------------------
OZ = "@openzeppelin/contracts/"
USES_OZ = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
contract UsesOz is ReentrancyGuardTransient {
    function check(bytes32[] calldata proof, bytes32 root, bytes32 leaf) external nonReentrant returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
"""


def test_compile_files_importing_openzeppelin(solc: toolchain.Solc, tmp_path: Path) -> None:
    (tmp_path / "UsesOz.sol").write_text(USES_OZ)
    out = solc.compilation([tmp_path / "UsesOz.sol"], optimize_runs=10_000, via_ir=True)
    assert set(out.contracts) == {"UsesOz"}  # OpenZeppelin's own contracts are not returned
    names = {(e["type"], e.get("name")) for e in out.contracts["UsesOz"].abi}
    assert {("function", "check"), ("error", "ReentrancyGuardReentrantCall")} <= names
    libs = toolchain.library_dir()
    assert out.imports == {n: libs / n for n in (
        OZ + "utils/cryptography/MerkleProof.sol", OZ + "utils/cryptography/Hashes.sol",
        OZ + "utils/ReentrancyGuardTransient.sol", OZ + "utils/TransientSlot.sol")}
    version = re.search(r'"version": "([^"]+)"', (libs / OZ / "package.json").read_text())
    assert version is not None and version.group(1) == toolchain.OPENZEPPELIN_VERSION
    assert solc.compile({"UsesOz.sol": USES_OZ}, optimize_runs=10_000, via_ir=True) == out.contracts


def test_openzeppelin_build_does_not_depend_on_the_tools_folder(
    solc: toolchain.Solc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """solc names imports by their path, not the folder they were found in: the bytecode (whose
    metadata hash covers every source) is the same from another tools folder, and changes with
    an imported file."""
    first = solc.compile({"UsesOz.sol": USES_OZ})["UsesOz"]
    other = tmp_path / "tools"
    shutil.copytree(toolchain.library_dir() / OZ / "utils", other / "node_modules" / OZ / "utils")
    monkeypatch.setenv("ZKGRAD_TOOLS", str(other))
    assert solc.compile({"UsesOz.sol": USES_OZ})["UsesOz"] == first
    hashes = other / "node_modules" / OZ / "utils/cryptography/Hashes.sol"
    hashes.write_text(hashes.read_text() + "\n// changed\n")
    assert solc.compile({"UsesOz.sol": USES_OZ})["UsesOz"].bytecode != first.bytecode


def test_missing_openzeppelin_names_the_install_command(
    solc: toolchain.Solc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZKGRAD_TOOLS", str(tmp_path))
    with pytest.raises(SolidityCompileError, match="MerkleProof.sol") as info:
        solc.compile({"UsesOz.sol": USES_OZ})
    assert info.value.hint is not None and "@openzeppelin/contracts@5.7.0" in info.value.hint
