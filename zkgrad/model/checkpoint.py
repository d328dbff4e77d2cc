"""Checkpoints: the exact fixed-point model state and its commitment, chained step by step.

A checkpoint holds the state tensors (the parameters, then SGD momentum velocities when the spec
has momentum) as the exact integers at scale s that a proof consumed or produced, and commits to
them as ``zkgrad.layout`` says: ``commit`` over each tensor's words (its values as field elements
under the ``public`` commitment; its Poseidon hash, what ezkl publishes for a ``hashed/public``
input or output, under ``hashed``). That is what a step proof's before/after commitment equals;
``weights_commitment`` covers only the model parameters (the inference layout).

On disk a checkpoint is a folder: ``state-<hash>.npz`` (the integers) and ``checkpoint.json``
(everything else, naming the npz and its sha256). The npz is written first under a fresh name,
then the JSON is renamed into place: that rename is the commit point, so a crash at any moment
leaves either the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import engine, fsio
from ..errors import InputError, MissingFileError
from ..layout import commit, felt
from .quant import (
    claim_input,
    dequantize,
    felt_hex_le,
    int_to_felt,
    quantize,
    witness_output_ints,
)
from .spec import COMMITMENTS, ModelSpec

CHECKPOINT_FORMAT = 2
JSON_NAME = "checkpoint.json"
_REWRITE = "a checkpoint is written by zkgrad: restore it, or use another one"


def tensor_hash(q: np.ndarray | Sequence[int]) -> int:
    """ezkl's Poseidon hash of a tensor's integers (row-major), as a field element.

    Equals ``witness['processed_inputs']['poseidon_hash'][i]`` for that tensor fed as input i."""
    flat = np.asarray(q, dtype=np.int64).reshape(-1)
    if flat.size == 0:
        raise InputError("cannot hash an empty tensor")
    return felt(engine.poseidon_hash([felt_hex_le(int(v)) for v in flat])[0])


def tensor_words(q: np.ndarray | Sequence[int], commitment: str) -> tuple[int, ...]:
    """A tensor's public words (``zkgrad.layout``): its integers as field elements, or their hash."""
    if commitment == "hashed":
        return (tensor_hash(q),)
    return tuple(int_to_felt(int(v)) for v in np.asarray(q, dtype=np.int64).reshape(-1))


def batch_words(x: np.ndarray, y: np.ndarray, scale: int, commitment: str) -> tuple[int, ...]:
    """The words of a batch quantized at ``scale``; ``commit`` of them is the batch commitment."""
    return tensor_words(quantize(x, scale), commitment) + tensor_words(quantize(y, scale), commitment)


