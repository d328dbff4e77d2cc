"""Loading training data for a spec from the CLI."""

from __future__ import annotations

from pathlib import Path

from ..circuits.spec import ModelSpec
from ..data import Dataset, named


def data_source(path: Path | None) -> str:
    return "digits" if path is None else str(Path(path).resolve())


def load_data(path: Path | None, spec: ModelSpec) -> Dataset:
    """A data file, or the built-in digits when none is given; reshaped to the spec's input shape."""
    return named(data_source(path), spec.input_shape, spec.num_classes if spec.loss == "cross_entropy" else None)
