"""The float32 shadow run (same start, same batches, no quantization) and accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..circuits.float_graph import graph_step
from ..circuits.rewrites import ezkl_ready
from ..model.checkpoint import Checkpoint
from ..model.data import Dataset, batch
from ..model.spec import ModelSpec


def shadow_run(step_graph: Path, spec: ModelSpec, start: Checkpoint, ds: Dataset, *, steps: int, seed: int,
               each: Callable[[list[np.ndarray]], None] | None = None) -> tuple[list[float], list[np.ndarray]]:
    """Losses of ``steps`` float32 steps of the step graph (the ONNX file the step circuit proves,
    run by onnxruntime) from ``start`` on the batches the proven run uses, and the final state;
    ``each`` sees the state after every step."""
    state = [np.asarray(v, dtype=np.float32) for v in start.float_state()]
    losses = []
    for t in range(steps):
        x, y = batch(ds, spec.batch_size, t, seed)
        state, loss = graph_step(step_graph, state, x, y)
        losses.append(loss)
        if each is not None:
            each(state)
    return losses, state


def predict(spec: ModelSpec, params: Sequence[np.ndarray | torch.Tensor], x: np.ndarray) -> np.ndarray:
    """Class predictions of the model with the given parameters (the first n_params state tensors);
    a language model's, the next token at every position."""
    module = ezkl_ready(spec.build_module())
    names = [n for n, _ in module.named_parameters()]
    tensors = {n: torch.as_tensor(np.asarray(p), dtype=torch.float32) for n, p in zip(names, params)}
    with torch.no_grad():
        logits = functional_call(module, tensors, (torch.tensor(x, dtype=torch.float32),))
    return logits.argmax(dim=-1).numpy()


def accuracy(spec: ModelSpec, params: Sequence[np.ndarray | torch.Tensor], ds: Dataset) -> float:
    """Of class predictions, or of a language model's next tokens at every position."""
    labels = ds.labels if ds.labels.ndim == 1 or spec.loss == "next_token" else ds.labels.argmax(axis=1)
    return float(np.mean(predict(spec, params, ds.x) == labels))
