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
from ..circuits.float_graph import graph_step
from ..circuits.model_circuits import ModelCircuits
from ..errors import InputError, ProverError
from ..model.checkpoint import Checkpoint
from ..model.quant import dequantize, quantize
from ..model.spec import ModelSpec
from ..progress import Reporter, Timings
from .proof import Proof
from .prove import prove_witness
from .prove import witness as compute_witness

STEP_JSON = "step.json"


@dataclass(frozen=True)
class StepSummary:
    """``step.json``: what one proven step is, its commitments in 0x-hex as the chain shows them."""

    version: int
    before: str
    after: str
    batch: str
    weights_after: str
    loss: float
    claim: str  # hex of the claim word the proof carries
    float_loss: float  # the float32 step's loss from the same start on the same batch
    max_abs_param_diff: float  # largest |proven - float32| over the new state
    step_circuit: str  # the step circuit's content key
    timings: dict[str, float]
    proved_at: float | None = None  # Unix time; None while only witnessed

    @property
    def claim_word(self) -> int:
        return int(self.claim, 16)

    @property
    def prove_s(self) -> float:
        return float(self.timings.get("prove", 0.0))

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return d if self.proved_at is not None else {k: v for k, v in d.items() if k != "proved_at"}

    @classmethod
    def from_dict(cls, d: Any, where: str = "step.json") -> "StepSummary":
        try:
            return cls(version=int(d["version"]), before=str(d["before"]), after=str(d["after"]),
                       batch=str(d["batch"]), weights_after=str(d["weights_after"]), loss=float(d["loss"]),
                       claim=str(d["claim"]), float_loss=float(d["float_loss"]),
                       max_abs_param_diff=float(d["max_abs_param_diff"]), step_circuit=str(d["step_circuit"]),
                       timings={str(k): float(v) for k, v in dict(d["timings"]).items()},
                       proved_at=None if d.get("proved_at") is None else float(d["proved_at"]))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{where} is not a step summary ({type(e).__name__}: {e})",
                             hint="prove the step again; its folder was damaged or hand-edited", path=where) from None

    @classmethod
    def load(cls, folder: Path) -> "StepSummary":
        path = Path(folder) / STEP_JSON
        return cls.from_dict(fsio.read_json(path, "step summary"), str(path))


@dataclass(frozen=True)
class PendingStep:
    """A step whose witness exists and whose proof does not yet. It is built in a staging folder
    that becomes ``target`` as a whole once the proof is checked (``finish_step``)."""

    folder: Path
    target: Path
    before: Checkpoint
    after: Checkpoint
    summary: StepSummary = field(repr=False)
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
    summary: StepSummary = field(repr=False)

    @classmethod
    def load(cls, folder: Path | str, before: Checkpoint) -> "StepProof":
        """A step folder written by ``finish_step``; the folder keeps only the checkpoint after the
        step, so the caller passes the one it started from (checked against the summary)."""
        folder = Path(folder)
        summary = StepSummary.load(folder)
        if summary.before != "0x" + before.commitment.hex():
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
    summary = StepSummary(
        version=after.version,
        before="0x" + before.commitment.hex(),
        after="0x" + after.commitment.hex(),
        batch="0x" + (after.batch_commitment or b"").hex(),
        weights_after="0x" + after.weights_commitment.hex(),
        loss=after.loss,
        claim=hex(claim),
        float_loss=fid["float_loss"],
        max_abs_param_diff=fid["max_abs_param_diff"],
        step_circuit=circuits.step.key,
        timings=dict(timings),
    )
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
            (pending.before.commitment_scheme == "public" and inst[layout.claim] != pending.summary.claim_word):
        pending.discard()
        raise ProverError("the proof's commitments differ from the witnessed step",
                          hint="the witness and proof are from different inputs; prove the step again")
    summary = replace(pending.summary, timings={**pending.summary.timings, **timings}, proved_at=time.time())
    pending.after.save(pending.folder / "checkpoint")
    fsio.write_json(pending.folder / STEP_JSON, summary.to_dict())
    fsio.commit_dir(pending.folder, pending.target, "step", what="the step folder")
    return StepProof(pending.target, Proof.load(pending.target / "proof.json"), pending.before, pending.after, summary)


def prove_step(circuits: ModelCircuits, before: Checkpoint, x: np.ndarray, y: np.ndarray, *, folder: Path,
               claim: int = 0, reporter: Reporter | None = None) -> StepProof:
    """Witness then proof for one step from ``before`` on batch (x, y), bound to ``claim``."""
    pending = witness_step(circuits, before, x, y, folder=folder, claim=claim, reporter=reporter)
    return prove_pending(circuits, pending, reporter=reporter)
