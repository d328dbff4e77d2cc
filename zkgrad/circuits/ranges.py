"""Lookup ranges: measured along a planned training run when a model is compiled, and checked on
every witness before it is proven.

ezkl proves non-linear operations (exp, log, tanh, ...) by looking their inputs up in tables that
span the settings' ``lookup_range``. A value outside it cannot be proven, and ezkl 23's prover
then waits forever instead of failing. Calibrating on the genesis weights and the first batch
gives a range the weights outgrow within a few steps, so a step circuit is calibrated on states
of a float32 run of the planned steps (the graph's own float pass, the batch schedule of
``zkgrad.model.data``): those where some tensor of the step graph reaches its extreme over the run.
Each tensor's lookup inputs are its values times a fixed power of two, so the state where a
tensor is at its extreme is where its lookup inputs are; ezkl then measures those states exactly.

The check before proving compares the witness's smallest and largest lookup input (ezkl records
both) with the range: it is exact for every table lookup, and refuses nothing that fits. It does
not cover ezkl's range checks of decomposed values (|v| < 16384², fixed by ``decomp_base`` and
``decomp_legs``, far beyond any lookup range here); ``ezkl mock`` checks those too, at the cost of
a full synthesis of the circuit.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx

from .. import fsio
from ..errors import CircuitError, ProverError
from ..model.data import Dataset, batch
from ..model.quant import claim_input, dequantize, quantize
from ..model.spec import ModelSpec
from .artifacts import Circuit
from .config import CalibrationPlan
from .float_graph import FloatGraph


@dataclass(frozen=True)
class RunState:
    """The input of one planned step: the state tensors (float, on the fixed-point grid) and its batch."""

    step: int
    """0-based: the state before step ``step + 1``."""
    state: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray

    def step_input(self) -> dict[str, Any]:
        return {"input_data": [*(np.asarray(t).reshape(-1).tolist() for t in (*self.state, self.x, self.y)),
                               claim_input(0)]}


def _grid(v: np.ndarray, scale: int) -> np.ndarray:
    return dequantize(quantize(np.asarray(v, dtype=np.float64), scale), scale)


def _with_intermediates(src: Path, dst: Path) -> None:
    """A copy of the graph that also returns every intermediate tensor."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(src)))
    have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    typed = {v.name: v for v in model.graph.value_info}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in have and name in typed:
                model.graph.output.append(typed[name])
                have.add(name)
    onnx.save(model, str(dst))


def _extremes(values: Sequence[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per tensor, its smallest and largest value (0 for empty or non-numeric tensors)."""
    arrays = [np.asarray(v) for v in values]
    use = [a.size > 0 and (np.issubdtype(a.dtype, np.number) or a.dtype == bool) for a in arrays]
    return ([float(np.min(a)) if u else 0.0 for a, u in zip(arrays, use)],
            [float(np.max(a)) if u else 0.0 for a, u in zip(arrays, use)])


def planned_run(step_onnx: Path, spec: ModelSpec, start: Sequence[np.ndarray], data: Dataset,
                plan: CalibrationPlan) -> tuple[list[RunState], list[int]]:
    """The float32 run of ``plan.steps`` steps from ``start`` on the batch schedule, and the steps
    (at most ``plan.samples``, step 0 first) where some tensor of the step graph is at its extreme."""
    with tempfile.TemporaryDirectory(prefix="zkgrad-ranges-") as tmp:
        wide = Path(tmp) / "step-all.onnx"
        _with_intermediates(step_onnx, wide)
        graph = FloatGraph(wide)
        n = len(start)
        state = [_grid(t, spec.scale) for t in start]
        runs, lows, highs = [], [], []
        for t in range(plan.steps):
            x, y = batch(data, spec.batch_size, t, plan.seed)
            run = RunState(t, state, _grid(x, spec.scale).reshape(spec.x_shape), _grid(y, spec.scale).reshape(spec.y_shape))
            outs = graph.run(*run.state, run.x, run.y)
            if t > 0 and not all(np.all(np.isfinite(o)) for o in outs):
                break  # diverged: this step and later ones are no run a circuit could prove
            lo, hi = _extremes([*run.state, run.x, run.y, *outs])
            runs.append(run)
            lows.append(lo)
            highs.append(hi)
            state = [_grid(o, spec.scale) for o in outs[:n]]
    votes = np.zeros(len(runs), dtype=np.int64)
    for best in (np.argmin(np.asarray(lows), axis=0), np.argmax(np.asarray(highs), axis=0)):
        np.add.at(votes, best, 1)
    ranked = sorted(range(1, len(runs)), key=lambda t: (-votes[t], t))
    chosen = [0] + [t for t in ranked if votes[t] > 0][: plan.samples - 1]
    return runs, sorted(chosen)


def lookup_range(circuit: Circuit) -> tuple[int, int]:
    """The circuit's lookup range, from its settings."""
    try:
        lo, hi = fsio.read_json(circuit.settings, "circuit settings")["run_args"]["lookup_range"]
        return int(lo), int(hi)
    except (KeyError, TypeError, ValueError) as e:
        raise CircuitError(f"{circuit.settings} has no valid run_args.lookup_range", hint="compile the circuit again",
                           path=str(circuit.settings)) from e


def check_witness(circuit: Circuit, witness: dict[str, Any], *, what: str) -> None:
    """Refuse a witness whose lookup inputs leave the circuit's lookup range (before proving it)."""
    if "min_lookup_inputs" not in witness or "max_lookup_inputs" not in witness:
        return
    lo, hi = lookup_range(circuit)
    wmin, wmax = int(witness["min_lookup_inputs"]), int(witness["max_lookup_inputs"])
    if lo <= wmin and wmax <= hi:
        return
    value = wmin if wmin < lo else wmax
    plan = (circuit.manifest.get("config", {}).get("extra", {}) or {}).get("calibration")
    if plan:
        hint = (f"recompile the model for a longer run or with more headroom (this circuit: {plan['steps']} steps, "
                f"margin {plan['margin']}): zkgrad model compile WORKSPACE --steps N --margin M, then register it anew")
    else:
        hint = "compile the circuit again with a sample that reaches such values"
    raise ProverError(
        f"{what} leaves the circuit's lookup range: a lookup input is {value:,}, outside [{lo:,}, {hi:,}]; "
        "nothing was proven", hint=hint, what=what, value=value, lookup_range=f"[{lo}, {hi}]")
