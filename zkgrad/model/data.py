"""Training data: scikit-learn's digits (ships with the package, offline), npz and csv files,
and seeded batches."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingFileError


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
        x, y = _read_npz(path)
    elif path.suffix == ".csv":
        x, y = _read_csv(path)
    else:
        raise InputError(f"unsupported data file {path}", hint="use .npz (x, y) or .csv (label last)")
    if x.ndim == 0 or y.ndim == 0 or len(x) == 0:
        raise InputError(f"{path} holds no samples", hint="x and y need one row per sample")
    if len(x) != len(y):
        raise InputError(f"{path}: {len(x)} samples but {len(y)} labels", hint="x and y need the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError(f"{path} contains NaN or infinity", hint="use finite numbers only")
    if y.ndim == 1 and num_classes is not None:
        labels = y.astype(np.int64)
        if not np.array_equal(labels, y) or labels.min() < 0 or labels.max() >= num_classes:
            raise InputError(f"{path}: labels must be integers in 0..{num_classes - 1}",
                             hint="one class index per sample (cross_entropy)")
        return Dataset(x, labels, num_classes)
    return Dataset(x, y.astype(np.float64), None)


def load_sample(path: Path | str) -> np.ndarray:
    """One input sample: ``{"input_data": [[...]]}`` (its first tensor) or a ``.npz`` with ``x``."""
    from ..fsio import read_json

    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise MissingFileError(path, "input")
        try:
            with np.load(path, allow_pickle=False) as z:
                x = np.asarray(z["x"], dtype=np.float64)
        except (KeyError, OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
            raise InputError(f"{path} is not an .npz with a numeric array x",
                             hint="write it with np.savez(path, x=...)") from None
    else:
        doc = read_json(path, "input")
        tensors = doc.get("input_data") if isinstance(doc, dict) else None
        try:
            x = np.asarray(tensors[0], dtype=np.float64)  # type: ignore[index]
        except (TypeError, ValueError, IndexError, KeyError):
            raise InputError(f"input {path} is not ezkl's format with one numeric sample",
                             hint='write {"input_data": [[x0, x1, ...]]}') from None
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError(f"input {path} holds no values, or NaN or infinity", hint="give one sample of finite numbers")
    return x


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z or "y" not in z:
                raise InputError(f"{path} must hold arrays 'x' and 'y' (has {', '.join(z.files) or 'none'})",
                                 hint="np.savez(path, x=..., y=...)")
            return np.asarray(z["x"], dtype=np.float64), np.asarray(z["y"], dtype=np.float64)
    except InputError:
        raise
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{path} is not an .npz of numeric arrays x and y",
                         hint="write it with np.savez(path, x=..., y=...), numbers only") from None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about an empty file: refused below
            arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a numeric csv: {str(e).split(';')[0]}",
                         hint="numbers only, label in the last column") from None
    if arr.size and arr.shape[1] < 2:
        raise InputError(f"{path} has one column: features and a label are needed",
                         hint="one row per sample, features then the label, comma separated")
    return arr[:, :-1], arr[:, -1]


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
        part, _, seed = source.removeprefix("digits:").partition(":")
        if part not in ("train", "test") or not seed.isdigit():
            raise InputError(f"unknown data name '{source}'", hint="use digits, digits:train:SEED, digits:test:SEED or a file")
        train, test = digits().split(HELD_OUT, seed=int(seed))
        ds = train if part == "train" else test
    else:
        ds = load(Path(source), num_classes)
    return ds.reshape(input_shape)
