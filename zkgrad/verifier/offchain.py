"""Off-chain verification: ezkl's verifier with the circuit's own key and SRS, run on exactly what
a chain is sent (the proof bytes and the public values as field elements)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import engine, fsio
from ..circuits.artifacts import Circuit
from ..errors import MissingFileError
from ..prover.proof import Proof


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a proof. Truthy when accepted; ``reason`` says why not."""

    accepted: bool
    reason: str = ""
    where: str = "off-chain"

    def __bool__(self) -> bool:
        return self.accepted


def verify(proof: Path | str | Proof, circuit: Circuit) -> Verdict:
    """Check ``proof`` against ``circuit``. A refused proof is a Verdict, never an exception;
    missing files are errors, and so is a file that is no ezkl proof or holds two different
    proofs (:meth:`Proof.load`). ezkl checks the document :func:`as_sent` rebuilds: the bytes
    ``submit`` and ``verify --onchain`` send, never another encoding the file may hold."""
    path = proof.path if isinstance(proof, Proof) else Path(proof)
    if not path.is_file():
        raise MissingFileError(path, "proof")
    loaded = Proof.load(path)  # read again: the file is what is checked, not an object made earlier
    circuit.check_complete()
    with tempfile.TemporaryDirectory(prefix="zkgrad-verify-") as tmp:
        sent = fsio.write_json(Path(tmp) / "proof.json", as_sent(loaded))
        ok, reason = engine.verify(proof=sent, settings=circuit.settings, vk=circuit.vk, srs=circuit.srs)
    return Verdict(ok, reason)


def as_sent(proof: Proof) -> dict[str, Any]:
    """The proof's document with both proof encodings rewritten from :attr:`Proof.proof_bytes` and
    every public value rewritten from the field element the chain is sent (columns kept)."""
    raw = proof.proof_bytes
    inst = proof.data["instances"]
    columns = inst if inst and isinstance(inst[0], list) else [inst]
    values = iter(proof.instances)
    return {**proof.data, "proof": list(raw), "hex_proof": "0x" + raw.hex(),
            "instances": [[next(values).to_bytes(32, "little").hex() for _ in col] for col in columns]}
