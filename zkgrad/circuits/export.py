"""PyTorch → ONNX for inference circuits."""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any, Sequence

import onnx
import torch

from .. import __version__, fsio
from ..errors import InputError


def load_factory(ref: str) -> Any:
    """Import ``package.module:callable``."""
    mod_name, _, attr = ref.partition(":")
    if not mod_name or not attr:
        raise InputError(f"'{ref}' is not of the form module:factory", hint="e.g. zkgrad.models:digits_mlp")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise InputError(f"cannot import module '{mod_name}': {e}", hint="check the name and that it is on PYTHONPATH") from e
    try:
        return getattr(mod, attr)
    except AttributeError as e:
        raise InputError(f"module '{mod_name}' has no attribute '{attr}'", hint="check the factory name") from e


def export_module(
    module: torch.nn.Module,
    sample: torch.Tensor | Sequence[torch.Tensor],
    path: Path | str,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int = 18,
) -> Path:
    """Export ``module`` for inference, weights inside the graph (they become ``fixed`` constants).
    Writes ``path`` atomically, never as ONNX external data (ezkl cannot read that)."""
    args = (sample,) if isinstance(sample, torch.Tensor) else tuple(sample)
    module = module.eval()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, args, buf, input_names=list(input_names or [f"input_{i}" for i in range(len(args))]),
                          output_names=list(output_names) if output_names else None, opset_version=opset, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(model, {EXPORT_MARK: __version__})
    return fsio.write_bytes(Path(path), model.SerializeToString())


EXPORT_MARK = "zkgrad.export"
"""Metadata key of the ONNX files ``export_module`` writes: the only ONNX files ``export`` overwrites."""


def exported_by_zkgrad(path: Path) -> bool:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not readable as ONNX: not ours
        return False
    return any(p.key == EXPORT_MARK for p in model.metadata_props)


def sample_json(sample: torch.Tensor | Sequence[torch.Tensor]) -> dict[str, Any]:
    """ezkl's input format for the given tensors: ``{"input_data": [flat list per input]}``."""
    tensors = (sample,) if isinstance(sample, torch.Tensor) else tuple(sample)
    return {"input_data": [t.detach().double().flatten().tolist() for t in tensors]}
