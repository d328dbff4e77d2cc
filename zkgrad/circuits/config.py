"""Typed circuit settings: what exactly will be proven, and how it is quantized."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ..errors import InputError

Visibility = str  # "public" | "private" | "fixed" | "hashed/public" | "polycommit" ...
_VISIBILITIES = ("public", "private", "fixed", "hashed/public", "hashed/private", "polycommit")


@dataclass(frozen=True)
class CircuitConfig:
    """How a model becomes a circuit. Part of the circuit's content address."""

    kind: Literal["inference", "step", "answer", "eval"] = "inference"
    """inference: any ONNX model; step: a training step; answer: inference bound to committed weights;
    eval: the count of a fixed held-out set classified correctly by committed weights."""
    input_visibility: Visibility = "public"
    """Graph inputs: public values, or hashed/public (one Poseidon hash per tensor is public)."""
    output_visibility: Visibility = "public"
    """Graph outputs, same choices as inputs."""
    param_visibility: Visibility = "fixed"
    """Constants inside the ONNX graph: fixed bakes them into the verification key."""
    scale: int | None = None
    """Fixed-point bits for inputs and parameters (value = integer / 2**scale); None lets calibration pick."""
    scale_rebase_multiplier: int | None = None
    """Rebase back to `scale` once an intermediate exceeds scale*multiplier; None lets calibration pick."""
    calibration_target: Literal["resources", "accuracy"] = "resources"
    """What calibration optimizes: circuit size or numerical fidelity."""
    max_logrows: int | None = None
    """Upper bound on the circuit's 2**logrows rows; None lets calibration pick."""
    lookup_safety_margin: float = 2.0
    """Headroom on lookup ranges beyond what the sample needed."""
    num_inner_cols: int = 2
    """Columns per block; more columns, fewer rows."""
    ignore_range_check_inputs_outputs: bool = False
    """Skip ezkl's range check of the graph's inputs and outputs: sound only where each input is
    fixed by a commitment to values an honest run produced (``committed``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Metadata carried into the manifest (e.g. the model spec of a step circuit)."""

    def __post_init__(self) -> None:
        for name in ("input_visibility", "output_visibility", "param_visibility"):
            v = getattr(self, name)
            if not any(v == p or v.startswith(p + "/") for p in _VISIBILITIES):
                raise InputError(f"unknown {name.replace('_', ' ')} '{v}'", hint=f"use one of {', '.join(_VISIBILITIES)}")
        if self.scale is not None and not 0 <= self.scale <= 24:
            raise InputError(f"scale {self.scale} out of range", hint="use 0..24 (typical: 7..13)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def canonical(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def with_(self, **changes: Any) -> "CircuitConfig":
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CircuitConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def committed(kind: Literal["step", "answer", "eval"], scale: int, commitment: str = "public", **kw: Any) -> CircuitConfig:
    """Config for circuits whose weights and data enter as committed inputs (``zkgrad.layout``):
    public values under the ``public`` commitment, one Poseidon hash per tensor under ``hashed``.

    input scale = param scale = scale and rebase multiplier 1, so updated parameters come out
    at the scale they went in: the words of step t's output equal those of step t+1's input.

    Public inputs and outputs are not range-checked in the circuit (the decomposition of every
    input, rows BENCHMARKS.md's profile counts): every output is computed by the circuit, the
    state going in is pinned by the registry to an earlier proof's output or the registered
    genesis, and the batch to the one the model's committed dataset schedules for the version
    (its Merkle proof is checked with the update), so no input is the prover's free choice.

    An ``eval`` circuit has the weights as its only input and the count of correct answers as its
    only output; its held-out set is constants of the graph, which ``fixed`` bakes into the
    verifying key. ``kw`` overrides any of these settings (``zkgrad.circuits.evaluation`` sets the
    rebase multiplier)."""
    io = "public" if commitment == "public" else "hashed/public"
    settings: dict[str, Any] = dict(
        kind=kind,
        input_visibility=io,
        output_visibility=io if kind == "step" else "public",
        param_visibility="fixed",
        scale=scale,
        scale_rebase_multiplier=1,
        ignore_range_check_inputs_outputs=commitment == "public",
    )
    return CircuitConfig(**{**settings, **kw})


PLANNED_STEPS = 100
"""Steps a model's step circuit is calibrated for unless told otherwise (``--steps``)."""
LOOKUP_MARGIN = 1.25
"""Default headroom over the run's measured extremes (``--margin``): a wider margin widens the
lookup tables, and past a power of two doubles the rows (BENCHMARKS.md, lookup ranges). Runs whose
quantized path strays from the float one (a tanh MLP at lr 0.5 on raw iris) need 2: the check
before proving then says so in seconds."""


@dataclass(frozen=True)
class CalibrationPlan:
    """The training run a model's circuits are calibrated for (``zkgrad.circuits.ranges``).

    Calibrating on the first batch and the genesis weights only gives lookup ranges that the
    weights outgrow within a few steps; these circuits are measured along a float32 run instead."""

    steps: int = PLANNED_STEPS
    """Planned training steps: the float32 run follows the batch schedule for this many steps."""
    margin: float = LOOKUP_MARGIN
    """Headroom: the lookup range is ``margin`` times the extremes measured along the run."""
    seed: int = 0
    """Seed of the batch schedule (``zkgrad.model.data.batch_indices``), as ``zkgrad train --seed``."""
    samples: int = 32
    """At most this many states of the run are measured by ezkl: those where some tensor of the step
    graph is at its smallest or largest (about 25 of 100 steps for the digits MLP)."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InputError(f"planned steps must be at least 1, not {self.steps}", hint="e.g. --steps 100")
        if not 1.0 <= self.margin <= 16.0:
            raise InputError(f"lookup margin {self.margin} is out of range", hint=f"use 1.0 to 16.0 (default {LOOKUP_MARGIN})")
        if self.samples < 1:
            raise InputError(f"calibration samples must be at least 1, not {self.samples}")

    def record(self, measured: list[int]) -> dict[str, Any]:
        """What a circuit's manifest keeps of the plan (and the published spec, for an audit to
        rebuild it), with the steps of the run that were measured."""
        return {"steps": self.steps, "margin": self.margin, "seed": self.seed, "measured": measured}
