"""Audit a model's lineage from the chain alone, on any node (no debug_* RPC, logs read in pages).

Per accepted update (its UpdateAccepted event): its proof and public values are found in its
transaction's input (zkgrad.chain.calldata: the values are those whose commitments the event
names; under the ``public`` commitment the "after" values are the version's published weights,
so this checks every published checkpoint against its commitment), the proof is re-verified
off-chain against the step circuit, and the update must start where the one before ended (the
first at the registered genesis); the last must end at the head. An update whose input holds no
such values (a node serving other data, or a contract that read the proof from storage) fails
the audit, naming its version.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import fsio
from ..circuits.artifacts import Circuit
from ..prover.proof import proof_document
from ..verifier.offchain import verify
from .registry import Registry


@dataclass
class AuditedStep:
    version: int
    tx_hash: str
    verified: bool  # its proof verifies against the step circuit
    chained: bool  # it starts where the previous update ended
    in_calldata: bool  # its proof and public values are in its transaction's input
    reason: str = ""


@dataclass
class AuditReport:
    model_id: int
    genesis: str
    head: str
    steps: list[AuditedStep] = field(default_factory=list)
    last_after: str = ""
    """The "after" commitment of the last audited update: it must be the head."""

    @property
    def ok(self) -> bool:
        ends_at_head = not self.steps or self.head == self.last_after
        return ends_at_head and all(s.verified and s.chained and s.in_calldata for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "genesis": self.genesis, "head": self.head, "ok": self.ok,
                "steps": [asdict(s) for s in self.steps]}


def audit(registry: Registry, model_id: int, step_circuit: Circuit) -> AuditReport:
    info = registry.model(model_id)
    report = AuditReport(model_id, "0x" + info.genesis.hex(), "0x" + info.head.hex())
    expected_before = info.genesis
    with tempfile.TemporaryDirectory(prefix="zkgrad-audit-") as tmp:
        for sub in registry.updates_calldata(model_id):
            rec = sub.record
            chained = rec.before == expected_before
            if sub.proof is None:
                verified, refused = False, (
                    f"version {rec.version}: the input of {rec.tx_hash} holds no update whose published values hash to "
                    "the commitments the registry recorded (a node serving other data, or sent by a contract)")
            else:
                path = fsio.write_json(Path(tmp) / f"{rec.version}.json",
                                       proof_document(sub.proof, list(sub.instances), step_circuit.manifest["ezkl"]))
                verdict = verify(path, step_circuit)
                verified, refused = bool(verdict), f"proof refused: {verdict.reason}"
            reason = "; ".join(r for r, bad in ((refused, not verified),
                                                ("does not start where the previous step ended", not chained)) if bad)
            report.steps.append(AuditedStep(rec.version, rec.tx_hash, verified, chained, sub.proof is not None,
                                            reason))
            expected_before = rec.after
            report.last_after = "0x" + rec.after.hex()
    return report
