"""Finding and running the external tools: the Solidity compiler, foundry's anvil, forge and
cast, and the Solidity libraries (OpenZeppelin) that contracts import.

All come from npm, pinned, into the tools folder (``$ZKGRAD_TOOLS`` or ``<repo>/.tools``);
``scripts/bootstrap`` installs them. Lookup order for each tool: the explicit setting
(``ZKGRAD_SOLC`` / ``ZKGRAD_ANVIL`` / ``ZKGRAD_FORGE`` / ``ZKGRAD_CAST``), then the tools folder,
then PATH. Imports such as ``@openzeppelin/contracts/...`` resolve in the tools folder's
``node_modules`` (``library_dir``); solc names them by the import path, so a build does not
depend on where the tools folder is.

solc must be the pinned version (``SOLC_VERSION``): a compiler of another version on PATH is
passed over for the next candidate, and when none is left the lookup is refused with one line
naming the version found and the pin. An explicit ``ZKGRAD_SOLC`` of another version is refused
outright. Only building contracts needs solc: the project's own contracts ship compiled
(``zkgrad/contracts/build.json``), and ezkl's verifier of a circuit is compiled once, at
``zkgrad compile``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from .errors import ToolchainError

# Pins; scripts/bootstrap repeats them (tests/test_toolchain.py checks that both agree).
SOLC_VERSION = "0.8.28"
FOUNDRY_VERSION = "1.7.1"  # anvil, forge and cast
OPENZEPPELIN_VERSION = "5.7.0"
MERKLE_TREE_VERSION = "1.0.8"  # @openzeppelin/merkle-tree, the JS reference of the dataset tree
SOLADY_VERSION = "0.1.26"  # SSTORE2, for the verifier adapter's key artifact
NPM_PACKAGES = (
    f"solc@{SOLC_VERSION}",
    f"@foundry-rs/anvil-linux-amd64@{FOUNDRY_VERSION}",
    f"@foundry-rs/forge-linux-amd64@{FOUNDRY_VERSION}",
    f"@foundry-rs/cast-linux-amd64@{FOUNDRY_VERSION}",
    f"@openzeppelin/contracts@{OPENZEPPELIN_VERSION}",
    f"@openzeppelin/merkle-tree@{MERKLE_TREE_VERSION}",
    f"solady@{SOLADY_VERSION}",
)
INSTALL_HINT = "run scripts/bootstrap, or: npm install --prefix .tools " + " ".join(NPM_PACKAGES)

EIP170_LIMIT = 24576  # bytes of runtime code a contract may have on mainnet
_COMPILE_TIMEOUT_S = 600


class SolidityCompileError(ToolchainError):
    """solc refused the sources; ``message`` is solc's first error."""


class ContractSizeWarning(UserWarning):
    """A contract's runtime code is larger than EIP-170 allows on public chains."""


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def tools_dir() -> Path:
    """The folder npm installs the pinned tools into."""
    env = os.environ.get("ZKGRAD_TOOLS")
    return Path(env).expanduser() if env else repo_root() / ".tools"


def library_dir() -> Path:
    """Where Solidity imports of npm packages (``@openzeppelin/contracts/...``) resolve."""
    return tools_dir() / "node_modules"


def _explicit(var: str) -> Path | None:
    value = os.environ.get(var)
    if not value:
        return None
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolchainError(
            f"{var} points to {path}, which is not an executable file",
            hint=f"fix or unset {var}",
            path=str(path),
        )
    return path


def _executable(path: Path) -> Path | None:
    return path if path.is_file() and os.access(path, os.X_OK) else None


# --- solc -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes  # creation code
    runtime_size: int  # bytes of deployed code; compare with EIP170_LIMIT


@dataclass(frozen=True)
class Compilation:
    contracts: dict[str, CompiledContract]  # as ``Solc.compile`` returns them
    imports: dict[str, Path]  # source units solc read from disk beyond those given: name -> file