@dataclass(frozen=True)
class Checkpoint:
    version: int
    """Steps since genesis (0 = genesis)."""
    scale: int
    """Fixed-point bits of every tensor."""
    params: Mapping[str, np.ndarray]
    """State tensor name -> int64 integers at ``scale``, in graph order (parameters, then ``momentum.<name>``)."""
    n_params: int
    """How many of ``params`` (the first ones) are model parameters; the rest are optimizer state."""
    commitment_scheme: str = "public"
    """``public`` or ``hashed``: the spec's ``commitment``, how the tensors become words."""
    hashes: tuple[int, ...] = field(default=())
    """``hashed`` only: the Poseidon hash of each state tensor, same order (computed when left empty)."""
    parent: bytes | None = None
    """``commitment`` of the checkpoint this one was stepped from; None for genesis."""
    loss: float | None = None
    """Loss of the step that produced this checkpoint (rescaled proven value), when known."""
    batch_commitment: bytes | None = None
    """``commit([H(x), H(y)])`` of the batch of that step, when known."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Free JSON metadata (spec file, proof path, fidelity figures...)."""

    def __post_init__(self) -> None:
        params = {k: np.asarray(v, dtype=np.int64) for k, v in self.params.items()}
        object.__setattr__(self, "params", params)
        if not 0 < self.n_params <= len(params):
            raise InputError(f"n_params {self.n_params} does not fit {len(params)} state tensors")
        if self.commitment_scheme not in COMMITMENTS:
            raise InputError(f"unknown commitment '{self.commitment_scheme}'", hint=f"use one of {', '.join(COMMITMENTS)}")
        if self.commitment_scheme == "public":
            object.__setattr__(self, "hashes", ())
        elif not self.hashes:
            object.__setattr__(self, "hashes", tuple(tensor_hash(v) for v in params.values()))
        elif len(self.hashes) != len(params):
            raise InputError(f"{len(self.hashes)} hashes for {len(params)} state tensors")

    # --- commitments ---------------------------------------------------------------------
    def words(self, tensors: int | None = None) -> list[int]:
        """The public words of the first ``tensors`` state tensors (all by default), in order."""
        if self.commitment_scheme == "hashed":
            return list(self.hashes[:tensors])
        return [w for q in self.state()[:tensors] for w in tensor_words(q, "public")]

    @property
    def commitment(self) -> bytes:
        """``commit`` over every state tensor's words: a step proof's before/after commitment."""
        return commit(self.words())

    @property
    def weights_commitment(self) -> bytes:
        """``commit`` over the model parameters' words only: an inference proof's commitment."""
        return commit(self.words(self.n_params))

    # --- views ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.params)

    def state(self) -> list[np.ndarray]:
        """The integer tensors in graph order."""
        return list(self.params.values())

    def float_state(self) -> list[np.ndarray]:
        """The tensors as exact float64 values ``q / 2**scale`` (what to feed ezkl or torch)."""
        return [dequantize(v, self.scale) for v in self.params.values()]

    def step_input(self, x: np.ndarray, y: np.ndarray, claim: int = 0) -> dict[str, Any]:
        """ezkl input data for a step from this checkpoint: state, x, y as floats that quantize
        exactly, then the claim word (``zkgrad.layout.claim_word``; 0 binds no submitter)."""
        tensors = [*self.float_state(), dequantize(quantize(x, self.scale), self.scale),
                   dequantize(quantize(y, self.scale), self.scale)]
        return {"input_data": [*(t.reshape(-1).tolist() for t in tensors), claim_input(claim)]}

    def answer_input(self, x: np.ndarray) -> dict[str, Any]:
        """ezkl input data for an answer with these weights: the parameters, then one sample ``x``."""
        xq = dequantize(quantize(np.asarray(x, dtype=np.float64), self.scale), self.scale)
        tensors = [*self.float_state()[: self.n_params], xq]
        return {"input_data": [t.reshape(-1).tolist() for t in tensors]}

    # --- chaining --------------------------------------------------------------------------
    def child(self, new_state: Sequence[np.ndarray], *, loss: float | None = None,
              batch_commitment: bytes | None = None, hashes: Sequence[int] = (),
              meta: Mapping[str, Any] | None = None) -> Checkpoint:
        """The checkpoint after one step: ``new_state`` integers in this checkpoint's order and shapes."""
        if len(new_state) != len(self.params):
            raise InputError(f"a step returns {len(self.params)} state tensors, got {len(new_state)}")
        params = {}
        for (name, old), new in zip(self.params.items(), new_state):
            new = np.asarray(new, dtype=np.int64)
            if new.size != old.size:
                raise InputError(f"state tensor {name} has {old.size} values, the step gave {new.size}")
            params[name] = new.reshape(old.shape)
        return Checkpoint(
            version=self.version + 1, scale=self.scale, params=params, n_params=self.n_params,
            commitment_scheme=self.commitment_scheme, hashes=tuple(hashes), parent=self.commitment, loss=loss,
            batch_commitment=batch_commitment, meta=dict(meta or {}),
        )

    def child_from_witness(self, witness: Mapping[str, Any], *, loss_scale: int | None = None,
                           meta: Mapping[str, Any] | None = None) -> Checkpoint:
        """The next checkpoint from an ezkl step witness: the exact output integers, the output
        hashes ezkl computed (``hashed``: checked against ours), the loss and the batch commitment.
        ``loss_scale``: the loss output's scale from the circuit settings (default: ``scale``)."""
        shapes = [v.shape for v in self.params.values()] + [(-1,)]
        outs = witness_output_ints(dict(witness), shapes)
        n = len(self.params)
        loss = float(dequantize(outs[n], self.scale if loss_scale is None else loss_scale).reshape(-1)[0])
        child = self.child(outs[:n], loss=loss, meta=meta)
        if self.commitment_scheme == "hashed":
            processed = (witness.get("processed_outputs") or {}).get("poseidon_hash") or []
            if tuple(felt(h) for h in processed[:n]) != child.hashes:
                raise InputError("the witness's output hashes differ from the hashes of its outputs",
                                 hint="was the circuit compiled with output visibility hashed/public?")
        if self.commitment_scheme == "hashed":
            ins = [[felt(h)] for h in (witness.get("processed_inputs") or {}).get("poseidon_hash") or []]
        else:
            try:
                ins = [[felt(v) for v in t] for t in witness["inputs"]]
            except (KeyError, TypeError) as e:
                raise InputError("not an ezkl witness: no 'inputs'", hint="pass the witness.json of gen_witness") from e
        if len(ins) != n + 3 or [w for t in ins[:n] for w in t] != self.words():  # state, x, y, claim
            raise InputError("the witness was not computed from this checkpoint (its inputs differ)",
                             hint="feed checkpoint.step_input(x, y, claim) to gen_witness")
        return replace(child, batch_commitment=commit([w for t in ins[n : n + 2] for w in t]))

    # --- files -----------------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        """Write into folder ``path`` (or beside ``path`` when it names a ``.json`` file); returns the JSON path."""
        path = Path(path)
        json_path = path if path.suffix == ".json" else path / JSON_NAME
        buf = io.BytesIO()
        np.savez(buf, **{f"t{i}": v for i, v in enumerate(self.params.values())})
        blob = buf.getvalue()
        npz_name = f"state-{self.commitment.hex()[:16]}.npz"
        fsio.write_bytes(json_path.parent / npz_name, blob)
        doc = {
            "format": CHECKPOINT_FORMAT,
            "version": self.version,
            "scale": self.scale,
            "n_params": self.n_params,
            "commitment_scheme": self.commitment_scheme,
            "names": self.names,
            "shapes": [list(v.shape) for v in self.params.values()],
            "state_file": npz_name,
            "state_sha256": hashlib.sha256(blob).hexdigest(),
            "hashes": [hex(h) for h in self.hashes],
            "commitment": "0x" + self.commitment.hex(),
            "weights_commitment": "0x" + self.weights_commitment.hex(),
            "parent": "0x" + self.parent.hex() if self.parent else None,
            "loss": self.loss,
            "batch_commitment": "0x" + self.batch_commitment.hex() if self.batch_commitment else None,
            "meta": dict(self.meta),
        }
        fsio.write_json(json_path, doc)  # the commit point
        for stale in json_path.parent.glob("state-*.npz"):
            if stale.name != npz_name and not _referenced_elsewhere(stale, json_path):
                stale.unlink(missing_ok=True)
        return json_path

    @classmethod
    def load(cls, path: Path | str, *, verify: bool = True) -> Checkpoint:
        """Read a checkpoint; ``verify`` recomputes its words (values or Poseidon hashes) and the commitment."""
        path = Path(path)
        json_path = path if path.suffix == ".json" else path / JSON_NAME
        doc = fsio.read_json(json_path, "checkpoint")
        if not isinstance(doc, dict):
            raise InputError(f"{json_path} is not a zkgrad checkpoint (not a JSON object)", hint=_REWRITE,
                             path=str(json_path))
        try:
            if doc["format"] != CHECKPOINT_FORMAT:
                raise InputError(f"checkpoint format {doc['format']} is not supported",
                                 hint=f"this zkgrad reads format {CHECKPOINT_FORMAT}", path=str(json_path))
            npz_path = json_path.parent / doc["state_file"]
            if not npz_path.is_file():
                raise MissingFileError(npz_path, "checkpoint state file")
            blob = npz_path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != doc["state_sha256"]:
                raise InputError(f"checkpoint state file {npz_path} does not match its sha256",
                                 hint="the file was modified or truncated", path=str(npz_path))
            arrays = _state_arrays(blob, len(doc["names"]), npz_path)
            ckpt = cls(
                version=int(doc["version"]), scale=int(doc["scale"]),
                params=dict(zip(doc["names"], arrays)), n_params=int(doc["n_params"]),
                commitment_scheme=doc["commitment_scheme"],
                hashes=() if verify else tuple(int(h, 16) for h in doc["hashes"]),
                parent=bytes.fromhex(doc["parent"][2:]) if doc["parent"] else None,
                loss=doc["loss"],
                batch_commitment=bytes.fromhex(doc["batch_commitment"][2:]) if doc["batch_commitment"] else None,
                meta=doc.get("meta") or {},
            )
        except InputError:
            raise
        except KeyError as e:
            raise InputError(f"checkpoint {json_path} is malformed: no {e}", hint=_REWRITE, path=str(json_path)) from None
        except (TypeError, ValueError, AttributeError) as e:
            why = (str(e).splitlines() or [type(e).__name__])[0]
            raise InputError(f"checkpoint {json_path} is malformed: {why}", hint=_REWRITE, path=str(json_path)) from None
        if verify and "0x" + ckpt.commitment.hex() != doc["commitment"]:
            raise InputError(f"checkpoint {json_path}: stored commitment does not match its tensors",
                             hint="the checkpoint was tampered with", path=str(json_path))
        return ckpt


