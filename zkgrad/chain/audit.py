"""Audit a model's lineage from the chain alone: every accepted update's proof and public values are
read back from its transaction's calldata, re-verified off-chain against the step circuit, and
checked to start where the one before ended (the first one at the registered genesis)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import fsio
from ..circuits.artifacts import Circuit
from ..layout import StepLayout
from ..prover.proof import proof_document
from ..verifier.offchain import verify
from .registry import Registry


@dataclass
class AuditedStep:
    version: int
    tx_hash: str
    verified: bool
    chained: bool
    matches_event: bool
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
        return ends_at_head and all(s.verified and s.chained and s.matches_event for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "genesis": self.genesis, "head": self.head, "ok": self.ok,
                "steps": [asdict(s) for s in self.steps]}


def audit(registry: Registry, model_id: int, step_circuit: Circuit) -> AuditReport:
    info = registry.model(model_id)
    layout = StepLayout(info.n_params)
    history = {r.tx_hash: r for r in registry.history(model_id)}
    report = AuditReport(model_id, "0x" + info.genesis.hex(), "0x" + info.head.hex())
    expected_before = info.genesis
    with tempfile.TemporaryDirectory(prefix="zkgrad-audit-") as tmp:
        for sub in registry.updates_calldata(model_id):
            inst = list(sub.instances)
            rec = history.get(sub.tx_hash)
            path = fsio.write_json(Path(tmp) / f"{sub.version}.json",
                                   proof_document(sub.proof, inst, step_circuit.manifest["ezkl"]))
            try:
                before, after, batch = (layout.before_commitment(inst), layout.after_commitment(inst),
                                        layout.batch_commitment(inst))
            except Exception as e:  # noqa: BLE001 - malformed calldata is a failed audit, not a crash
                report.steps.append(AuditedStep(sub.version, sub.tx_hash, False, False, False, str(e)))
                continue
            verdict = verify(path, step_circuit)
            chained = before == expected_before
            matches = rec is not None and (rec.before, rec.after, rec.batch) == (before, after, batch)
            reason = "; ".join(r for r, bad in ((f"proof refused: {verdict.reason}", not verdict),
                                                ("does not start where the previous step ended", not chained),
                                                ("calldata differs from the accepted event", not matches)) if bad)
            report.steps.append(AuditedStep(sub.version, sub.tx_hash, bool(verdict), chained, matches, reason))
            expected_before = after
            report.last_after = "0x" + after.hex()
    return report