@dataclass(frozen=True)
class Solc:
    """A Solidity compiler, native ``solc`` or solc-js, driven through standard JSON."""

    path: Path
    kind: Literal["native", "js"] = field(default="native")

    @property
    def version(self) -> str:
        """The full version, e.g. ``0.8.28+commit.7893614a.Emscripten.clang``."""
        st = self.path.stat()
        return _version(self, st.st_size, st.st_mtime_ns)

    @property
    def pinned(self) -> bool:
        return self.version.split("+")[0] == SOLC_VERSION

    def compile(
        self,
        sources: dict[str, str] | list[Path],
        *,
        optimize_runs: int = 1,
        via_ir: bool = False,
    ) -> dict[str, CompiledContract]:
        """Compile ``{file name: source}`` or files on disk; returns contracts by name
        (``"file:Name"`` where two files define the same name). Imports resolve next to the
        files, then in ``library_dir()``; the contracts of libraries imported from there
        (OpenZeppelin's) are not returned."""
        return self.compilation(sources, optimize_runs=optimize_runs, via_ir=via_ir).contracts

    def compilation(
        self,
        sources: dict[str, str] | list[Path],
        *,
        optimize_runs: int = 1,
        via_ir: bool = False,
    ) -> Compilation:
        """``compile``, and which files solc imported besides the given ones."""
        libs = library_dir()
        roots = [libs] if libs.is_dir() else []
        if isinstance(sources, dict):
            texts = dict(sources)
        else:
            paths = [Path(p).resolve() for p in sources]
            if not paths:
                raise ToolchainError("no Solidity sources given")
            base = Path(os.path.commonpath([p.parent for p in paths]))
            texts = {}
            for p in paths:
                if not p.is_file():
                    raise ToolchainError(f"Solidity source not found: {p}", path=str(p))
                texts[p.relative_to(base).as_posix()] = p.read_text()
            roots.insert(0, base)
        args = ["--standard-json"]
        if roots:  # the first is the base path, the others include paths: searched in this order
            args += ["--base-path", str(roots[0]), *(f"--include-path={r}" for r in roots[1:])]
        request = {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in texts.items()},
            "settings": {
                "optimizer": {"enabled": True, "runs": optimize_runs},
                "viaIR": via_ir,
                "outputSelection": {
                    "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
                },
            },
        }
        out = _parse_json_output(self._run(args, stdin=json.dumps(request)), self.path)
        errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
        if errors:
            first = errors[0]
            text = (first.get("formattedMessage") or first.get("message", "")).strip()
            missing_lib = "not found" in text and '"@openzeppelin/' in text
            raise SolidityCompileError(
                f"solc: {text.splitlines()[0] if text else 'compilation failed'}",
                hint=INSTALL_HINT if missing_lib else "fix the Solidity source",
                errors=[e.get("formattedMessage", e.get("message")) for e in errors],
            )
        imports = {name: _located(name, roots) for name in out.get("sources", {}) if name not in texts}
        from_libs = {name for name, file in imports.items() if file.is_relative_to(libs)}
        return Compilation(_collect({f: c for f, c in out.get("contracts", {}).items() if f not in from_libs}), imports)

    def _run(self, args: list[str], *, stdin: str | None) -> str:
        # stdin and stdout are files, not pipes: solc-js reads stdin with a synchronous read
        # that fails with EAGAIN on a pipe that is not ready, and exits before node has flushed
        # a stdout pipe (which cut its output at 64 KiB).
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as inp:
            inp.write((stdin or "").encode())
            inp.seek(0)
            try:
                done = subprocess.run(
                    [str(self.path), *args],
                    stdin=inp if stdin is not None else subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.PIPE,
                    timeout=_COMPILE_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ToolchainError(f"cannot run {self.path}: {exc}", hint=INSTALL_HINT) from exc
            out.seek(0)
            stdout = out.read().decode(errors="replace")
        if done.returncode != 0:
            detail = (done.stderr.decode(errors="replace") or stdout).strip().splitlines()
            raise ToolchainError(
                f"{self.path.name} exited with {done.returncode}: {detail[-1] if detail else ''}",
                hint=INSTALL_HINT,
                path=str(self.path),
            )
        return stdout


@cache
def _version(solc: Solc, size: int, mtime_ns: int) -> str:  # keyed by the file: a replaced binary is asked again
    out = solc._run(["--version"], stdin=None)
    match = re.search(r"\d+\.\d+\.\d+\S*", out)
    if not match:
        raise ToolchainError(f"cannot read the version of {solc.path}", hint=INSTALL_HINT, path=str(solc.path))
    return match.group(0)


def _located(name: str, roots: list[Path]) -> Path:
    """The file that solc read for the source unit ``name``: the first root that has it."""
    for root in roots:
        if (root / name).is_file():
            return root / name
    raise ToolchainError(f"solc imported {name}, which is in none of {', '.join(map(str, roots))}")


def _parse_json_output(stdout: str, path: Path) -> dict[str, Any]:
    # solc-js prints a note ("Cannot retry compilation with SMT ...") before the JSON.
    start = stdout.find("{")
    try:
        out, _ = json.JSONDecoder().raw_decode(stdout[start:]) if start >= 0 else (None, 0)
    except json.JSONDecodeError:
        out = None
    if not isinstance(out, dict):
        raise ToolchainError(f"{path.name} gave no standard-JSON output", hint=INSTALL_HINT)
    return out


def _collect(contracts: dict[str, dict[str, Any]]) -> dict[str, CompiledContract]:
    found = [(f, n, c) for f, per_file in contracts.items() for n, c in per_file.items()]
    names = [n for _, n, _ in found]
    result: dict[str, CompiledContract] = {}
    for file, name, c in found:
        evm = c.get("evm", {})
        runtime = bytes.fromhex(evm.get("deployedBytecode", {}).get("object", ""))
        contract = CompiledContract(
            name=name,
            abi=c.get("abi", []),
            bytecode=bytes.fromhex(evm.get("bytecode", {}).get("object", "")),
            runtime_size=len(runtime),
        )
        if contract.runtime_size > EIP170_LIMIT:
            warnings.warn(
                f"{name}: runtime code is {contract.runtime_size} bytes, over the EIP-170 "
                f"limit of {EIP170_LIMIT}; public chains will refuse to deploy it",
                ContractSizeWarning,
                stacklevel=3,
            )
        result[name if names.count(name) == 1 else f"{file}:{name}"] = contract
    return result


def find_solc() -> Solc:
    """The pinned solc: ZKGRAD_SOLC, else the first of the tools folder's solcjs, ``solc`` and
    ``solcjs`` on PATH that is ``SOLC_VERSION``."""
    explicit = _explicit("ZKGRAD_SOLC")
    if explicit:
        is_js = "solcjs" in explicit.name or explicit.suffix == ".js"
        return _pinned([Solc(explicit, "js" if is_js else "native")], "ZKGRAD_SOLC")
    local = _executable(tools_dir() / "node_modules" / ".bin" / "solcjs")
    found = [Solc(local, "js")] if local else []
    for name, kind in (("solc", "native"), ("solcjs", "js")):
        on_path = shutil.which(name)
        if on_path:
            found.append(Solc(Path(on_path), kind))  # type: ignore[arg-type]
    if not found:
        raise ToolchainError("no Solidity compiler found (solc or solcjs)", hint=INSTALL_HINT)
    return _pinned(found, "")


def _pinned(candidates: list[Solc], setting: str) -> Solc:
    for solc in candidates:
        if solc.pinned:
            return solc
    other = candidates[0]
    fix = f"point {setting} at a solc {SOLC_VERSION} or unset it" if setting else INSTALL_HINT
    raise ToolchainError(f"{other.path} is solc {other.version.split('+')[0]}, but zkgrad is pinned to "
                         f"solc {SOLC_VERSION}", hint=fix, path=str(other.path), found=other.version)


# --- foundry: anvil, forge, cast ------------------------------------------------------------
def _foundry_tool(name: str) -> Path:
    """``ZKGRAD_<NAME>``, then the tools folder, then ``name`` on PATH."""
    explicit = _explicit(f"ZKGRAD_{name.upper()}")
    if explicit:
        return explicit
    modules = tools_dir() / "node_modules"
    for candidate in (
        modules / ".bin" / name,
        modules / "@foundry-rs" / f"{name}-linux-amd64" / "bin" / name,
    ):
        if _executable(candidate):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolchainError(f"{name} not found", hint=INSTALL_HINT)


def find_anvil() -> Path:
    """ZKGRAD_ANVIL, then the tools folder, then ``anvil`` on PATH."""
    return _foundry_tool("anvil")


def find_forge() -> Path:
    """ZKGRAD_FORGE, then the tools folder, then ``forge`` on PATH."""
    return _foundry_tool("forge")


def find_cast() -> Path:
    """ZKGRAD_CAST, then the tools folder, then ``cast`` on PATH."""
    return _foundry_tool("cast")


def forge_env() -> dict[str, str]:
    """The environment for forge over the repository (its ``foundry.toml``), from any working
    folder: compile with the pinned solc-js through ``tests/forge/solc``, a shim that answers like
    a native solc (none can be downloaded offline), and import OpenZeppelin from this session's
    tools folder."""
    oz, solady = library_dir() / "@openzeppelin" / "contracts", library_dir() / "solady"
    return {**os.environ, "FOUNDRY_SOLC": str(repo_root() / "tests" / "forge" / "solc"),
            "FOUNDRY_REMAPPINGS": f"@openzeppelin/contracts/={oz}/\nsolady/={solady}/", "FOUNDRY_OFFLINE": "true"}
