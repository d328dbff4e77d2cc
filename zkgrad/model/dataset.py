"""Committed datasets: a model's training data fixed at registration.

The update that starts from version ``v`` trains on batch ``schedule_index(v, n_batches)`` of the
seeded schedule (``zkgrad.model.data.batch``). Batch ``i``'s commitment is what a step proof of that batch
publishes (``StepLayout.batch_commitment``): ``commit(batch_words(x, y, scale, commitment))``. The
dataset's root is the Merkle root (``zkgrad.merkle``, OpenZeppelin's StandardMerkleTree) over the
values ``(i, commitment_i)``, ``i = 0 .. n_batches - 1``; the registry checks each update's batch
against it with a Merkle path. An optional held-out set commits to its first ``size`` samples
(file order, always under the ``public`` scheme) for evaluating the trained model.

``data_sha256`` identifies the data itself: sha256 over, for ``x`` then the labels, a header
``NAME:DTYPE:SHAPE\\n`` (e.g. ``x:<f8:[1437, 64]``) and the array's bytes in C order, ``x`` as
float64 and the labels as int64 (class indices) or float64 (targets), little-endian.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import fsio
from ..errors import InputError
from ..layout import commit
from ..merkle import MerkleTree
from ..progress import Reporter, Timings
from .checkpoint import batch_words
from .data import Dataset, batch, named
from .spec import COMMITMENTS, ModelSpec
from .text import text_data

DATASET_FORMAT = 1
MIN_HELD_OUT = 100
"""Fewest held-out predictions a commitment covers: samples of a classifier, tokens of a language
model (``held_out_minimum``)."""
_NEW_WORKSPACE = "a registered model's data cannot change: make a new workspace with 'zkgrad model init'"
_HEX32 = re.compile(r"0x[0-9a-f]{64}")


@dataclass(frozen=True)
class HeldOut:
    source: str
    """The held-out data as named when committed (a file path or ``digits:test:SEED``)."""
    data_sha256: str
    """``data_sha256`` of the whole held-out dataset."""
    size: int
    """How many of its first samples (file order) the commitment covers."""
    commitment: str
    """``0x`` hex of ``commit(batch_words(x[:size], targets[:size], scale, "public"))``."""


@dataclass(frozen=True)
class DatasetCommitment:
    source: str
    """The training data as named when committed (a file path, ``digits`` or ``digits:train:SEED``)."""
    data_sha256: str
    """``data_sha256`` of the training data (hex)."""
    batch_size: int
    """Samples per batch: the spec's."""
    seed: int
    """Seed of the batch schedule (``zkgrad train --seed``)."""
    n_batches: int
    """Leaves of the tree: batches ``0 .. n_batches - 1``; update ``v`` uses batch ``v % n_batches``."""
    scale: int
    """Fixed-point bits the batches are quantized at: the spec's."""
    commitment: str
    """The spec's commitment scheme (``public`` or ``hashed``) the batch words follow."""
    root: str
    """``0x`` hex of the Merkle root over ``(i, batch_commitment_i)``."""
    held_out: HeldOut | None = None
    """The committed held-out samples, if any."""

    def to_dict(self) -> dict[str, Any]:
        return {"format": DATASET_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, doc: Any, where: str = "dataset commitment") -> "DatasetCommitment":
        """Parse and validate; anything malformed is an InputError naming ``where``."""
        def bad(why: str) -> InputError:
            return InputError(f"{where} is malformed: {why}", hint="it is written by 'zkgrad data commit'")

        if not isinstance(doc, dict):
            raise bad("not a JSON object")
        if doc.get("format") != DATASET_FORMAT:
            raise bad(f"format {doc.get('format')!r}, this zkgrad reads format {DATASET_FORMAT}")
        ints = {"batch_size": 1, "seed": 0, "n_batches": 1, "scale": 0}
        known = {"format", "source", "data_sha256", "commitment", "root", "held_out", *ints}
        if set(doc) - known:
            raise bad(f"unknown field {sorted(set(doc) - known)[0]!r}")
        for key, low in ints.items():
            if not _is_int(doc.get(key)) or doc[key] < low:
                raise bad(f"{key} must be an integer >= {low}")
        if doc.get("commitment") not in COMMITMENTS:
            raise bad(f"commitment must be one of {', '.join(COMMITMENTS)}")
        _check_common(doc, "root", bad)
        held = doc.get("held_out")
        if held is not None:
            if not isinstance(held, dict) or set(held) != {"source", "data_sha256", "size", "commitment"}:
                raise bad("held_out must hold source, data_sha256, size and commitment")
            _check_common(held, "commitment", lambda why: bad(f"held_out {why}"))
            if not _is_int(held["size"]) or held["size"] < 1:
                raise bad("held_out size must be an integer >= 1")
            held = HeldOut(**held)
        return cls(**{k: v for k, v in doc.items() if k not in ("format", "held_out")}, held_out=held)

    def check_spec(self, spec: ModelSpec) -> None:
        """Refuse a spec whose batches are not the committed ones (batch size, scale, commitment
        scheme), or for whose predictions the held-out set is too small (``held_out_minimum``)."""
        for what, committed, here in (("batch size", self.batch_size, spec.batch_size),
                                      ("scale", self.scale, spec.scale),
                                      ("commitment scheme", self.commitment, spec.commitment)):
            if committed != here:
                raise _differs(self, what, committed, here)
        if self.held_out is not None and self.held_out.size < held_out_minimum(spec):
            raise InputError(f"the committed held-out set covers {self.held_out.size} samples, this model's "
                             f"evaluation needs at least {held_out_minimum(spec)}",
                             hint="commit the data again with a larger --held-out-size; " + _NEW_WORKSPACE)

    def save(self, path: Path | str) -> Path:
        """Write atomically (the whole file or nothing)."""
        return fsio.write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path | str) -> "DatasetCommitment":
        return cls.from_dict(fsio.read_json(Path(path), "dataset commitment"), str(path))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_common(doc: Mapping[str, Any], key: str, bad: Callable[[str], InputError]) -> None:
    """``source``, ``data_sha256`` and the 0x-hex ``key`` (``root`` or ``commitment``)."""
    if not isinstance(doc.get("source"), str) or not doc["source"]:
        raise bad("source must be a non-empty string")
    if not isinstance(doc.get("data_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", doc["data_sha256"]):
        raise bad("data_sha256 must be 64 lowercase hex digits")
    if not isinstance(doc.get(key), str) or not _HEX32.fullmatch(doc[key]):
        raise bad(f"{key} must be 0x and 64 lowercase hex digits")


def data_sha256(ds: Dataset) -> str:
    """sha256 of the dataset's ``x`` and labels in canonical form (the module docstring)."""
    h = hashlib.sha256()
    labels_dtype = "<i8" if ds.num_classes is not None and ds.labels.ndim == 1 else "<f8"
    for name, a, dtype in (("x", ds.x, "<f8"), ("labels", ds.labels, labels_dtype)):
        arr = np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False))
        h.update(f"{name}:{dtype}:{list(arr.shape)}\n".encode())
        h.update(arr.tobytes(order="C"))
    return h.hexdigest()


