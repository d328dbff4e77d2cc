"""The two circuits of a model spec: its training step and its inference bound to weights.

Both take the weights as committed inputs (``zkgrad.layout``: public values, or one Poseidon
hash per tensor), so one circuit, and one verifier contract, serves every version of the model.
Both are calibrated along a float32 run of the planned steps (``zkgrad.circuits.ranges``), so
their lookup ranges last the whole run. A classifier may have a third, its proven held-out
evaluation (``zkgrad.circuits.evaluation``), compiled on its own into ``folder/evaluation``.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from ..layout import AnswerLayout, EvalLayout, StepLayout
from ..model.checkpoint import Checkpoint
from ..model.data import Dataset
from ..model.spec import ModelSpec
from ..progress import Reporter
from .artifacts import Circuit
from .compile import VerifierBuilder, compile_model
from .config import CalibrationPlan, committed
from .extras import ModelExtra
from .ranges import planned_run
from .training import export_inference, export_training_step


@dataclass(frozen=True)
class ModelCircuits:
    spec: ModelSpec
    step: Circuit
    answer: Circuit
    evaluation: Circuit | None = None
    """The proven held-out evaluation (``zkgrad.circuits.evaluation``), when one was compiled."""

    @property
    def step_layout(self) -> StepLayout:
        return StepLayout(**ModelExtra.of(self.step).layout)

    @property
    def answer_layout(self) -> AnswerLayout:
        return AnswerLayout(**ModelExtra.of(self.answer).layout)

    @property
    def evaluation_layout(self) -> EvalLayout:
        if self.evaluation is None:
            raise InputError("this model has no evaluation circuit",
                             hint="compile one with zkgrad.circuits.evaluation.compile_evaluation")
        return EvalLayout(**ModelExtra.of(self.evaluation).layout)

    @classmethod
    def open(cls, spec: ModelSpec, folder: Path) -> "ModelCircuits":
        evaluation = Circuit.open(folder / "evaluation") if (folder / "evaluation").is_dir() else None
        return cls(spec, Circuit.open(folder / "step"), Circuit.open(folder / "answer"), evaluation)


@dataclass(frozen=True)
class Calibration:
    """What the two circuits are calibrated on: each its sample (genesis, first batch) and more inputs."""

    step_sample: dict[str, Any]
    step_more: list[dict[str, Any]]
    answer_sample: dict[str, Any]
    answer_more: list[dict[str, Any]]
    record: dict[str, Any]
    """The plan and the steps measured, kept in the circuits' manifests."""


def calibration(spec: ModelSpec, genesis: Checkpoint, data: Dataset | tuple[np.ndarray, np.ndarray], step_onnx: Path,
                plan: CalibrationPlan) -> Calibration:
    """The states of ``plan``'s float32 run that calibration measures (``zkgrad.circuits.ranges``);
    a pair ``(x, y)`` is a data set of that one batch. The answer circuit measures the weights of
    those states on each sample of their batch."""
    if isinstance(data, tuple):
        data = Dataset(np.asarray(data[0]), np.asarray(data[1], dtype=np.float64))
    runs, chosen = planned_run(step_onnx, spec, genesis.float_state(), data.reshape(spec.input_shape), plan)
    first, n = runs[0], genesis.n_params
    answer_more = [{"input_data": [*(t.reshape(-1).tolist() for t in runs[i].state[:n]), row.reshape(-1).tolist()]}
                   for i in chosen for j, row in enumerate(runs[i].x) if (i, j) != (0, 0)]
    return Calibration(genesis.step_input(first.x, first.y), [runs[i].step_input() for i in chosen if i != 0],
                       genesis.answer_input(first.x[:1]), answer_more,
                       plan.record(chosen))


def compile_circuits(
    spec: ModelSpec,
    genesis: Checkpoint,
    data: Dataset | tuple[np.ndarray, np.ndarray],
    *,
    out: Path,
    srs: Path | Mapping[str, Path] | None = None,
    plan: CalibrationPlan | None = None,
    reporter: Reporter | None = None,
    verifier: VerifierBuilder | None = None,
) -> tuple[ModelCircuits, bool]:
    """Compile (or reuse) ``out/step`` and ``out/answer``, calibrated along a float32 run of
    ``plan.steps`` steps from genesis on ``data``'s batch schedule; returns (circuits, both reused).
    ``srs``: one file for both, or one per circuit name (an audit rebuilding each on its own SRS)."""
    plan = plan or CalibrationPlan()
    with tempfile.TemporaryDirectory(prefix="zkgrad-export-") as tmp:
        step_graph = export_training_step(spec, Path(tmp) / "step.onnx")
        answer_graph = export_inference(spec, Path(tmp) / "answer.onnx", batch_size=1)
        step_layout, answer_layout = step_graph.layout(spec.commitment), answer_graph.layout(spec.commitment)
        if spec.commitment == "public":
            step_layout.check_calldata()
        cal = calibration(spec, genesis, data, step_graph.onnx_path, plan)
        step, r1 = compile_model(
            step_graph.onnx_path, cal.step_sample, out=out / "step", srs=_srs(srs, "step"), reporter=reporter, verifier=verifier,
            calibration=cal.step_more,
            config=committed("step", spec.scale, spec.commitment, lookup_safety_margin=plan.margin,
                             extra=ModelExtra(spec.to_dict(), asdict(step_layout), cal.record, n_params=step_graph.n_params,
                                              state_names=tuple(step_graph.state_names)).to_dict()))
        answer, r2 = compile_model(
            answer_graph.onnx_path, cal.answer_sample, out=out / "answer", srs=_srs(srs, "answer"), reporter=reporter,
            verifier=verifier, calibration=cal.answer_more,
            config=committed("answer", spec.scale, spec.commitment, lookup_safety_margin=plan.margin,
                             extra=ModelExtra(spec.to_dict(), asdict(answer_layout), cal.record).to_dict()))
    return ModelCircuits(spec, step, answer), r1 and r2


def _srs(srs: Path | Mapping[str, Path] | None, name: str) -> Path | None:
    return srs.get(name) if isinstance(srs, Mapping) else srs
