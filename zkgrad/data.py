"""Training data: scikit-learn's digits (ships with the package, offline), npz and csv files,
and seeded batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, MissingFileError


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # (N, *input_shape) float
    labels: np.ndarray  # (N,) int class index, or (N, *target_shape) float targets
    num_classes: int | None = None

    def __len__(self) -> int:
        return len(self.x)

    def targets(self) -> np.ndarray:
        """Float targets: one-hot rows for class labels, the values themselves otherwise."""
        if self.num_classes is not None and self.labels.ndim == 1:
            return np.eye(self.num_classes, dtype=np.float64)[self.labels]
        return self.labels.astype(np.float64)

    def split(self, test_fraction: float, seed: int) -> tuple["Dataset", "Dataset"]:
        idx = np.random.default_rng(seed).permutation(len(self))
        n_test = max(1, int(round(len(self) * test_fraction)))
        te, tr = idx[:n_test], idx[n_test:]
        return (Dataset(self.x[tr], self.labels[tr], self.num_classes),
                Dataset(self.x[te], self.labels[te], self.num_classes))

    def reshape(self, input_shape: tuple[int, ...]) -> "Dataset":
        try:
            return Dataset(self.x.reshape((len(self), *input_shape)), self.labels, self.num_classes)
        except ValueError:
            raise InputError(f"data samples have {int(np.prod(self.x.shape[1:]))} features, the model expects "
                             f"shape {list(input_shape)}", hint="check the spec's input_shape") from None


def digits() -> Dataset:
    """8x8 digits, 1797 samples, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return Dataset(d.data.astype(np.float64) / 16.0, d.target.astype(np.int64), 10)


def load(path: Path | str, num_classes: int | None = None) -> Dataset:
    """``.npz`` with arrays ``x`` and ``y``, or ``.csv`` whose last column is the label/target."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "data file")
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "x" not in z or "y" not in z:
                raise InputError(f"{path} must hold arrays 'x' and 'y' (has {', '.join(z.files)})",
                                 hint="np.savez(path, x=..., y=...)")
            x, y = np.asarray(z["x"], dtype=np.float64), np.asarray(z["y"])
    elif path.suffix == ".csv":
        try:
            arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as e:
            raise InputError(f"{path} is not a numeric csv: {e}", hint="numbers only, label in the last column") from e
        x, y = arr[:, :-1], arr[:, -1]
    else:
        raise InputError(f"unsupported data file {path}", hint="use .npz (x, y) or .csv (label last)")
    if len(x) != len(y) or len(x) == 0:
        raise InputError(f"{path}: {len(x)} samples but {len(y)} labels", hint="x and y need the same length")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{path} contains NaN or infinity")
    if y.ndim == 1 and num_classes is not None:
        labels = y.astype(np.int64)
        if not np.array_equal(labels, y) or labels.min() < 0 or labels.max() >= num_classes:
            raise InputError(f"{path}: labels must be integers in 0..{num_classes - 1}")
        return Dataset(x, labels, num_classes)
    return Dataset(x, y.astype(np.float64), None)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """The sample indices of batch ``step``: epochs of seeded permutations, deterministic, so any
    step's batch can be recomputed (resume, audit)."""
    if batch_size > n:
        raise InputError(f"batch size {batch_size} exceeds the {n} training samples")
    per_epoch = n // batch_size
    epoch, k = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[k * batch_size:(k + 1) * batch_size]


def batch(ds: Dataset, batch_size: int, step: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = batch_indices(len(ds), batch_size, step, seed)
    return ds.x[idx], ds.targets()[idx]


HELD_OUT = 0.2


def named(source: str, input_shape: tuple[int, ...], num_classes: int | None) -> Dataset:
    """A dataset by name: ``digits``, ``digits:train:SEED`` / ``digits:test:SEED`` (the 80/20 split
    the demo uses), or a file path (.npz / .csv)."""
    if source == "digits":
        ds = digits()
    elif source.startswith("digits:"):
        _, part, seed = source.split(":")
        train, test = digits().split(HELD_OUT, seed=int(seed))
        ds = train if part == "train" else test
    else:
        ds = load(Path(source), num_classes)
    return ds.reshape(input_shape)
