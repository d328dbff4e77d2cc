"""The project's own Solidity sources (``contracts/``), compiled on demand and cached.

Compiled output is cached by a hash of the sources, the pinned compiler version and the
settings: in memory, and on disk under ``$ZKGRAD_CACHE`` (default ``~/.cache/zkgrad``)/``solc``.
An edited source gets a new key, so the cache never serves stale bytecode, and a cached build
needs no compiler at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from zkgrad import fsio
from zkgrad.errors import MissingFileError, ToolchainError
from zkgrad.toolchain import SOLC_VERSION, CompiledContract, find_solc

REGISTRY = "ZkgradRegistry"
# The registry is small (about 9 KB of code): favour the gas of each call over code size.
# The IR pipeline saves about 1 k gas per accepted update over the legacy one.
REGISTRY_OPTIMIZE_RUNS = 10_000
VIA_IR = True
_memory: dict[str, dict[str, CompiledContract]] = {}


def contracts_dir() -> Path:
    """``<repo>/contracts``: the registry, its interface, and test-only contracts in ``test/``."""
    return Path(__file__).resolve().parents[2] / "contracts"


def cache_dir() -> Path:
    env = os.environ.get("ZKGRAD_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "zkgrad") / "solc"


def compile_contracts(
    files: list[str], *, optimize_runs: int = REGISTRY_OPTIMIZE_RUNS
) -> dict[str, CompiledContract]:
    """Compile ``files`` (paths relative to ``contracts_dir()``, with everything under it
    available for imports); returns contracts by name."""
    root = contracts_dir()
    for name in files:
        if not (root / name).is_file():
            raise MissingFileError(
                root / name, "Solidity source", hint="contracts/ ships with a source checkout of zkgrad"
            )
    sources = sorted(root.rglob("*.sol"))
    digest = hashlib.sha256()
    for part in (SOLC_VERSION, str(optimize_runs), str(VIA_IR), *sorted(files)):
        digest.update(part.encode() + b"\0")
    for path in sources:  # every source: an edited import changes the key too
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()
    if key in _memory:
        return _memory[key]
    cached = _load(cache_dir() / f"{key}.json")
    if cached is None:
        # IVerifier.sol sits at the root: with it in the list, solc's base path is the root
        # and imports such as test/X.sol's "../ZkgradRegistry.sol" resolve.
        paths = sorted({root / "IVerifier.sol", *(root / name for name in files)})
        cached = find_solc().compile(paths, optimize_runs=optimize_runs, via_ir=VIA_IR)
        _store(cache_dir() / f"{key}.json", cached)
    _memory[key] = cached
    return cached


def compile_registry() -> CompiledContract:
    """The ``ZkgradRegistry`` contract, compiled by the project's solc with the optimizer."""
    out = compile_contracts(["ZkgradRegistry.sol"])
    if REGISTRY not in out:
        raise ToolchainError(f"{REGISTRY} missing from the compiler output", hint="check contracts/")
    return out[REGISTRY]


def compile_test_contracts() -> dict[str, CompiledContract]:
    """Test-only contracts (``contracts/test/``) and everything they import."""
    root = contracts_dir()
    files = [p.relative_to(root).as_posix() for p in sorted((root / "test").glob("*.sol"))]
    return compile_contracts(files)


def _load(path: Path) -> dict[str, CompiledContract] | None:
    try:
        raw = json.loads(path.read_text())
        return {
            name: CompiledContract(c["name"], c["abi"], bytes.fromhex(c["bytecode"]), int(c["runtime_size"]))
            for name, c in raw.items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: compile again


def _store(path: Path, contracts: dict[str, CompiledContract]) -> None:
    data = {
        name: {"name": c.name, "abi": c.abi, "bytecode": c.bytecode.hex(), "runtime_size": c.runtime_size}
        for name, c in contracts.items()
    }
    with contextlib.suppress(OSError):  # a read-only home only costs a recompile next time
        fsio.write_json(path, data)
