"""The public-instance layout: the one definition of what each public value of a proof means.

Python reads it from here; ``zkgrad/contracts/ZkgradRegistry.sol`` implements the same offsets in
``stepLayout``/``answerLayout`` and ``tests/test_layout.py`` fails if the two drift.

Every tensor that enters as a committed input or leaves as a committed output is a run of
public field elements, its *words*. Under the ``public`` commitment (the default) a tensor's words
are its quantized values, row-major (a negative v is the field element p + v); under ``hashed``
it is one word, ezkl's Poseidon hash of those values (visibility ``hashed/public``).

Training step: the state (the parameters ``p_0..p_{P-1}``, then momentum velocities when the
spec has momentum) takes S words, the batch ``x, y`` B words, and one word is the step's *claim*
(``claim_word``: who may submit it, to which registry, model and version)::

    [ state before (S) | x y (B) | claim (1) | state after (S) | loss (1) ]      2S + B + 2 words

The claim is a graph input that no operation reads: it enters the proof only as a public value,
which the proof's transcript binds like every other (a proof does not verify for another claim).

Inference bound to weights (the parameters, W words; W < S only with momentum), input X words::

    [ weights (W) | x (X) | y_0 .. y_{K-1} ]                                     W + X + K words

Evaluation of weights on a held-out set of N samples baked into the circuit (no words of its own):
the samples classified correctly, times ``unit``::

    [ weights (W) | correct * unit (1) ]                                         W + 1 words

A commitment to a run of words is ``keccak256(abi.encodePacked(words))`` over uint256 words
(``commit``): the state commitment (a model's head), the weights commitment (the first W words of
a state), the batch commitment and the input commitment. Standard ABI: any client recomputes them.
A transaction is capped at 128 KB by default node policy, which bounds a ``public`` model's size
(``check_calldata``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

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


CLAIM_INPUT = "claim"
"""The step graph's last input: one value, read by no operation, public as the claim word."""


def claim_word(chain_id: int, registry: str, model_id: int, version: int, submitter: str) -> int:
    """The claim a step proof carries: ``keccak256(abi.encode(chainid, registry, modelId, version,
    submitter)) mod p``, ``version`` being the one the step creates. The registry recomputes it from
    ``msg.sender`` (``claimWord``), so a copied proof pays no one but its producer, and only once."""
    data = abi_encode(["uint256", "address", "uint256", "uint256", "address"],
                      [chain_id, to_checksum_address(registry), model_id, version, to_checksum_address(submitter)])
    return int.from_bytes(keccak(data), "big") % FIELD_MODULUS


def commit(words: Sequence[int]) -> bytes:
    """keccak256 over the words packed as uint256, big-endian: ``abi.encodePacked(uint256[])``."""
    return keccak(b"".join(int(w).to_bytes(32, "big") for w in words))


MAX_TX_BYTES = 128 * 1024
"""Default node policy (geth, anvil): larger transactions are not relayed."""
PROOF_BYTES_BUDGET = 16 * 1024
"""Room left for the proof and the ABI framing of a submission (a digits step proof is 8,000 bytes)."""


def word_count(size: int, commitment: str) -> int:
    """Words a tensor of ``size`` values takes: all of them (``public``) or one hash (``hashed``)."""
    return size if commitment == "public" else 1


class _Words(ABC):
    """What the three layouts share: a proof's public values must be ``length`` words, and a
    commitment is ``commit`` over a run of them."""

    @property
    @abstractmethod
    def length(self) -> int:
        """How many public values a proof of this layout has."""

    @property
    @abstractmethod
    def proof(self) -> str:
        """Names the proof in messages, e.g. "an inference proof for 3 weight, 2 input and 2 output words"."""

    def check(self, instances: Sequence[int]) -> None:
        if len(instances) != self.length:
            raise InputError(f"{self.proof} has {self.length} public values, this one has {len(instances)}")

    def _commit(self, instances: Sequence[int], run: slice) -> bytes:
        self.check(instances)
        return commit(instances[run])