def load_for(spec: ModelSpec, source: str) -> Dataset:
    """Data by name or path (``zkgrad.model.data.named``), shaped for ``spec``: class labels for
    ``cross_entropy``, float targets otherwise; a language model's windows of text (``zkgrad.model.text``)."""
    if spec.loss == "next_token":
        return text_data(source, spec.vocab or "", spec.context)
    return named(source, spec.input_shape, spec.num_classes if spec.loss == "cross_entropy" else None)


def schedule_index(version: int, n_batches: int) -> int:
    """The batch of the update that starts from model version ``version``: ``version % n_batches``."""
    if n_batches < 1 or version < 0:
        raise InputError(f"no batch schedule for version {version} of {n_batches} batches")
    return version % n_batches


def batch_commitment(spec: ModelSpec, ds: Dataset, index: int, seed: int) -> bytes:
    """The commitment a step proof of batch ``index`` (of the ``seed`` schedule) publishes."""
    x, y = batch(ds, spec.batch_size, index, seed)
    return commit(batch_words(x, y, spec.scale, spec.commitment))


def commit_dataset(spec: ModelSpec, ds: Dataset, *, source: str, seed: int, n_batches: int,
                   held_out: Dataset | None = None, held_out_source: str | None = None,
                   held_out_size: int = MIN_HELD_OUT, reporter: Reporter | None = None) -> DatasetCommitment:
    """Commit to the first ``n_batches`` batches of ``ds`` under ``seed`` (and to a held-out set)."""
    if n_batches < 1:
        raise InputError(f"{n_batches} batches: a dataset commitment needs at least one",
                         hint="pass --batches N with N >= 1")
    if seed < 0:
        raise InputError(f"batch seed {seed} is negative", hint="use a seed >= 0")
    _check_fits(spec, ds, source)
    held = None if held_out is None else _held_out(spec, held_out, held_out_source, held_out_size)
    tree = _tree(spec, ds, seed, n_batches, reporter)
    return DatasetCommitment(source=source, data_sha256=data_sha256(ds), batch_size=spec.batch_size, seed=seed,
                             n_batches=n_batches, scale=spec.scale, commitment=spec.commitment,
                             root="0x" + tree.root.hex(), held_out=held)


