"""A circuit folder: every artifact of one compiled circuit, addressed by content.

    model.onnx  sample.json  settings.json  model.compiled  pk.key  vk.key
    Verifier.sol  verifier.json (abi, bytecode)  manifest.json  deployments.json

``manifest.json`` is written last and never changed: a folder with a manifest is complete.
The Solidity verifier (``Verifier.sol``, ``verifier.json``) is built into the folder before the
manifest by the verifier stage when the compile asks for it (``zkgrad compile`` always does).
``deployments.json`` (where the verifier is deployed, per chain id) is the chain layer's
(``zkgrad.chain.deployments.Deployments``).

The SRS a circuit was set up with is part of its identity: its sha256 enters the key and is
checked whenever the circuit is used, so keys set up on another SRS (a regenerated development
SRS, another ceremony file) are never mixed with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import fsio
from ..errors import CircuitError, InputError, MissingFileError, SrsError
from ..fsio import zkgrad_home
from .config import CircuitConfig

FORMAT = 2  # bump when the folder layout or the key's inputs change (2: the SRS by sha256)
DEV_SRS_WARNING = "development SRS: generated locally, NOT secure (its creator could forge proofs)"
_hashed: dict[tuple[Any, ...], str] = {}


def sha256_file(path: Path) -> str:
    """The file's sha256, remembered (in memory and in ``$ZKGRAD_HOME/sha256.json``) by path,
    size, inode and modification time: an SRS of gigabytes is read once, not at every use."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_ino, st.st_mtime_ns]
    memo = (str(path), *stamp)
    if memo in _hashed:
        return _hashed[memo]
    table = zkgrad_home() / "sha256.json"
    try:
        known = dict(json.loads(table.read_text()))
    except (OSError, ValueError, TypeError):
        known = {}
    entry = known.get(str(path))
    if isinstance(entry, list) and entry[:3] == stamp:
        digest = str(entry[3])
    else:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        digest = h.hexdigest()
        with contextlib.suppress(OSError):  # a read-only home only costs hashing again next time
            fsio.write_json(table, {**known, str(path): [*stamp, digest]})
    _hashed[memo] = digest
    return digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def circuit_key(*, onnx_sha: str, sample_sha: str, config: CircuitConfig, srs_sha: str, ezkl_version: str) -> str:
    """The content address: same model bytes, sample, settings, SRS (sha256) and ezkl build → same circuit."""
    parts = [f"format={FORMAT}", f"ezkl={ezkl_version}", f"onnx={onnx_sha}", f"sample={sample_sha}",
             f"srs={srs_sha}", f"config={config.canonical()}"]
    return sha256_bytes("\n".join(parts).encode())


@dataclass(frozen=True)
class Circuit:
    """A complete circuit folder."""

    path: Path

    @classmethod
    def open(cls, path: Path | str) -> "Circuit":
        path = Path(path)
        if not (path / "manifest.json").is_file():
            raise MissingFileError(path / "manifest.json", "circuit manifest",
                                   hint="compile a circuit first with 'zkgrad compile MODEL.onnx --sample INPUT.json'")
        return cls(path)

    # files
    onnx = property(lambda self: self.path / "model.onnx")
    sample = property(lambda self: self.path / "sample.json")
    settings = property(lambda self: self.path / "settings.json")
    compiled = property(lambda self: self.path / "model.compiled")
    pk = property(lambda self: self.path / "pk.key")
    vk = property(lambda self: self.path / "vk.key")
    verifier_sol = property(lambda self: self.path / "Verifier.sol")
    verifier_json = property(lambda self: self.path / "verifier.json")
    manifest_path = property(lambda self: self.path / "manifest.json")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        m = fsio.read_json(self.manifest_path, "circuit manifest")
        if not (isinstance(m, dict) and all(k in m for k in ("key", "config", "logrows"))
                and isinstance(m.get("srs"), dict) and {"kind", "path"} <= m["srs"].keys()):
            raise InputError(f"{self.manifest_path} is not a zkgrad circuit manifest",
                             hint="zkgrad writes it when compiling: compile the circuit again", path=str(self.manifest_path))
        return m

    @property
    def key(self) -> str:
        return str(self.manifest["key"])

    @property
    def config(self) -> CircuitConfig:
        return CircuitConfig.from_dict(self.manifest["config"])

    @property
    def logrows(self) -> int:
        return int(self.manifest["logrows"])

    @property
    def dev_srs(self) -> bool:
        return self.manifest["srs"]["kind"] == "dev"

    @property
    def srs(self) -> Path:
        """The SRS this circuit was set up with; refuses a file whose sha256 is not the recorded one."""
        info = self.manifest["srs"]
        path = Path(info["path"])
        if not path.is_file():
            raise SrsError(f"the SRS circuit {self.path} was set up with is missing: {path}",
                           hint="restore it, or compile the circuit again", path=str(path))
        found = sha256_file(path)
        if found != info.get("sha256"):
            raise SrsError(f"the SRS at {path} is not the one circuit {self.path} was set up with "
                           f"(sha256 {found[:12]}…, recorded {str(info.get('sha256'))[:12]}…)",
                           hint="restore that SRS file, or compile the circuit again", path=str(path))
        return path

    def verifier(self) -> dict[str, Any]:
        """verifier.json: the Solidity verifier built for this circuit."""
        if not self.verifier_json.is_file():
            raise CircuitError(f"circuit {self.path} was compiled without a Solidity verifier",
                               hint="compile it with 'zkgrad compile', which builds one", path=str(self.path))
        return fsio.read_json(self.verifier_json, "compiled verifier")

    def check_complete(self) -> None:
        for p in (self.settings, self.compiled, self.pk, self.vk):
            if not p.is_file():
                raise InputError(f"circuit folder {self.path} is incomplete: {p.name} is missing",
                                 hint="recompile it with 'zkgrad compile'")
