"""Fixed point at scale s: a value is an integer divided by ``2**s``; integers live in the BN254 field.

ezkl quantizes an input float ``v`` as ``round(v * 2**s)`` with Rust's ``f64::round`` (halves away
from zero). A float that is exactly ``q / 2**s`` therefore comes back as ``q``: feeding
``dequantize(q)`` to ezkl reproduces the integers ``q`` bit for bit, which is what makes the
Poseidon hash of step t's output equal the hash of step t+1's input.
Negative integers are field elements ``p - |v|``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..layout import FIELD_MODULUS, felt

HALF_FIELD = FIELD_MODULUS // 2
MAX_ABS_INT = 2**52  # integers beyond this do not round-trip through an f64 witness input


def quantize(t: torch.Tensor | np.ndarray | Sequence[float] | float, scale: int) -> np.ndarray:
    """``round(t * 2**scale)`` as int64, halves away from zero (ezkl's rule)."""
    a = t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise InputError("cannot quantize a tensor holding NaN or infinity")
    scaled = a * float(2**scale)
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    if q.size and np.max(np.abs(q)) > MAX_ABS_INT:
        raise InputError(
            f"value {float(np.max(np.abs(a)))} is too large for scale {scale}",
            hint="lower the scale or the magnitude of the values",
        )
    return q.astype(np.int64)


def dequantize(q: np.ndarray | Sequence[int], scale: int) -> np.ndarray:
    """``q / 2**scale`` as float64: exact, and quantizes back to ``q``."""
    return np.asarray(q, dtype=np.int64).astype(np.float64) / float(2**scale)


def int_to_felt(v: int) -> int:
    """A signed integer as a field element (negative ``v`` becomes ``p - |v|``)."""
    return int(v) % FIELD_MODULUS


def felt_to_int(value: int | str) -> int:
    """A field element (int, 0x-hex or ezkl little-endian hex) as a signed integer."""
    f = felt(value)
    return f - FIELD_MODULUS if f > HALF_FIELD else f


def felt_hex_le(v: int) -> str:
    """ezkl's string form of a field element: 64 hex chars of its little-endian bytes."""
    return int_to_felt(v).to_bytes(32, "little").hex()


def claim_input(word: int) -> list[str]:
    """A step's claim as ezkl input: one field element, which ezkl takes as it is (no scaling)."""
    return [felt_hex_le(felt(word))]


def felts_to_ints(values: Iterable[int | str], shape: Sequence[int] | None = None) -> np.ndarray:
    """Field elements (any form ``felt`` accepts) as an int64 array, optionally reshaped."""
    ints = [felt_to_int(v) for v in values]
    if any(abs(i) > MAX_ABS_INT for i in ints):
        raise InputError("a field element is too large to be a fixed-point value of this circuit")
    a = np.asarray(ints, dtype=np.int64)
    return a.reshape(tuple(shape)) if shape is not None else a


def witness_output_ints(witness: dict[str, Any], shapes: Sequence[Sequence[int]] | None = None) -> list[np.ndarray]:
    """The exact integers of every output of an ezkl witness (``witness.json`` loaded as a dict).

    ``outputs`` holds one list of little-endian hex field elements per output tensor; they are
    the quantized values the circuit computed (before any hashing of the instances).
    """
    try:
        outputs = witness["outputs"]
    except (KeyError, TypeError) as e:
        raise InputError("not an ezkl witness: no 'outputs'", hint="pass the witness.json of gen_witness") from e
    if shapes is not None and len(shapes) != len(outputs):
        raise InputError(f"witness has {len(outputs)} outputs, expected {len(shapes)}")
    return [
        felts_to_ints(out, None if shapes is None else shapes[i]) for i, out in enumerate(outputs)
    ]