@dataclass(frozen=True)
class StepLayout(_Words):
    state_words: int
    batch_words: int
    weights_words: int
    """The first words of a state that are the model's parameters (all of them without momentum)."""

    def __post_init__(self) -> None:
        if not 0 < self.weights_words <= self.state_words or self.batch_words < 1:
            raise InputError(f"no step layout has {self.state_words} state, {self.weights_words} weight and "
                             f"{self.batch_words} batch words")

    @property
    def before(self) -> slice:
        return slice(0, self.state_words)

    @property
    def batch(self) -> slice:
        return slice(self.state_words, self.state_words + self.batch_words)

    @property
    def claim(self) -> int:
        return self.batch.stop

    @property
    def after(self) -> slice:
        return slice(self.claim + 1, self.claim + 1 + self.state_words)

    @property
    def after_weights(self) -> slice:
        return slice(self.after.start, self.after.start + self.weights_words)

    @property
    def loss(self) -> int:
        return self.after.stop

    @property
    def length(self) -> int:
        return self.loss + 1

    @property
    def proof(self) -> str:
        return f"a training-step proof for {self.state_words} state and {self.batch_words} batch words"

    def check_calldata(self) -> None:
        """Refuse a layout whose submissions would not fit a transaction."""
        need = 32 * self.length + PROOF_BYTES_BUDGET
        if need > MAX_TX_BYTES:
            raise InputError(
                f"a training step of this model has {self.length:,} public values: with its proof about "
                f"{need // 1024} KB, over the {MAX_TX_BYTES // 1024} KB a node relays",
                hint="use a smaller model or batch to train it on chain; 'zkgrad model init --commitment hashed' "
                     "proves it off chain only (its weights are not published)")

    def before_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.before)

    def batch_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.batch)

    def after_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.after)

    def after_weights_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.after_weights)


@dataclass(frozen=True)
class AnswerLayout(_Words):
    weights_words: int
    input_words: int
    n_outputs: int

    def __post_init__(self) -> None:
        if min(self.weights_words, self.input_words, self.n_outputs) < 1:
            raise InputError(f"no answer layout has {self.weights_words} weight, {self.input_words} input and "
                             f"{self.n_outputs} output words")

    @property
    def weights(self) -> slice:
        return slice(0, self.weights_words)

    @property
    def input(self) -> slice:
        return slice(self.weights_words, self.weights_words + self.input_words)

    @property
    def outputs(self) -> slice:
        return slice(self.input.stop, self.input.stop + self.n_outputs)

    @property
    def length(self) -> int:
        return self.outputs.stop

    @property
    def proof(self) -> str:
        return (f"an inference proof for {self.weights_words} weight, {self.input_words} input and "
                f"{self.n_outputs} output words")

    def weights_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.weights)

    def input_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.input)


@dataclass(frozen=True)
class EvalLayout(_Words):
    weights_words: int
    held_out: int
    """Samples of the held-out set the circuit evaluates on: the largest count a proof can state."""
    unit: int
    """The count's public value is ``correct * unit`` (1: ezkl's output is the count at scale 0)."""

    def __post_init__(self) -> None:
        if min(self.weights_words, self.held_out, self.unit) < 1:
            raise InputError(f"no evaluation layout has {self.weights_words} weight words, {self.held_out} held-out "
                             f"samples and unit {self.unit}")

    @property
    def weights(self) -> slice:
        return slice(0, self.weights_words)

    @property
    def correct(self) -> int:
        return self.weights_words

    @property
    def length(self) -> int:
        return self.correct + 1

    @property
    def proof(self) -> str:
        return f"an evaluation proof for {self.weights_words} weight words"

    def weights_commitment(self, instances: Sequence[int]) -> bytes:
        return self._commit(instances, self.weights)

    def count(self, instances: Sequence[int]) -> int:
        """The held-out samples the proof says the weights classify correctly."""
        self.check(instances)
        count, rest = divmod(int(instances[self.correct]), self.unit)
        if rest or count > self.held_out:
            raise InputError(f"public value {instances[self.correct]} is no count of correct answers out of "
                             f"{self.held_out} (unit {self.unit})", hint="is this a proof of this evaluation circuit?")
        return count
