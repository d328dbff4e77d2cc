"""What a model's circuit (step, answer, evaluation) records beyond ezkl's settings.

It travels in ``CircuitConfig.extra`` and so is part of the circuit's content address: its JSON
form is fixed (``to_dict``), and readers get it typed (``ModelExtra.of``) instead of digging keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import CircuitError

if TYPE_CHECKING:
    from .artifacts import Circuit


@dataclass(frozen=True)
class HeldOut:
    """The held-out samples an evaluation circuit has built in."""

    size: int
    commitment: str  # 0x-hex keccak256 of their words (the registry's heldOutCommitment)


@dataclass(frozen=True)
class ModelExtra:
    spec: dict[str, Any]
    """The model spec the circuit was built from (``ModelSpec.to_dict``)."""
    layout: dict[str, int]
    """Its public-instance layout's fields (``StepLayout``, ``AnswerLayout`` or ``EvalLayout``)."""
    calibration: dict[str, Any]
    """The calibration run it was sized on (``CalibrationPlan`` and what it measured)."""
    n_params: int | None = None
    """Step circuits: the model's parameter count."""
    state_names: tuple[str, ...] | None = None
    """Step circuits: the names of the state tensors, in order."""
    held_out: HeldOut | None = None
    """Evaluation circuits: the held-out set."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"spec": self.spec, "layout": self.layout, "calibration": self.calibration}
        if self.n_params is not None:
            d["n_params"] = self.n_params
        if self.state_names is not None:
            d["state_names"] = list(self.state_names)
        if self.held_out is not None:
            d["held_out"] = {"size": self.held_out.size, "commitment": self.held_out.commitment}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "the circuit") -> "ModelExtra":
        missing = [k for k in ("spec", "layout", "calibration") if k not in d]
        if missing:
            raise CircuitError(f"{where} is no model circuit: its config lacks {', '.join(missing)}",
                               hint="compile the model with 'zkgrad model compile'", where=where)
        held = d.get("held_out")
        names = d.get("state_names")
        return cls(spec=dict(d["spec"]), layout={k: int(v) for k, v in d["layout"].items()},
                   calibration=dict(d["calibration"]), n_params=d.get("n_params"),
                   state_names=tuple(names) if names is not None else None,
                   held_out=HeldOut(int(held["size"]), str(held["commitment"])) if held else None)

    @classmethod
    def of(cls, circuit: "Circuit") -> "ModelExtra":
        return cls.from_dict(circuit.config.extra, str(circuit.path))
