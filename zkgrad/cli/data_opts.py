"""Loading training data for a spec from the CLI."""

from __future__ import annotations

import math
from pathlib import Path

from ..circuits.spec import ModelSpec
from ..circuits.dataset import load_for
from ..data import Dataset
from ..errors import InputError


def data_source(path: Path | None) -> str:
    return "digits" if path is None else str(Path(path).resolve())


def load_data(path: Path | None, spec: ModelSpec) -> Dataset:
    """A data file, or the built-in digits when none is given; reshaped to the spec's input shape,
    its targets checked against the spec's target shape."""
    ds = load_for(spec, data_source(path))
    if ds.num_classes is None and ds.labels[0].size != math.prod(spec.target_shape):
        raise InputError(f"{path}: targets have {ds.labels[0].size} values per sample, the model's target shape is "
                         f"{list(spec.target_shape)}", hint="give y with one target row per sample")
    return ds
