"""Proven evaluation: the head weights' accuracy on the model's registered held-out set, proven by
its evaluation circuit (the held-out set built in) and recorded on chain for that version."""

from __future__ import annotations

from ..chain.records import EvaluationRecord
from ..chain.registry import Registry
from ..circuits.evaluation import evaluation_input
from ..errors import ChainError, InputError, ProverError
from ..progress import Reporter
from ..prover.prove import prove
from .workspace import Workspace


def evaluate(ws: Workspace, registry: Registry, model_id: int, *, reporter: Reporter | None = None) -> EvaluationRecord:
    """Prove and submit the evaluation of the model's head, or return the one already accepted."""
    info = registry.model(model_id)
    if not info.terms.evaluated:
        raise InputError(f"model {model_id} was registered without an evaluation verifier",
                         hint="register a classifier with a held-out set ('zkgrad data commit --held-out')")
    done = next((e for e in registry.evaluations(model_id) if e.version == info.version), None)
    if done is not None:
        return done
    circuit = ws.circuits().evaluation
    if circuit is None:
        raise InputError(f"{ws.root} has no evaluation circuit", hint="compile it: 'zkgrad model compile --held-out'")
    ckpt = ws.checkpoint_for(info.head)
    if ckpt is None:
        raise ChainError(f"the head of model {model_id} (version {info.version}) is no checkpoint in {ws.root}",
                         hint="train from this workspace to the head first")
    out = ws.root / "evaluations" / f"{info.version:06d}.proof.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    r = prove(circuit, evaluation_input(ckpt), out=out, reporter=reporter)
    layout = info.eval_layout
    assert layout is not None
    if layout.weights_commitment(r.proof.instances) != info.head_weights:
        raise ProverError("the evaluation proof commits to other weights than the head's",
                          hint="recompile the evaluation circuit for this model")
    return registry.submit_evaluation(model_id, r.proof.proof_bytes, r.proof.instances)
