"""A proof on disk (ezkl's proof.json, unchanged so ezkl's own tools read it) and its public values.

ezkl writes the proof bytes twice: ``proof`` (a list of bytes, what ``ezkl.verify`` reads) and
``hex_proof`` (a hex string). :meth:`Proof.load`, through which every proof file zkgrad reads
passes, refuses a file whose two encodings disagree, so the bytes checked off chain are always
the bytes sent on chain (:attr:`Proof.proof_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import fsio
from ..errors import InputError
from ..layout import felt

UNCHANGED = "pass the proof.json 'zkgrad prove' wrote, unchanged"


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
        proof.proof_bytes  # noqa: B018 - read now, so a damaged file is refused here and not halfway through a command
        try:
            proof.instances  # noqa: B018
        except (TypeError, ValueError, AttributeError):
            raise InputError(f"{path} is a damaged ezkl proof: 'instances' are not all BN254 field elements",
                             hint=UNCHANGED, path=str(path)) from None
        return proof

    @cached_property
    def instances(self) -> list[int]:
        """Public values as field elements, flattened in the circuit's instance order."""
        inst = self.data["instances"]
        flat = [v for col in inst for v in col] if inst and isinstance(inst[0], list) else list(inst)
        return [felt(v) for v in flat]

    @cached_property
    def proof_bytes(self) -> bytes:
        """The proof bytes: what ezkl verifies off chain and what is sent on chain, one and the same
        (InputError when the file's two encodings disagree, or are not bytes)."""
        return proof_bytes_of(self.data, self.path)

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


def proof_bytes_of(data: dict[str, Any], path: Path | str) -> bytes:
    """The one byte string that ``proof`` (a list of bytes) and ``hex_proof`` (hex) both encode;
    either may be absent, not both. InputError naming ``path`` when they are not bytes, or when
    they are two different proofs."""
    encodings: dict[str, bytes] = {}
    try:
        hx = data.get("hex_proof")
        if hx is not None:
            if not isinstance(hx, str):
                raise TypeError(f"'hex_proof' is a {type(hx).__name__}, not a hex string")
            encodings["hex_proof"] = bytes.fromhex(hx.removeprefix("0x"))
        raw = data.get("proof")
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in raw):
                raise TypeError("'proof' is not a list of bytes")
            encodings["proof"] = bytes(raw)  # ValueError for a value outside 0..255
        if not encodings or not any(encodings.values()):
            raise ValueError("no proof bytes")
    except (TypeError, ValueError) as e:
        raise InputError(f"{path} is a damaged ezkl proof: 'hex_proof'/'proof' are not proof bytes ({e})",
                         hint=UNCHANGED, path=str(path)) from None
    if len(encodings) == 2 and encodings["proof"] != encodings["hex_proof"]:
        a, b = encodings["proof"], encodings["hex_proof"]
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise InputError(
            f"{path} holds two different proofs: its 'proof' and 'hex_proof' encodings disagree from byte {at} "
            f"({len(a)} and {len(b)} bytes)",
            hint="ezkl verifies 'proof' off chain while the chain is sent 'hex_proof', so neither can be trusted; "
                 + UNCHANGED, path=str(path), byte=at)
    return next(iter(encodings.values()))
