"""zkgrad's own contracts, as shipped: the Solidity sources in this folder and their build.

``build.json`` holds the ABI and bytecode of every contract here, built once by the pinned solc
with the settings below (``python -m zkgrad.contracts.build`` rebuilds it; a test checks that a
rebuild is byte-identical). Deploying or calling them therefore needs no compiler. Imports of
``@openzeppelin/contracts/...`` resolve in the tools folder (the pinned npm package); build.json's
``sources`` records the sha256 of every file compiled, those included. ``forge test`` (foundry.toml)
compiles the same sources with the same settings for the Solidity tests in tests/forge.

    ZkgradRegistry.sol  the registry of models and their proven updates
    VkaVerifier.sol     adapter in front of ezkl's reusable verifier (one per circuit)
    IVerifier.sol       verifyProof(bytes,uint256[]): what the registry calls
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ToolchainError
from ..toolchain import CompiledContract

REGISTRY = "ZkgradRegistry"
ADAPTER = "VkaVerifier"
# The registry is small (about 9 KB of code): favour the gas of each call over code size.
# The IR pipeline saves about 1 k gas per accepted update over the legacy one.
OPTIMIZE_RUNS = 10_000
VIA_IR = True


def sources_dir() -> Path:
    """This folder: the sources that ``build.json`` was built from."""
    return Path(__file__).resolve().parent


def build_file() -> Path:
    return sources_dir() / "build.json"


@cache
def _build() -> dict[str, Any]:
    try:
        return dict(json.loads(build_file().read_text()))
    except (OSError, ValueError) as e:
        raise ToolchainError(f"zkgrad's contract build {build_file()} is unreadable: {e}",
                             hint="reinstall zkgrad, or rebuild it with 'python -m zkgrad.contracts.build'") from e


def shipped(name: str) -> CompiledContract:
    """The contract ``name`` as built into ``build.json``."""
    c = _build()["contracts"].get(name)
    if c is None:
        raise ToolchainError(f"contract {name} is not in {build_file()}",
                             hint="rebuild it with 'python -m zkgrad.contracts.build'")
    return CompiledContract(name, c["abi"], bytes.fromhex(c["bytecode"][2:]), int(c["runtime_size"]))