def _state_arrays(blob: bytes, n: int, npz_path: Path) -> list[np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return [z[f"t{i}"] for i in range(n)]
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(f"checkpoint state file {npz_path} does not hold the {n} tensors its checkpoint names",
                         hint=_REWRITE, path=str(npz_path)) from None


def _referenced_elsewhere(npz: Path, json_path: Path) -> bool:
    """Whether another checkpoint JSON in the same folder names this npz (folders may hold several)."""
    for other in npz.parent.glob("*.json"):
        if other == json_path:
            continue
        try:
            if fsio.read_json(other).get("state_file") == npz.name:
                return True
        except Exception:  # not a checkpoint file
            continue
    return False


def genesis(spec: ModelSpec, *, meta: Mapping[str, Any] | None = None) -> Checkpoint:
    """Version 0: the factory's weights under ``spec.seed``, quantized at ``spec.scale``; zero
    momentum buffers when the spec has momentum."""
    module = spec.build_module()
    params = {n: quantize(p, spec.scale) for n, p in module.named_parameters()}
    if not params:
        raise InputError("the model has no parameters")
    n = len(params)
    if spec.has_momentum:
        params.update({f"momentum.{k}": np.zeros_like(v) for k, v in list(params.items())})
    return Checkpoint(version=0, scale=spec.scale, params=params, n_params=n, commitment_scheme=spec.commitment,
                      meta=dict(meta or {}))
