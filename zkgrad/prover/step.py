"""Proven training steps: checkpoint + batch → witness (cheap) → proof (costly) → next checkpoint.

A step folder holds everything one proven step produced:

    proof.json        ezkl proof; public values laid out as zkgrad.layout.StepLayout
    witness.json      the quantized step (kept so the proof can be made later, or elsewhere)
    step.json         summary: version, commitments, losses, fidelity, timings
    checkpoint/       the checkpoint after the step (exact integers and their commitment)

It is built in a staging folder beside it and appears, or replaces an older step, only as a whole.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import fsio
from ..circuits.checkpoint import Checkpoint
from ..circuits.float_graph import graph_step
from ..circuits.model_circuits import ModelCircuits
from ..circuits.quant import dequantize, quantize
from ..circuits.spec import ModelSpec
from ..errors import InputError, ProverError
from ..progress import Reporter, Timings
from .proof import Proof
from .prove import prove_witness
from .prove import witness as compute_witness

STEP_JSON = "step.json"


@dataclass(frozen=True)
class PendingStep:
    """A step whose witness exists and whose proof does not yet. It is built in a staging folder
    that becomes ``target`` as a whole once the proof is checked (``finish_step``)."""

    folder: Path
    target: Path
    before: Checkpoint
    after: Checkpoint
    summary: dict[str, Any] = field(repr=False)
    input_data: dict[str, Any] = field(repr=False, default_factory=dict)
    """The witness's input (state, x, y), so the proof can be made by another process."""

    @property
    def witness_path(self) -> Path:
        return self.folder / "witness.json"

    @property
    def proof_path(self) -> Path:
        return self.folder / "proof.json"

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class StepProof:
    folder: Path
    proof: Proof
    before: Checkpoint
    after: Checkpoint
    summary: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, folder: Path | str, before: Checkpoint) -> "StepProof":
        """A step folder written by ``finish_step``; the folder keeps only the checkpoint after the
        step, so the caller passes the one it started from (checked against the summary)."""
        folder = Path(folder)
        summary = fsio.read_json(folder / STEP_JSON, "step summary")
        if summary.get("before") != "0x" + before.commitment.hex():
            raise InputError(f"step {folder} does not start from the given checkpoint",
                             hint="pass the checkpoint this step was proven from")
        return cls(folder, Proof.load(folder / "proof.json"), before, Checkpoint.load(folder / "checkpoint"), summary)


def witness_step(circuits: ModelCircuits, before: Checkpoint, x: np.ndarray, y: np.ndarray, *, folder: Path,
                 claim: int = 0, reporter: Reporter | None = None) -> PendingStep:
    """Run the quantized step: the next checkpoint is known exactly before any proof is made.
    ``claim``: the word naming who may submit the proof (``zkgrad.layout.claim_word``)."""
    spec = circuits.spec
    if x.shape != spec.x_shape or y.shape != spec.y_shape:
        raise InputError(f"batch shapes x{list(x.shape)} y{list(y.shape)} do not match the spec's "
                         f"x{list(spec.x_shape)} y{list(spec.y_shape)}", hint="use the spec's batch size and shapes")
    timings = Timings(reporter)
    data = before.step_input(x, y, claim)
    staging = fsio.stage_dir(folder, "step", what="the step folder")
    try:
        with timings.stage("witness"):
            w = compute_witness(circuits.step, data, out=staging / "witness.json", what=f"step {before.version + 1}")
        loss_scale = int(circuits.step.manifest["scales"]["output"][-1])
        after = before.child_from_witness(w, loss_scale=loss_scale)
        fid = fidelity(circuits.step.onnx, spec, before, x, y, after)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = {
        "version": after.version,
        "before": "0x" + before.commitment.hex(),
        "after": "0x" + after.commitment.hex(),
        "batch": "0x" + (after.batch_commitment or b"").hex(),
        "weights_after": "0x" + after.weights_commitment.hex(),
        "loss": after.loss,
        "claim": hex(claim),
        **fid,
        "step_circuit": circuits.step.key,
        "timings": dict(timings),
    }
    return PendingStep(staging, Path(folder), before, replace(after, meta={"float_loss": fid["float_loss"]}), summary,
                       data)


def fidelity(step_graph: Path, spec: ModelSpec, before: Checkpoint, x: np.ndarray, y: np.ndarray,
             after: Checkpoint) -> dict[str, float]:
    """Largest |proven − float32| over the new state, and the float32 loss: the step graph run by
    onnxruntime from the same start on the same (quantized) batch."""
    xq = dequantize(quantize(x, spec.scale), spec.scale)
    yq = dequantize(quantize(y, spec.scale), spec.scale)
    new_state, loss = graph_step(step_graph, before.float_state(), xq, yq)
    diff = max(float(np.max(np.abs(p - n))) for p, n in zip(after.float_state(), new_state))
    return {"float_loss": loss, "max_abs_param_diff": diff}


def prove_pending(circuits: ModelCircuits, pending: PendingStep, *, reporter: Reporter | None = None) -> StepProof:
    """Make the proof of a witnessed step and write the step folder (checkpoint last)."""
    timings = Timings(reporter)
    try:
        proof = prove_witness(circuits.step, pending.witness_path, pending.proof_path,
                              what=f"step {pending.after.version}", timings=timings)
    except BaseException:
        pending.discard()
        raise
    return finish_step(circuits, pending, proof, dict(timings))


def finish_step(circuits: ModelCircuits, pending: PendingStep, proof: Proof, timings: dict[str, float]) -> StepProof:
    """Check the proof's public values against the witnessed step, then record it: the staging folder
    replaces the step folder as a whole."""
    layout = circuits.step_layout
    inst = proof.instances
    if layout.before_commitment(inst) != pending.before.commitment or \
            layout.after_commitment(inst) != pending.after.commitment or \
            (pending.before.commitment_scheme == "public" and inst[layout.claim] != int(pending.summary["claim"], 16)):
        pending.discard()
        raise ProverError("the proof's commitments differ from the witnessed step",
                          hint="the witness and proof are from different inputs; prove the step again")
    summary = {**pending.summary, "timings": {**pending.summary["timings"], **timings}, "proved_at": time.time()}
    pending.after.save(pending.folder / "checkpoint")
    fsio.write_json(pending.folder / STEP_JSON, summary)
    fsio.commit_dir(pending.folder, pending.target, "step", what="the step folder")
    return StepProof(pending.target, Proof.load(pending.target / "proof.json"), pending.before, pending.after, summary)


def prove_step(circuits: ModelCircuits, before: Checkpoint, x: np.ndarray, y: np.ndarray, *, folder: Path,
               claim: int = 0, reporter: Reporter | None = None) -> StepProof:
    """Witness then proof for one step from ``before`` on batch (x, y), bound to ``claim``."""
    pending = witness_step(circuits, before, x, y, folder=folder, claim=claim, reporter=reporter)
    return prove_pending(circuits, pending, reporter=reporter)
