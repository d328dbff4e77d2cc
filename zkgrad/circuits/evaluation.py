"""Proven held-out accuracy: how many samples of a fixed held-out set a classifier's weights get right.

The graph takes the model's parameters, committed like the answer circuit's (``zkgrad.layout``,
``EvalLayout``: the same words as ``Checkpoint.words(n_params)``), and returns one number: the
samples whose label's logit is the largest, a tie with another class counting as correct. The
held-out samples and labels are constants of the graph: with param visibility ``fixed`` they are
baked into the verifying key, and so into the Solidity verifier; no prover can choose them, and
another set gives another verifier. The manifest names the set by ``held_out_commitment``.

How it counts, the cheapest of what was measured (ezkl 23 rows; digits softmax regression, 100
samples, scale 11, rebase multiplier 2; logits alone 1,330):

    largest logit as b + relu(a - b) over the classes      9,880   (this module)
    sum_j relu(logit_j - logit_label) == 0                 10,780
    ReduceMax                                              13,580
    all(logits <= logit_label)                             28,180
    ArgMax == label                                        30,781
    label's logit by a one-hot mask and ReduceSum          36,980   (logrows 16: a rescale)

The label's logit is a GatherElements with constant indices (no rows), the comparison an Equal,
and Not(Not(.)) of it makes ezkl give the sum scale 0: the public value is the count itself (unit 1).

Rebase multiplier 2 keeps the logits at scale 2s, exact: rescaling 1,000 logits to s costs 23,000
rows (logrows 16, not 15). The price: ezkl decomposes each relu input into two 14-bit legs, so at
scale 2s it must stay under about 2**(28 - 2s) (64 logits at scale 11, 16 at 12); past that, witness
generation fails (never a false proof). So compiling tries multiplier 2 on the weights of the
planned float32 run (``zkgrad.circuits.ranges``) and on those weights times the margin, and falls
back to multiplier 1 (every value at scale s) where they do not fit.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..errors import CircuitError, InputError
from ..layout import EvalLayout
from ..model import dataset
from ..model.checkpoint import Checkpoint
from ..model.data import Dataset
from ..model.quant import dequantize, quantize
from ..model.spec import ModelSpec
from ..progress import Reporter
from .artifacts import Circuit
from .compile import VerifierBuilder, compile_model
from .config import CalibrationPlan, committed
from .extras import HeldOut, ModelExtra
from .ranges import planned_run
from .rewrites import ezkl_ready
from .training import export_graph, export_training_step, param_input_names


def held_out_samples(spec: ModelSpec, held_out: Dataset, size: int = dataset.MIN_HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
    """The first ``size`` samples of ``held_out``: x on the spec's fixed-point grid, shaped
    ``(size, *input_shape)``, and integer labels (a language model's: the next token at each
    position, ``(size, context)``). Refuses a spec that has no classes."""
    if spec.loss not in ("cross_entropy", "next_token"):
        raise InputError(f"a model with loss {spec.loss} has no classes to count",
                         hint="an evaluation circuit counts correct classes: only cross_entropy and next_token "
                              "models have them")
    least = dataset.held_out_minimum(spec)
    if size < least:
        raise InputError(f"an evaluation on {size} samples is too small", hint=f"use at least {least}")
    if len(held_out) < size:
        raise InputError(f"the held-out set has {len(held_out)} samples, the evaluation needs {size}",
                         hint="pass a larger held-out set, or evaluate on fewer samples")
    labels = np.asarray(held_out.labels[:size])
    k = spec.num_classes
    shape = (size,) if spec.loss == "cross_entropy" else (size, spec.context)
    if labels.shape != shape or not np.array_equal(labels, np.round(labels)) or labels.min() < 0 or labels.max() >= k:
        raise InputError(f"held-out labels must be class indices in 0..{k - 1}",
                         hint="one integer label per sample (per position for a language model)")
    x = held_out.reshape(spec.input_shape).x[:size]
    return dequantize(quantize(x, spec.scale), spec.scale), labels.astype(np.int64)


def held_out_commitment(spec: ModelSpec, held_out: Dataset, size: int = dataset.MIN_HELD_OUT) -> bytes:
    """The committed dataset's held-out commitment (``zkgrad.model.dataset``) of the samples
    this circuit counts on, checked like them."""
    held_out_samples(spec, held_out, size)
    return dataset.held_out_commitment(spec, held_out, size)


def export_evaluation(spec: ModelSpec, x: np.ndarray, labels: np.ndarray, out_path: Path) -> Path:
    """Write the graph ``(*params) -> [correct]`` with ``x`` and ``labels`` as constants."""
    module = ezkl_ready(spec.build_module())
    names = [n for n, _ in module.named_parameters()]
    xt = torch.as_tensor(x, dtype=torch.float32)
    index = torch.as_tensor(labels, dtype=torch.int64).reshape(-1, 1)

    def count(*params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = functional_call(module, dict(zip(names, params)), (xt,)).reshape(len(index), -1)
        best = logits[:, 0]
        for j in range(1, logits.shape[1]):
            best = best + torch.relu(logits[:, j] - best)
        right = ~(logits.gather(1, index)[:, 0] != best)
        return (right.float().sum().reshape(1),)

    with torch.no_grad():
        width = functional_call(module, dict(module.named_parameters()), (xt[:1],)).numel()
    if width != spec.num_classes * dataset.predictions_per_sample(spec):
        raise InputError(f"the model gives {width} outputs per sample, the spec has {spec.num_classes} classes",
                         hint="a classifier's forward returns one logit per class (a language model's, per position)")
    export_graph(count, [p.detach().clone() for _, p in module.named_parameters()], param_input_names(names),
            ["correct"], Path(out_path))
    return Path(out_path)


def evaluation_input(checkpoint: Checkpoint) -> dict[str, Any]:
    """ezkl input data for the evaluation of ``checkpoint``'s weights: its parameters, exactly."""
    return {"input_data": [t.reshape(-1).tolist() for t in checkpoint.float_state()[: checkpoint.n_params]]}


