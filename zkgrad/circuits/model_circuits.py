"""The two circuits of a model spec: its training step and its inference bound to weights.

Both take the weights as committed inputs (``hashed/public``), so one circuit, and one verifier
contract, serves every version of the model. Calibrated on the genesis weights and a sample batch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layout import AnswerLayout, StepLayout
from ..progress import Reporter
from .artifacts import Circuit
from .checkpoint import Checkpoint
from .compile import VerifierBuilder, compile_model
from .config import committed
from .spec import ModelSpec
from .training import export_inference, export_training_step


@dataclass(frozen=True)
class ModelCircuits:
    spec: ModelSpec
    step: Circuit
    answer: Circuit

    @property
    def step_layout(self) -> StepLayout:
        return StepLayout(int(self.step.manifest["config"]["extra"]["n_state"]))

    @property
    def answer_layout(self) -> AnswerLayout:
        extra = self.answer.manifest["config"]["extra"]
        return AnswerLayout(int(extra["n_params"]), int(extra["n_outputs"]))

    @classmethod
    def open(cls, spec: ModelSpec, folder: Path) -> "ModelCircuits":
        return cls(spec, Circuit.open(folder / "step"), Circuit.open(folder / "answer"))


def compile_circuits(
    spec: ModelSpec,
    genesis: Checkpoint,
    sample: tuple[np.ndarray, np.ndarray],
    *,
    out: Path,
    srs: Path | None = None,
    lookup_safety_margin: float = 2.0,
    reporter: Reporter | None = None,
    verifier: VerifierBuilder | None = None,
) -> tuple[ModelCircuits, bool]:
    """Compile (or reuse) ``out/step`` and ``out/answer``, each with the Solidity verifier that
    ``verifier`` builds; returns (circuits, both reused)."""
    x, y = sample
    with tempfile.TemporaryDirectory(prefix="zkgrad-export-") as tmp:
        step_graph = export_training_step(spec, Path(tmp) / "step.onnx")
        answer_graph = export_inference(spec, Path(tmp) / "answer.onnx", batch_size=1)
        step_sample = genesis.step_input(x, y)
        answer_sample = genesis.answer_input(x[:1])
        n_out = int(np.prod(answer_graph.output_shapes[0]))
        step, r1 = compile_model(
            step_graph.onnx_path, step_sample, out=out / "step", srs=srs, reporter=reporter, verifier=verifier,
            config=committed("step", spec.scale, lookup_safety_margin=lookup_safety_margin,
                             extra={"spec": spec.to_dict(), "n_state": step_graph.n_state,
                                    "n_params": step_graph.n_params, "state_names": list(step_graph.state_names)}))
        answer, r2 = compile_model(
            answer_graph.onnx_path, answer_sample, out=out / "answer", srs=srs, reporter=reporter, verifier=verifier,
            config=committed("answer", spec.scale, lookup_safety_margin=lookup_safety_margin,
                             extra={"spec": spec.to_dict(), "n_params": answer_graph.n_params, "n_outputs": n_out}))
    return ModelCircuits(spec, step, answer), r1 and r2