def check(commitment: DatasetCommitment, spec: ModelSpec, ds: Dataset, *, seed: int | None = None) -> MerkleTree:
    """Refuse training ``spec`` on ``ds`` (with batch ``seed``, when given) unless it is the committed
    data and schedule; returns the recomputed tree (for ``batch_proof``)."""
    commitment.check_spec(spec)
    if seed is not None and seed != commitment.seed:
        raise _differs(commitment, "batch seed", commitment.seed, seed)
    digest = data_sha256(ds)
    if digest != commitment.data_sha256:
        raise _differs(commitment, "data hash", commitment.data_sha256[:16] + "…", digest[:16] + "…")
    tree = _tree(spec, ds, commitment.seed, commitment.n_batches, None)
    if "0x" + tree.root.hex() != commitment.root:
        raise _differs(commitment, "batch root", commitment.root, "0x" + tree.root.hex())
    return tree


def _differs(commitment: DatasetCommitment, what: str, committed: Any, here: Any) -> InputError:
    return InputError(f"the {what} differs from the committed dataset's ({here} here, {committed} committed)",
                      hint=f"train on the committed data '{commitment.source}' with --seed {commitment.seed}; "
                           + _NEW_WORKSPACE)


def batch_proof(spec: ModelSpec, ds: Dataset, commitment: DatasetCommitment, version: int, *,
                tree: MerkleTree | None = None) -> tuple[int, bytes, list[bytes]]:
    """(schedule index, batch commitment, Merkle path) of the update that starts from ``version``.
    ``tree``: the one ``check`` returned, to skip recomputing every batch on each step."""
    if tree is None:
        tree = check(commitment, spec, ds)
    elif "0x" + tree.root.hex() != commitment.root:
        raise InputError("the Merkle tree given is not the committed dataset's", hint="pass the tree 'check' returned")
    index = schedule_index(version, commitment.n_batches)
    c = batch_commitment(spec, ds, index, commitment.seed)
    if tree.commitments[index] != c:
        raise InputError(f"batch {index} differs from the committed one", hint=f"train on '{commitment.source}'")
    return index, c, tree.proof(index)


def held_out_commitment(spec: ModelSpec, ds: Dataset, size: int = MIN_HELD_OUT) -> bytes:
    """``commit(batch_words(x[:size], targets[:size], scale, "public"))``: the first ``size`` samples."""
    return commit(batch_words(ds.x[:size], ds.targets()[:size], spec.scale, "public"))


def predictions_per_sample(spec: ModelSpec) -> int:
    """What one held-out sample is counted as: one class, or a language model's every position."""
    return spec.context if spec.loss == "next_token" else 1


def held_out_minimum(spec: ModelSpec) -> int:
    """The fewest held-out samples that make ``MIN_HELD_OUT`` predictions."""
    return -(-MIN_HELD_OUT // predictions_per_sample(spec))


def _held_out(spec: ModelSpec, ds: Dataset, source: str | None, size: int) -> HeldOut:
    if not source:
        raise InputError("a held-out set needs its source name", hint="pass held_out_source")
    least = held_out_minimum(spec)
    if size < least:
        raise InputError(f"a held-out commitment of this model covers at least {least} samples, not {size}",
                         hint=f"pass --held-out-size {least} or more")
    if len(ds) < size:
        raise InputError(f"held-out data {source} has {len(ds)} samples, {size} are committed",
                         hint=f"use a held-out set of at least {size} samples, or a smaller --held-out-size "
                              f"(>= {least})")
    _check_fits(spec, ds, source)
    return HeldOut(source=source, data_sha256=data_sha256(ds), size=size,
                   commitment="0x" + held_out_commitment(spec, ds, size).hex())


def _check_fits(spec: ModelSpec, ds: Dataset, source: str) -> None:
    """Samples and targets of the spec's sizes: else the words would be no proof's words."""
    if len(ds) == 0 or ds.x[0].size != math.prod(spec.input_shape):
        raise InputError(f"{source}: samples have {ds.x[0].size if len(ds) else 0} values, the model's input shape "
                         f"is {list(spec.input_shape)}", hint="give data for this model")
    width = ds.targets()[0].size
    if width != math.prod(spec.target_shape):
        raise InputError(f"{source}: targets have {width} values per sample, the model's target shape is "
                         f"{list(spec.target_shape)}", hint="give data for this model")
    if spec.batch_size > len(ds):
        raise InputError(f"{source} has {len(ds)} samples, fewer than the batch size {spec.batch_size}",
                         hint="give more data")


def _tree(spec: ModelSpec, ds: Dataset, seed: int, n_batches: int, reporter: Reporter | None) -> MerkleTree:
    with Timings(reporter).stage(f"committing {n_batches} batches"):
        return MerkleTree([batch_commitment(spec, ds, i, seed) for i in range(n_batches)])
