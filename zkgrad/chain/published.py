"""The published spec: what a model id means, as one canonical JSON document.

The registry keeps its keccak256 (``specDigest``) and its bytes are in the ModelRegistered event,
so anyone with an RPC URL gets it. It names everything that fixes the model's circuits and data:
the model spec (architecture factory, loss, optimizer and hyper-parameters, batch size, scale,
commitment scheme), the calibration plan, ezkl's version, each circuit's ONNX hash, content key,
verifier kind and SRS, and the dataset commitment (``zkgrad.model.dataset``). ``zkgrad audit``
rebuilds the circuits from it and the data file and compares the verifiers' code with the chain's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..circuits.artifacts import Circuit
from ..circuits.config import CalibrationPlan
from ..circuits.extras import ModelExtra
from ..circuits.model_circuits import ModelCircuits
from ..errors import InputError
from ..model.dataset import DatasetCommitment
from ..model.spec import ModelSpec

FORMAT = 1


def circuit_record(c: Circuit) -> dict[str, Any]:
    m = c.manifest
    return {"key": m["key"], "onnx_sha256": m["onnx_sha256"], "logrows": m["logrows"], "ezkl": m["ezkl"],
            "verifier": m["verifier"]["kind"] if m.get("verifier") else None,
            "srs": {"kind": m["srs"]["kind"], "sha256": m["srs"]["sha256"]}}


def published_spec(circuits: ModelCircuits, dataset: DatasetCommitment) -> bytes:
    """The canonical bytes (sorted keys, no spaces) of the model's published spec."""
    parts = {"step": circuits.step, "answer": circuits.answer}
    if circuits.evaluation is not None:
        parts["evaluation"] = circuits.evaluation
    doc = {"format": FORMAT, "spec": circuits.spec.to_dict(), "dataset": dataset.to_dict(),
           "calibration": ModelExtra.of(circuits.step).calibration,
           "circuits": {name: circuit_record(c) for name, c in parts.items()}}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class PublishedSpec:
    spec: ModelSpec
    dataset: DatasetCommitment
    calibration: dict[str, Any]
    circuits: dict[str, dict[str, Any]]

    @property
    def plan(self) -> CalibrationPlan:
        """The training run the circuits were calibrated for: a rebuild must use the same."""
        c = self.calibration
        return CalibrationPlan(steps=int(c["steps"]), margin=float(c["margin"]), seed=int(c["seed"]))

    @classmethod
    def parse(cls, raw: bytes) -> "PublishedSpec":
        try:
            doc = json.loads(raw.decode())
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT}")
            return cls(ModelSpec.from_dict(doc["spec"]), DatasetCommitment.from_dict(doc["dataset"]),
                       dict(doc["calibration"]), dict(doc["circuits"]))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"the published spec is not a zkgrad spec document: {e}",
                             hint="the model was not registered by zkgrad; nothing here can rebuild it") from None
