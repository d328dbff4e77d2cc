"""Answers: an inference proof bound to a checkpoint's weights, and its submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..circuits.checkpoint import Checkpoint
from ..circuits.model_circuits import ModelCircuits
from ..circuits.quant import dequantize, quantize
from ..errors import InputError, ProverError
from ..progress import Reporter
from ..prover.prove import prove
from ..prover.proof import ProofResult


@dataclass(frozen=True)
class Answer:
    result: ProofResult
    logits: list[float]
    prediction: int
    weights_commitment: bytes


def answer_input(ckpt: Checkpoint, x: np.ndarray) -> dict[str, object]:
    params = ckpt.float_state()[: ckpt.n_params]
    xq = dequantize(quantize(np.asarray(x, dtype=np.float64), ckpt.scale), ckpt.scale)
    return {"input_data": [*(p.reshape(-1).tolist() for p in params), xq.reshape(-1).tolist()]}


def prove_answer(circuits: ModelCircuits, ckpt: Checkpoint, x: np.ndarray, *, out: Path,
                 reporter: Reporter | None = None) -> Answer:
    """Prove the model's output on one sample ``x`` (shape input_shape or (1, *input_shape))."""
    spec = circuits.spec
    x = np.asarray(x, dtype=np.float64).reshape((1, *spec.input_shape)) if np.size(x) == int(np.prod(spec.input_shape)) else None  # type: ignore[assignment]
    if x is None:
        raise InputError(f"an answer takes one sample of shape {list(spec.input_shape)}", hint="pass one sample")
    r = prove(circuits.answer, answer_input(ckpt, x), out=out, reporter=reporter)
    layout = circuits.answer_layout
    if layout.weights_commitment(r.proof.instances) != ckpt.weights_commitment:
        raise ProverError("the answer proof commits to other weights than the checkpoint's",
                          hint="recompile the answer circuit for this model")
    logits = r.outputs[0]
    return Answer(r, logits, int(np.argmax(logits)), ckpt.weights_commitment)
