"""The model spec: everything that fixes a training-step circuit, loadable from one JSON file.

Two specs that compare equal give the same ONNX graph and so the same circuit.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from .. import fsio
from ..errors import InputError

LOSSES = ("mse", "cross_entropy", "next_token")
OPTIMIZERS = ("sgd",)
COMMITMENTS = ("public", "hashed")
SPEC_VERSION = 2  # 2: the learning rate folded into the gradient, clamped cross-entropy, commitment schemes


def import_factory(factory: str) -> Any:
    """The callable a ``module:function`` factory names, imported."""
    module_name, _, func_name = factory.partition(":")
    try:
        mod = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(
            f"cannot import model module '{module_name}': {e}",
            hint="check the factory path and that the module is on PYTHONPATH",
            factory=factory,
        ) from e
    fn = getattr(mod, func_name, None)
    if not callable(fn):
        raise InputError(
            f"'{func_name}' is not a callable in module '{module_name}'",
            hint="the factory must be 'module:function'",
            factory=factory,
        )
    return fn


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    factory: str
    """Importable ``"module:function"`` returning a fresh ``nn.Module``, e.g. ``"zkgrad.models:digits_mlp"``."""

    loss: Literal["mse", "cross_entropy", "next_token"]
    """``mse``: mean over every element of ``(out - y)**2``; ``cross_entropy``: ``-(y * log_softmax(out)).sum(1).mean()``
    with one-hot (or soft) float targets ``y``; ``next_token``: a language model's, cross-entropy at every
    position of logits ``(B, T, V)`` against the next token ids ``y`` of shape ``(B, T)``."""

    optimizer: Literal["sgd"] = "sgd"
    """Only SGD: ``v = momentum*v + lr*(g + weight_decay*p)`` (v only when momentum > 0), ``p -= v``:
    torch's SGD at a constant learning rate, its buffer times ``lr``."""

    lr: float
    """Learning rate."""

    momentum: float = 0.0
    """SGD momentum (no dampening, no Nesterov). When > 0 the velocity tensors ``v`` are extra
    state: the step graph takes and returns them after the parameters, and they are committed and
    chained like the parameters."""

    weight_decay: float = 0.0
    """L2 weight decay, folded into the gradient: ``g + weight_decay * p``."""

    batch_size: int
    """Samples per step; the circuit is built for exactly this many."""

    input_shape: tuple[int, ...]
    """Shape of one input sample, e.g. ``(64,)`` or ``(1, 8, 8)``."""

    target_shape: tuple[int, ...]
    """Shape of one target; for ``cross_entropy`` ``(num_classes,)`` (one-hot floats)."""

    scale: int = 12
    """Fixed-point bits: a value is an integer divided by ``2**scale`` everywhere in the circuit."""

    seed: int = 0
    """Seed for the genesis weights (``torch.manual_seed`` before calling the factory)."""

    factory_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the factory (JSON values only)."""

    commitment: Literal["public", "hashed"] = "public"
    """How proofs commit to the state and the batch (``zkgrad.layout``): ``public``, every quantized
    value is a public value (the registry hashes them with keccak, and each update carries its new
    weights in its calldata); ``hashed``, one Poseidon hash per tensor (for models whose values do
    not fit a transaction; slower to prove)."""

    vocab: str | None = None
    """A language model's (``next_token``) tokenizer: the characters of token ids ``0 .. V-1``, in order
    (``zkgrad.model.text``). Published with the spec, so anyone reads the model's tokens alike."""

    def __post_init__(self) -> None:
        # JSON gives lists; keep the dataclass hashable-in-spirit and comparable.
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "target_shape", tuple(int(d) for d in self.target_shape))
        self.validate()

    # --- validation ------------------------------------------------------------------------
    def validate(self) -> None:
        if not isinstance(self.factory, str) or ":" not in self.factory:
            raise InputError(
                f"model factory '{self.factory}' is not of the form 'module:function'",
                hint="e.g. zkgrad.models:digits_mlp",
            )
        if self.loss not in LOSSES:
            raise InputError(f"unknown loss '{self.loss}'", hint=f"use one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.optimizer}'", hint="only sgd is supported")
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {v!r}", hint=f"pass --{name.replace('_', '-')} as a number >= 0")
        if self.lr == 0:
            raise InputError("lr must be > 0", hint="pass --lr as a positive number, e.g. 0.1")
        if self.momentum >= 1:
            raise InputError(f"momentum must be < 1, got {self.momentum}", hint="use a momentum in [0, 1), e.g. 0.9")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {self.batch_size!r}", hint="pass --batch-size N with N >= 1")
        for name in ("input_shape", "target_shape"):
            shape = getattr(self, name)
            if not shape or any(d < 1 for d in shape):
                raise InputError(f"{name} must be a non-empty tuple of positive sizes, got {shape}", hint="give sizes >= 1, comma-separated, e.g. 64")
        if self.loss == "cross_entropy" and len(self.target_shape) != 1:
            raise InputError(
                f"cross_entropy needs target_shape (num_classes,), got {self.target_shape}",
                hint="targets are one-hot float vectors",
            )
        if self.loss == "next_token":
            self._validate_language_model()
        elif self.vocab is not None:
            raise InputError("only a next_token model has a vocabulary", hint="drop vocab, or use --loss next_token")
        if self.commitment not in COMMITMENTS:
            raise InputError(f"unknown commitment '{self.commitment}'", hint=f"use one of {', '.join(COMMITMENTS)}")
        if not isinstance(self.scale, int) or not 1 <= self.scale <= 24:
            raise InputError(f"scale must be an integer in 1..24 bits, got {self.scale!r}", hint="pass --scale between 1 and 24, e.g. 12")

    def _validate_language_model(self) -> None:
        if not isinstance(self.vocab, str) or len(self.vocab) < 2 or len(set(self.vocab)) != len(self.vocab):
            raise InputError("a next_token model needs a vocabulary of two or more distinct characters",
                             hint="create it with 'zkgrad model init --text FILE' (or the bundled corpus)")
        if len(self.input_shape) != 1 or self.target_shape != self.input_shape:
            raise InputError(f"a next_token model takes windows of token ids: input_shape and target_shape are both "
                             f"(context,), got {list(self.input_shape)} and {list(self.target_shape)}",
                             hint="pass --context N")

    # --- derived -----------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Classes for ``cross_entropy`` (the target width), the vocabulary's size for ``next_token``;
        for ``mse`` the flattened target size."""
        if self.loss == "next_token":
            return len(self.vocab or "")
        return math.prod(self.target_shape)

    @property
    def context(self) -> int:
        """A language model's window: tokens per sample."""
        return self.input_shape[0]

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch_size, *self.input_shape)

    @property
    def y_shape(self) -> tuple[int, ...]:
        return (self.batch_size, *self.target_shape)

    @property
    def has_momentum(self) -> bool:
        return self.momentum > 0

    def build_module(self, *, seed: int | None = None) -> nn.Module:
        """A fresh module from the factory, its initial weights drawn under ``seed`` (default: the spec's)."""
        fn = import_factory(self.factory)
        torch.manual_seed(self.seed if seed is None else seed)
        try:
            module = fn(**self.factory_kwargs)
        except TypeError as e:  # the kwargs do not fit the factory's signature
            raise InputError(f"factory {self.factory} does not take {self.factory_kwargs}: {e}",
                             hint="fix the factory keyword arguments (--kwargs)", factory=self.factory) from e
        if not isinstance(module, nn.Module):
            raise InputError(
                f"factory {self.factory} returned {type(module).__name__}, not an nn.Module",
                factory=self.factory,
            )
        return module.eval()

    # --- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["target_shape"] = list(self.target_shape)
        if self.vocab is None:  # a classifier's spec, and so its hash, as before vocabularies
            del d["vocab"]
        return {"version": SPEC_VERSION, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if not isinstance(data, dict):
            raise InputError("a model spec must be a JSON object", hint="recreate it with 'zkgrad model init'")
        data = dict(data)
        version = data.pop("version", SPEC_VERSION)
        if version != SPEC_VERSION:
            raise InputError(f"model spec version {version} is not supported (expected {SPEC_VERSION})", hint="recreate it with 'zkgrad model init'")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown model spec field(s): {', '.join(unknown)}", hint=f"known fields: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as e:  # a missing required field
            raise InputError(f"invalid model spec: {e}", hint=f"fields: {', '.join(sorted(known))}") from e

    def save(self, path: Path | str) -> Path:
        return fsio.write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path | str) -> ModelSpec:
        return cls.from_dict(fsio.read_json(Path(path), "model spec"))
