"""Reading an ONNX model's interface and checking that a sample input fits it."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..errors import InputError, MissingFileError
from ..layout import CLAIM_INPUT, felt
from ..model.quant import claim_input


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # symbolic dims read as 1 (ezkl's default batch size)

    @property
    def size(self) -> int:
        return prod(self.shape) if self.shape else 1


@dataclass(frozen=True)
class OnnxInterface:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    ops: frozenset[str]


def _shape(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    dims = vi.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)


def load_interface(path: Path) -> OnnxInterface:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "ONNX model")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty, not an ONNX model", hint="export it again with torch.onnx.export",
                         path=str(path))
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types
        raise InputError(f"{path} is not a valid ONNX model: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                         hint="export it again with torch.onnx.export", path=str(path)) from e
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise InputError(f"{path} stores tensor '{t.name}' as external data, which ezkl cannot load",
                             hint="export with external_data=False (or zkgrad.circuits.export_module)")
    init = {t.name for t in model.graph.initializer}
    inputs = tuple(TensorSpec(i.name, _shape(i)) for i in model.graph.input if i.name not in init)
    outputs = tuple(TensorSpec(o.name, _shape(o)) for o in model.graph.output)
    if not inputs:
        raise InputError(f"{path} has no graph inputs", hint="a model to prove needs at least one input")
    return OnnxInterface(inputs, outputs, frozenset(n.op_type for n in model.graph.node))


def normalize_sample(data: Any, iface: OnnxInterface, *, what: str = "input") -> dict[str, Any]:
    """Check ``{"input_data": [...]}`` against the model's inputs; return it with flat lists."""
    if not isinstance(data, dict) or "input_data" not in data:
        raise InputError(f"{what} must be a JSON object with an 'input_data' list (ezkl's format)",
                         hint='write {"input_data": [[x0, x1, ...]]}, one flat list per model input')
    tensors = data["input_data"]
    if not isinstance(tensors, list):
        raise InputError(f"{what}'s 'input_data' is a {type(tensors).__name__}, not a list of tensors",
                         hint='write {"input_data": [[x0, x1, ...]]}, one flat list per model input')
    if len(tensors) != len(iface.inputs):
        n = len(tensors)
        raise InputError(f"{what} has {n} tensors but the model takes {len(iface.inputs)} "
                         f"({', '.join(i.name for i in iface.inputs)})", hint="give one list per model input")
    flat = []
    for spec, t in zip(iface.inputs, tensors):
        if spec.name == CLAIM_INPUT and isinstance(t, list) and len(t) == 1 and isinstance(t[0], str):
            flat.append(claim_input(felt(t[0])))  # a step's claim: one field element, as ezkl takes it
            continue
        try:
            arr = np.asarray(t, dtype=np.float64).ravel()
        except (TypeError, ValueError) as e:
            raise InputError(f"{what} for '{spec.name}' is not a list of numbers", hint="use numbers only") from e
        if arr.size != spec.size:
            raise InputError(f"{what} for '{spec.name}' has {arr.size} values but the model expects "
                             f"{spec.size} (shape {list(spec.shape)})", hint="fix the input's shape")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{what} for '{spec.name}' contains NaN or infinity", hint="use finite numbers")
        flat.append(arr.tolist())
    return {"input_data": flat}
