"""Float passes: an exported ONNX graph run in float32 by onnxruntime.

The same graph a circuit proves, without quantization: it checks an export against torch and
gives the float shadow of a proven run. Providers come from :func:`zkgrad.devices.float_providers`
(CUDA when onnxruntime-gpu and a device are present, else the CPU).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..devices import float_providers
from ..errors import CircuitError, MissingFileError
from ..layout import CLAIM_INPUT


class FloatGraph:
    """One onnxruntime session over an ONNX file; inputs and outputs in graph order."""

    def __init__(self, path: Path | str, providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(self.path, "ONNX graph")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts,
                                                 providers=list(providers or float_providers()))
        except Exception as e:  # onnxruntime raises its own untyped errors: translated here
            raise CircuitError(f"onnxruntime cannot load {self.path}: {str(e).splitlines()[0] if str(e) else e}",
                               hint="re-export the model", path=str(self.path)) from e
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    @property
    def provider(self) -> str:
        """The execution provider the session runs on first (``CUDAExecutionProvider`` or ``CPUExecutionProvider``)."""
        return str(self._session.get_providers()[0])

    def run(self, *arrays: np.ndarray | Sequence[float]) -> list[np.ndarray]:
        """Outputs for one array per graph input; a step graph's claim (read by no operation) may be left out."""
        if self.input_names[-1:] == [CLAIM_INPUT] and len(arrays) == len(self.input_names) - 1:
            arrays = (*arrays, np.zeros(1))
        if len(arrays) != len(self.input_names):
            raise CircuitError(f"{self.path.name} takes {len(self.input_names)} inputs, got {len(arrays)}",
                               hint="pass one array per graph input, in graph order")
        feed = {n: np.asarray(a, dtype=np.float32) for n, a in zip(self.input_names, arrays)}
        try:
            return [np.asarray(o) for o in self._session.run(None, feed)]
        except Exception as e:  # noqa: BLE001 - shape and type errors from onnxruntime
            raise CircuitError(f"float pass of {self.path.name} failed: {str(e).splitlines()[0] if str(e) else e}",
                               hint="check the input shapes against the graph", path=str(self.path)) from e


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> FloatGraph:
    return FloatGraph(path)


def float_graph(path: Path | str) -> FloatGraph:
    """A session for ``path``, reused while the file is unchanged."""
    p = Path(path).resolve()
    if not p.is_file():
        raise MissingFileError(p, "ONNX graph")
    st = p.stat()
    return _cached(str(p), st.st_mtime_ns, st.st_size)


def graph_step(step_graph: Path | str, state: Sequence[np.ndarray], x: np.ndarray,
               y: np.ndarray) -> tuple[list[np.ndarray], float]:
    """One float32 step of a step graph (state..., x, y -> new state..., loss): (new state, loss)."""
    *new_state, loss = float_graph(step_graph).run(*state, x, y)
    return new_state, float(loss.reshape(-1)[0])


def check_agrees(graph: FloatGraph, args: Sequence[np.ndarray], expected: Sequence[np.ndarray], *,
                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Refuse an export whose float pass is not finite or differs from the reference outputs."""
    got = graph.run(*args)
    for name, g, want in zip(graph.output_names, got, expected):
        want = np.asarray(want, dtype=np.float32)
        if g.shape != want.shape:
            raise CircuitError(f"exported graph output '{name}' has shape {g.shape}, torch gives {want.shape}",
                               hint="the exporter changed the model; report this with the model", output=name)
        if not np.all(np.isfinite(g)):
            raise CircuitError(f"exported graph output '{name}' is not finite on the sample",
                               hint="check the sample and the model for overflow or division by zero", output=name)
        err = float(np.max(np.abs(g - want) - rtol * np.abs(want))) if g.size else 0.0
        if err > atol:
            raise CircuitError(f"exported graph output '{name}' differs from torch by {err:.3g} on the sample",
                               hint="the exporter changed the model's meaning; report this with the model",
                               output=name, error=err)
