"""Off-chain verification: ezkl's verifier with the circuit's own key and SRS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..circuits import engine
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
    missing files are errors."""
    path = proof.path if isinstance(proof, Proof) else Path(proof)
    if not path.is_file():
        raise MissingFileError(path, "proof")
    Proof.load(path)  # refuses what is not an ezkl proof at all
    circuit.check_complete()
    ok, reason = engine.verify(proof=path, settings=circuit.settings, vk=circuit.vk, srs=circuit.srs)
    return Verdict(ok, reason)