def count_correct(spec: ModelSpec, checkpoint: Checkpoint, held_out: Dataset, size: int = dataset.MIN_HELD_OUT) -> int:
    """The reference count: float64 torch on the checkpoint's exact weights and the gridded samples,
    ties counted as correct, as the circuit does. Equal to the proven count where the circuit
    computes the logits exactly (rebase multiplier 2 and a model with one linear layer)."""
    x, labels = held_out_samples(spec, held_out, size)
    module = ezkl_ready(spec.build_module()).double()
    names = [n for n, _ in module.named_parameters()]
    params = {n: torch.as_tensor(t, dtype=torch.float64) for n, t in zip(names, checkpoint.float_state())}
    with torch.no_grad():
        logits = functional_call(module, params, (torch.as_tensor(x, dtype=torch.float64),)).reshape(labels.size, -1)
    picked = logits[torch.arange(labels.size), torch.as_tensor(labels.reshape(-1))]
    return int((picked >= logits.max(dim=1).values).sum())


def _calibration(spec: ModelSpec, genesis: Checkpoint, train_data: Dataset, step_onnx: Path,
                 plan: CalibrationPlan) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(sample, more, record): the weights of the planned run's measured states, then each times the margin."""
    runs, chosen = planned_run(step_onnx, spec, genesis.float_state(), train_data.reshape(spec.input_shape), plan)
    n = genesis.n_params
    states: list[Sequence[np.ndarray]] = [runs[i].state[:n] for i in chosen]
    states += [[dequantize(quantize(t * plan.margin, spec.scale), spec.scale) for t in s] for s in states]
    inputs = [{"input_data": [np.asarray(t).reshape(-1).tolist() for t in s]} for s in states]
    return inputs[0], inputs[1:], plan.record(chosen)


def compile_evaluation(
    spec: ModelSpec,
    genesis: Checkpoint,
    train_data: Dataset,
    held_out: Dataset,
    *,
    out: Path,
    size: int = dataset.MIN_HELD_OUT,
    srs: Path | None = None,
    plan: CalibrationPlan | None = None,
    reporter: Reporter | None = None,
    verifier: VerifierBuilder | None = None,
) -> tuple[Circuit, bool]:
    """Compile (or reuse) the evaluation circuit of ``spec`` on the first ``size`` samples of
    ``held_out`` into ``out``, calibrated along ``plan``'s float32 run from ``genesis`` on
    ``train_data``; returns (circuit, reused)."""
    plan = plan or CalibrationPlan()
    x, labels = held_out_samples(spec, held_out, size)
    layout = EvalLayout(len(genesis.words(genesis.n_params)), size * dataset.predictions_per_sample(spec), 1)
    held = HeldOut(size, "0x" + held_out_commitment(spec, held_out, size).hex())
    with tempfile.TemporaryDirectory(prefix="zkgrad-export-") as tmp:
        step_graph = export_training_step(spec, Path(tmp) / "step.onnx")
        onnx_path = export_evaluation(spec, x, labels, Path(tmp) / "evaluation.onnx")
        sample, more, record = _calibration(spec, genesis, train_data, step_graph.onnx_path, plan)
        for multiplier in (2, 1):
            config = committed("eval", spec.scale, spec.commitment, lookup_safety_margin=plan.margin,
                               scale_rebase_multiplier=multiplier,
                               extra=ModelExtra(spec.to_dict(), asdict(layout), record, held_out=held).to_dict())
            try:
                circuit, reused = compile_model(onnx_path, sample, out=out, srs=srs, reporter=reporter,
                                                verifier=verifier, calibration=more, config=config)
                break
            except CircuitError as e:  # the run's logits do not fit at scale 2s: keep them at s
                if multiplier == 1 or e.data.get("stage") != "calibrate_settings":
                    raise
    if circuit.manifest["scales"]["output"] != [0] or math.prod(circuit.manifest["outputs"][0]["shape"]) != 1:
        raise CircuitError(f"the evaluation circuit's output is not one count at scale 0 "
                           f"({circuit.manifest['scales']['output']})", hint="report this model to zkgrad")
    return circuit, reused
