"""The public-instance layout: the one definition of what each public value of a proof means.

Python reads it from here; ``zkgrad/contracts/ZkgradRegistry.sol`` implements the same offsets in
``stepLayout``/``answerLayout`` and ``tests/test_layout.py`` fails if the two drift.

Every tensor that enters as a committed input or leaves as a committed output is one public
field element: ezkl's Poseidon hash of its quantized values (visibility ``hashed/public``).

Training step, P parameter tensors (inputs ``p_0..p_{P-1}, x, y``; outputs ``p'_0..p'_{P-1}, loss``)::

    [ H(p_0) .. H(p_{P-1}) | H(x) H(y) | H(p'_0) .. H(p'_{P-1}) | H(loss) ]      2P + 3 values

Inference bound to weights, K output values (inputs ``p_0..p_{P-1}, x``; outputs public)::

    [ H(p_0) .. H(p_{P-1}) | H(x) | y_0 .. y_{K-1} ]                              P + 1 + K values

A weights commitment is ``keccak256(abi.encodePacked(H(p_0), .., H(p_{P-1})))`` (uint256 words),
a batch commitment ``keccak256(abi.encodePacked(H(x), H(y)))``: standard ABI, any client can
recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from eth_utils import keccak

from .errors import InputError

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def felt(value: int | str) -> int:
    """A field element from an int, a 0x-hex string or ezkl's little-endian hex string."""
    if isinstance(value, int):
        v = value
    elif value.startswith("0x"):
        v = int(value, 16)
    else:  # ezkl witness format: 64 hex chars, little-endian bytes
        v = int.from_bytes(bytes.fromhex(value), "little")
    if not 0 <= v < FIELD_MODULUS:
        raise InputError(f"value {v} is not a BN254 field element")
    return v


def commit(words: Sequence[int]) -> bytes:
    """keccak256 over the words packed as uint256, big-endian: ``abi.encodePacked(uint256[])``."""
    return keccak(b"".join(int(w).to_bytes(32, "big") for w in words))


@dataclass(frozen=True)
class StepLayout:
    n_params: int

    @property
    def before(self) -> slice:
        return slice(0, self.n_params)

    @property
    def batch(self) -> slice:
        return slice(self.n_params, self.n_params + 2)

    @property
    def after(self) -> slice:
        return slice(self.n_params + 2, 2 * self.n_params + 2)

    @property
    def loss(self) -> int:
        return 2 * self.n_params + 2

    @property
    def length(self) -> int:
        return 2 * self.n_params + 3

    def check(self, instances: Sequence[int]) -> None:
        if len(instances) != self.length:
            raise InputError(
                f"a training-step proof for {self.n_params} parameter tensors has "
                f"{self.length} public values, this one has {len(instances)}"
            )

    def before_commitment(self, instances: Sequence[int]) -> bytes:
        self.check(instances)
        return commit(instances[self.before])

    def batch_commitment(self, instances: Sequence[int]) -> bytes:
        self.check(instances)
        return commit(instances[self.batch])

    def after_commitment(self, instances: Sequence[int]) -> bytes:
        self.check(instances)
        return commit(instances[self.after])


@dataclass(frozen=True)
class AnswerLayout:
    n_params: int
    n_outputs: int

    @property
    def weights(self) -> slice:
        return slice(0, self.n_params)

    @property
    def input(self) -> int:
        return self.n_params

    @property
    def outputs(self) -> slice:
        return slice(self.n_params + 1, self.n_params + 1 + self.n_outputs)

    @property
    def length(self) -> int:
        return self.n_params + 1 + self.n_outputs

    def check(self, instances: Sequence[int]) -> None:
        if len(instances) != self.length:
            raise InputError(
                f"an inference proof for {self.n_params} parameter tensors and {self.n_outputs} "
                f"outputs has {self.length} public values, this one has {len(instances)}"
            )

    def weights_commitment(self, instances: Sequence[int]) -> bytes:
        self.check(instances)
        return commit(instances[self.weights])
