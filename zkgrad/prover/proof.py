"""A proof on disk (ezkl's proof.json, unchanged so ezkl's own tools read it) and its public values."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import fsio
from ..errors import InputError
from ..layout import felt


@dataclass(frozen=True)
class Proof:
    path: Path
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, path: Path | str) -> "Proof":
        path = Path(path)
        data = fsio.read_json(path, "proof")
        if not isinstance(data, dict) or "instances" not in data or ("proof" not in data and "hex_proof" not in data):
            raise InputError(f"{path} is not an ezkl proof (no 'proof'/'instances')", hint="pass a proof.json from 'zkgrad prove'")
        proof = cls(path, data)
        try:  # read now, so a damaged file is refused here and not halfway through a command
            if not proof.proof_bytes:
                raise ValueError("no proof bytes")
        except (TypeError, ValueError) as e:
            raise InputError(f"{path} is a damaged ezkl proof: 'hex_proof'/'proof' are not proof bytes ({e})",
                             hint="pass the proof.json 'zkgrad prove' wrote, unchanged", path=str(path)) from None
        try:
            proof.instances  # noqa: B018
        except (TypeError, ValueError, AttributeError):
            raise InputError(f"{path} is a damaged ezkl proof: 'instances' are not all BN254 field elements",
                             hint="pass the proof.json 'zkgrad prove' wrote, unchanged", path=str(path)) from None
        return proof

    @cached_property
    def instances(self) -> list[int]:
        """Public values as field elements, flattened in the circuit's instance order."""
        inst = self.data["instances"]
        flat = [v for col in inst for v in col] if inst and isinstance(inst[0], list) else list(inst)
        return [felt(v) for v in flat]

    @cached_property
    def proof_bytes(self) -> bytes:
        hx = self.data.get("hex_proof")
        if isinstance(hx, str):
            return bytes.fromhex(hx.removeprefix("0x"))
        return bytes(self.data["proof"])

    @property
    def rescaled_outputs(self) -> list[list[float]] | None:
        pretty = self.data.get("pretty_public_inputs") or {}
        outs = pretty.get("rescaled_outputs")
        return [[float(v) for v in t] for t in outs] if outs else None


@dataclass(frozen=True)
class ProofResult:
    """What ``prove`` made: the proof, the model's outputs and the time each stage took."""

    proof: Proof
    outputs: list[list[float]]
    output_felts: list[list[int]]
    witness: dict[str, Any] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    prover: dict[str, Any] = field(default_factory=dict)
    """Who made it: ``pool``, ``backend`` (cpu or gpu), ``worker`` (host:pid), ``gpu_ids``."""

    @property
    def path(self) -> Path:
        return self.proof.path


def proof_document(proof: bytes, instances: list[int], version: str) -> dict[str, Any]:
    """An ezkl proof.json rebuilt from what a chain holds (proof bytes and public values)."""
    return {
        "protocol": None,
        "instances": [[v.to_bytes(32, "little").hex() for v in instances]],
        "proof": list(proof),
        "hex_proof": "0x" + proof.hex(),
        "split": None,
        "pretty_public_inputs": None,
        "timestamp": None,
        "version": version,
    }
