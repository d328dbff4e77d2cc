"""What a model is, fixed when it is registered: the registry's ``Terms`` (ZkgradRegistry.sol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..node import checksum_address

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_WORD = bytes(32)
# Blocks with no accepted update after which funders may take an unspent bounty back: about a week
# of 12 s blocks.
DEFAULT_REFUND_DELAY = 50_400


@dataclass(frozen=True)
class Terms:
    """The verifiers, the committed data and the reward of a model; none of them ever changes.

    ``dataset_root`` is the Merkle root of the batch schedule (``zkgrad.model.dataset``), over
    ``n_batches`` leaves; ``held_out`` the commitment of the held-out set that ``eval_verifier``
    (optional) has built in, ``held_out_size`` samples, an evaluation's output word being the
    number correct times ``eval_unit``; ``srs`` the identity of the SRS the verifiers were made with;
    ``refund_delay`` the blocks with no accepted update after which funders may take back what the
    bounty still holds (at once when it holds less than one reward)."""

    step_verifier: str
    answer_verifier: str
    dataset_root: bytes
    n_batches: int
    reward_per_update: int = 0
    eval_verifier: str = ZERO_ADDRESS
    held_out: bytes = ZERO_WORD
    held_out_size: int = 0
    eval_unit: int = 0
    srs: bytes = ZERO_WORD
    refund_delay: int = DEFAULT_REFUND_DELAY

    def __post_init__(self) -> None:
        for name in ("dataset_root", "held_out", "srs"):
            if len(getattr(self, name)) != 32:
                raise InputError(f"terms: {name} must be 32 bytes", hint="pass a keccak256 digest")
        if not 0 <= self.reward_per_update < 2**128:
            raise InputError(f"terms: reward {self.reward_per_update} wei is out of range", hint="0 <= reward < 2^128")
        if not 0 < self.refund_delay < 2**32:
            raise InputError(f"terms: refund delay {self.refund_delay} blocks is out of range",
                             hint="1 <= blocks < 2^32")

    @property
    def evaluated(self) -> bool:
        return int(self.eval_verifier, 16) != 0

    def to_abi(self) -> tuple[Any, ...]:
        return (checksum_address(self.step_verifier), checksum_address(self.answer_verifier),
                checksum_address(self.eval_verifier), self.dataset_root, self.n_batches, self.held_out,
                self.held_out_size, self.eval_unit, self.srs, self.reward_per_update, self.refund_delay)

    @classmethod
    def from_abi(cls, t: Any) -> "Terms":
        step, answer, ev, root, n, held, size, unit, srs, reward, delay = t
        return cls(str(step), str(answer), bytes(root), int(n), int(reward), str(ev), bytes(held), int(size),
                   int(unit), bytes(srs), int(delay))
