"""Answers: an inference proof bound to a checkpoint's weights, and its submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..circuits.model_circuits import ModelCircuits
from ..errors import InputError, ProverError
from ..model.checkpoint import Checkpoint
from ..progress import Reporter
from ..prover.proof import ProofResult
from ..prover.prove import prove


@dataclass(frozen=True)
class Answer:
    result: ProofResult
    logits: list[float]
    prediction: int
    weights_commitment: bytes


def prove_answer(circuits: ModelCircuits, ckpt: Checkpoint, x: np.ndarray, *, out: Path,
                 reporter: Reporter | None = None) -> Answer:
    """Prove the model's output on one sample ``x`` (shape input_shape or (1, *input_shape))."""
    spec = circuits.spec
    if np.size(x) != int(np.prod(spec.input_shape)):
        raise InputError(f"an answer takes one sample of shape {list(spec.input_shape)}", hint="pass one sample")
    sample = np.asarray(x, dtype=np.float64).reshape((1, *spec.input_shape))
    r = prove(circuits.answer, ckpt.answer_input(sample), out=out, reporter=reporter)
    layout = circuits.answer_layout
    if layout.weights_commitment(r.proof.instances) != ckpt.weights_commitment:
        raise ProverError("the answer proof commits to other weights than the checkpoint's",
                          hint="recompile the answer circuit for this model")
    logits = r.outputs[0]
    return Answer(r, logits, int(np.argmax(logits)), ckpt.weights_commitment)
