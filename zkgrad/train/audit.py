"""``zkgrad audit``: what a model id means, checked by a stranger from the chain and the data alone.

From the registration (its event holds the published spec, ``zkgrad.chain.published``) the
audit rebuilds the model's circuits with the same spec, data, calibration plan and SRS, and
checks, each as one named finding:

- the published spec's keccak is the registered digest, and its genesis the registered genesis;
- the data file's batch schedule gives the registered dataset root (and the held-out file the
  held-out commitment);
- each rebuilt circuit has the published content key, and each registered verifier holds exactly
  the code built from it (so a verifier built for another learning rate, say, fails here);
- the lineage: every accepted update's proof re-verifies from its calldata against the rebuilt step
  circuit and starts where the one before ended (``zkgrad.chain.lineage_audit``); under the ``public``
  commitment the words found there are each version's published weights, equal to its commitment.

The SRS files are inputs like the data: found by their sha256 in zkgrad's development-SRS cache or
in ``srs_dirs``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..chain.deployments import code_hash, verifier_mismatch
from ..chain.lineage_audit import AuditReport, audit
from ..chain.registry import Registry
from ..circuits.evaluation import compile_evaluation
from ..circuits.model_circuits import compile_circuits
from ..errors import InputError
from ..fsio import zkgrad_home
from ..model.checkpoint import genesis
from ..model.dataset import check, held_out_commitment
from ..progress import Reporter
from ..verifier.solidity import build_verifier
from .join import data_file, model_srs, published


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str = ""


@dataclass
class ModelAudit:
    model_id: int
    findings: list[Finding] = field(default_factory=list)
    lineage: AuditReport | None = None

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings) and self.lineage is not None and self.lineage.ok

    def add(self, what: str, ok: bool, detail: str = "") -> bool:
        self.findings.append(Finding(what, ok, detail))
        return ok

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "ok": self.ok, "findings": [asdict(f) for f in self.findings],
                "lineage": self.lineage.to_dict() if self.lineage else None}


def audit_model(registry: Registry, model_id: int, *, data: str | None = None, held_out: str | None = None,
                srs_dirs: tuple[Path, ...] = (), work: Path | None = None,
                reporter: Reporter | None = None) -> ModelAudit:
    """Audit model ``model_id``; ``data``/``held_out`` (a file or a built-in name) default to the
    sources the published spec names."""
    info = registry.model(model_id)
    report = ModelAudit(model_id)
    pub = published(registry, model_id)
    if not report.add("published spec", pub is not None, "its keccak is the registered digest"):
        return report
    assert pub is not None
    spec = pub.spec
    g = genesis(spec)
    registered = registry.version_record(model_id, 0)
    report.add("genesis", g.commitment == info.genesis and g.weights_commitment == registered.weights,
               "the spec's seed gives the registered genesis state and weights")
    try:
        train = data_file(data or pub.dataset.source, spec)
        tree = check(pub.dataset, spec, train)
        ok = tree.root == info.terms.dataset_root and pub.dataset.n_batches == info.terms.n_batches
        report.add("dataset", ok, f"{pub.dataset.n_batches} batches of {pub.dataset.source}: root "
                   f"0x{tree.root.hex()[:16]}…" + ("" if ok else f", registered 0x{info.terms.dataset_root.hex()[:16]}…"))
    except InputError as e:
        report.add("dataset", False, e.message)
        return report
    held = pub.dataset.held_out
    evaluation = pub.circuits.get("evaluation")
    held_ds = None
    if info.terms.evaluated:
        try:
            if held is None or evaluation is None:
                raise InputError("the model has an evaluation verifier but its spec names no held-out set")
            held_ds = data_file(held_out or held.source, spec, "--held-out")
            ok = held_out_commitment(spec, held_ds, held.size) == info.terms.held_out
            report.add("held-out set", ok, f"the first {held.size} samples of {held.source}")
        except InputError as e:
            report.add("held-out set", False, e.message)
            return report
    srs: dict[str, Path] = {}
    for name, rec in pub.circuits.items():
        found = model_srs(pub, name, srs_dirs)
        if not report.add(f"{name} SRS", found is not None,
                          f"sha256 {rec['srs']['sha256'][:16]}… ({rec['srs']['kind']})"
                          + ("" if found else ": not found; pass the folder holding it with --srs-dir")):
            return report
        srs[name] = found  # type: ignore[assignment]
    plan = pub.plan
    out = work or zkgrad_home() / "audit" / info.spec_digest.hex()[:16]
    circuits, _ = compile_circuits(spec, g, train, out=out, srs=srs, plan=plan, reporter=reporter,
                                   verifier=build_verifier)
    built = {"step": circuits.step, "answer": circuits.answer}
    if info.terms.evaluated and held is not None and held_ds is not None:
        built["evaluation"], _ = compile_evaluation(spec, g, train, held_ds, out=out / "evaluation", size=held.size,
                                                    srs=srs["evaluation"], plan=plan, reporter=reporter,
                                                    verifier=build_verifier)
    addresses = {"step": info.terms.step_verifier, "answer": info.terms.answer_verifier,
                 "evaluation": info.terms.eval_verifier}
    hashes = dict(zip(("step", "answer", "evaluation"), info.code_hashes))
    for name, c in built.items():
        report.add(f"{name} circuit", c.key == pub.circuits[name]["key"], "rebuilt with the published key")
        why = verifier_mismatch(registry.w3, c, addresses[name]) or (
            None if code_hash(registry.w3, addresses[name]) == "0x" + hashes[name].hex()
            else "its code changed since registration")
        report.add(f"{name} verifier", why is None, f"{addresses[name]}" + (f": {why}" if why else ""))
    report.lineage = audit(registry, model_id, circuits.step)
    return report
