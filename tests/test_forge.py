"""forge over the repository (foundry.toml), offline: the pinned solc-js behind tests/forge/solc,
OpenZeppelin from the tools folder, and the Solidity tests in tests/forge passing: the toolchain's
own, and the registry's rules with their fuzz tests (tests/forge/ZkgradRegistry.t.sol)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from zkgrad import toolchain

TOOLCHAIN_TESTS = {
    "test_fresh_registry_has_no_models()",
    "test_field_modulus_is_bn254_scalar_field()",
    "test_openzeppelin_merkle_proof()",
}
REGISTRY_TESTS = "tests/forge/ZkgradRegistry.t.sol"
INVARIANT_TESTS = "tests/forge/RegistryInvariants.t.sol"


@pytest.mark.forge
def test_forge_test_passes() -> None:
    forge = toolchain.find_forge()  # absent: fails with the install command, never skips
    done = subprocess.run([str(forge), "test", "--json"], cwd=toolchain.repo_root(), env=toolchain.forge_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stderr or done.stdout)[-3000:]
    suites = json.loads(done.stdout[done.stdout.index('{"'):])
    results = {(suite, name): r for suite, s in suites.items() for name, r in s["test_results"].items()}
    failed = {k: r["status"] for k, r in results.items() if r["status"] != "Success"}
    assert not failed
    ran = {name for suite, name in results if suite == "tests/forge/Toolchain.t.sol:ToolchainTest"}
    assert ran == TOOLCHAIN_TESTS
    # every test the registry's file declares ran, and each testFuzz_ was fuzzed (forge's default runs)
    declared = set(re.findall(r"function (test\w*)\(", (toolchain.repo_root() / REGISTRY_TESTS).read_text()))
    registry = {name.split("(")[0]: r for (suite, name), r in results.items() if suite.startswith(REGISTRY_TESTS)}
    assert registry.keys() == declared and len(declared) > 20
    assert all(r["kind"]["Fuzz"]["runs"] >= 256 for name, r in registry.items() if name.startswith("testFuzz_"))
    # the invariants held over the handler's random call sequences (foundry.toml [invariant])
    invariants = {name.split("(")[0]: r for (suite, name), r in results.items() if suite.startswith(INVARIANT_TESTS)}
    declared = set(re.findall(r"function (invariant_\w*)\(", (toolchain.repo_root() / INVARIANT_TESTS).read_text()))
    assert invariants.keys() == declared and len(declared) >= 4
    assert all(r["kind"]["Invariant"]["runs"] >= 64 and r["kind"]["Invariant"]["calls"] >= 64 * 40
               for r in invariants.values())


def test_the_solc_shim_answers_like_native_solc() -> None:
    """forge reads the last line of ``solc --version``; it must name the pinned version."""
    shim = toolchain.forge_env()["FOUNDRY_SOLC"]
    done = subprocess.run([shim, "--version"], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1].startswith(f"Version: {toolchain.SOLC_VERSION}+commit.")
