"""A circuit folder: every artifact of one compiled circuit, addressed by content.

    model.onnx  sample.json  settings.json  model.compiled  pk.key  vk.key
    Verifier.sol  verifier.json (abi, bytecode)  manifest.json  deployments.json

``manifest.json`` is written last and never changed: a folder with a manifest is complete.
``deployments.json`` records where the verifier is deployed, per chain id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import fsio
from ..errors import DeploymentError, InputError, MissingFileError, SrsError
from .config import CircuitConfig

FORMAT = 1  # bump when the folder layout or the key's inputs change
DEV_SRS_WARNING = "development SRS: generated locally, NOT secure (its creator could forge proofs)"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def circuit_key(*, onnx_sha: str, sample_sha: str, config: CircuitConfig, srs_id: str, ezkl_version: str) -> str:
    """The content address: same model bytes, sample, settings, SRS and ezkl build → same circuit."""
    parts = [f"format={FORMAT}", f"ezkl={ezkl_version}", f"onnx={onnx_sha}", f"sample={sample_sha}",
             f"srs={srs_id}", f"config={config.canonical()}"]
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
    deployments_path = property(lambda self: self.path / "deployments.json")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return fsio.read_json(self.manifest_path, "circuit manifest")

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

    @cached_property
    def settings_data(self) -> dict[str, Any]:
        return fsio.read_json(self.settings, "circuit settings")

    @property
    def srs(self) -> Path:
        """The SRS this circuit was set up with; refuses a file that changed since."""
        info = self.manifest["srs"]
        path = Path(info["path"])
        if not path.is_file():
            raise SrsError(f"the SRS this circuit was set up with is missing: {path}",
                           hint="restore it, or recompile the circuit with --srs FILE")
        if path.stat().st_size != info.get("size", path.stat().st_size):
            raise SrsError(f"the SRS at {path} changed since this circuit was set up",
                           hint="restore the original file or recompile the circuit")
        return path

    def verifier(self) -> dict[str, Any]:
        return fsio.read_json(self.verifier_json, "compiled verifier")

    # per-chain deployments (mutable, separate from the immutable manifest)
    def deployments(self) -> dict[str, Any]:
        if not self.deployments_path.is_file():
            return {}
        return json.loads(self.deployments_path.read_text())

    def record_deployment(self, chain_id: int, record: dict[str, Any]) -> None:
        d = self.deployments()
        d[str(chain_id)] = record
        fsio.write_json(self.deployments_path, d)

    def deployed_address(self, chain_id: int) -> str:
        rec = self.deployments().get(str(chain_id))
        if not rec:
            raise DeploymentError(f"no verifier of circuit {self.path} is recorded on chain {chain_id}",
                                  hint=f"deploy it with 'zkgrad deploy {self.path}' or pass --address")
        return str(rec["address"])

    def check_complete(self) -> None:
        for p in (self.settings, self.compiled, self.pk, self.vk, self.verifier_json):
            if not p.is_file():
                raise InputError(f"circuit folder {self.path} is incomplete: {p.name} is missing",
                                 hint="recompile it with 'zkgrad compile'")
