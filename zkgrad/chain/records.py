"""What the registry records, as typed values: a model, its versions, its registration, and each
accepted update, answer and evaluation (built from their events and the transactions' receipts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..layout import AnswerLayout, EvalLayout, StepLayout
from .terms import Terms


@dataclass(frozen=True)
class ModelInfo:
    model_id: int
    registrant: str
    terms: Terms
    step_layout: StepLayout
    answer_layout: AnswerLayout
    genesis: bytes
    head: bytes
    head_weights: bytes  # the head's weights commitment (the head itself without momentum)
    version: int  # accepted updates so far; genesis is version 0
    bounty: int  # wei left to pay rewards from
    registered_block: int  # the registration's block
    head_block: int  # the block of the update that made the head (genesis: registered_block)
    spec_digest: bytes  # keccak256 of the published spec (its bytes are in the registration event)
    code_hashes: tuple[bytes, bytes, bytes]  # of the step, answer and evaluation verifiers at registration
    name: str

    @property
    def step_verifier(self) -> str:
        return self.terms.step_verifier

    @property
    def answer_verifier(self) -> str:
        return self.terms.answer_verifier

    @property
    def reward_per_update(self) -> int:
        return self.terms.reward_per_update

    @property
    def eval_layout(self) -> EvalLayout | None:
        t = self.terms
        return EvalLayout(self.step_layout.weights_words, t.held_out_size, t.eval_unit) if t.evaluated else None


@dataclass(frozen=True)
class VersionRecord:
    """One version of a model as the registry keeps it (``getVersion``): versions are kept by
    number, and two versions may hold equal states. Who proved it and when: ``update_at``."""

    version: int
    state: bytes  # the state's commitment
    weights: bytes  # the weights' commitment (the state's without momentum)


@dataclass(frozen=True)
class Registration:
    """A model's ModelRegistered event: its terms and the published spec's bytes."""

    model_id: int
    registrant: str
    terms: Terms
    spec: bytes
    block: int
    tx_hash: str


@dataclass(frozen=True)
class EvaluationRecord:
    """An accepted evaluation: ``correct`` of the ``total`` held-out samples, at ``version``."""

    model_id: int
    version: int
    correct: int
    total: int
    submitter: str  # who sent it: no claim binds an evaluation (docs/PROTOCOL.md)
    block: int
    tx_hash: str
    gas_used: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


@dataclass(frozen=True)
class AcceptedUpdate:
    """One accepted update (its UpdateAccepted event), as the transaction that carried it landed."""

    model_id: int
    version: int
    prover: str
    before: bytes
    after: bytes
    batch: bytes
    loss: int  # the loss word: the quantized loss (public commitment) or its Poseidon hash
    reward: int  # wei paid or credited to the prover for it (its RewardPaid event; 0 when skipped)
    block: int
    tx_hash: str
    gas_used: int  # of the whole transaction that carried it


@dataclass(frozen=True)
class SubmittedUpdate:
    """An accepted update with its proof and instances, read back from its transaction's input
    (zkgrad.chain.calldata); ``proof`` is None when the input does not carry them."""

    record: AcceptedUpdate
    proof: bytes | None
    instances: tuple[int, ...]


@dataclass(frozen=True)
class AnswerRecord:
    model_id: int
    answer_id: int
    version: int
    input: bytes  # the input commitment
    outputs: tuple[int, ...]
    submitter: str  # who sent it: no claim binds an answer (docs/PROTOCOL.md)
    block: int
    tx_hash: str
    gas_used: int


def accepted_update(event: Any, receipt: Any, paid: list[Any]) -> AcceptedUpdate:
    """The update of an UpdateAccepted ``event`` in ``receipt``; ``paid``: the receipt's RewardPaid
    events, of which the one right after the update's (the registry pays as it accepts) is its reward."""
    a = event["args"]
    reward = sum(int(p["args"]["amount"]) for p in paid
                 if p["logIndex"] == event["logIndex"] + 1 and int(p["args"]["modelId"]) == int(a["modelId"]))
    return AcceptedUpdate(
        model_id=int(a["modelId"]),
        version=int(a["version"]),
        prover=str(a["prover"]),
        before=bytes(a["before"]),
        after=bytes(a["after_"]),
        batch=bytes(a["batchCommitment"]),
        loss=int(a["loss"]),
        reward=reward,
        block=int(receipt["blockNumber"]),
        tx_hash=hex_of(receipt["transactionHash"]),
        gas_used=int(receipt["gasUsed"]),
    )


def answer_record(event: Any, receipt: Any) -> AnswerRecord:
    a = event["args"]
    return AnswerRecord(
        model_id=int(a["modelId"]),
        answer_id=int(a["answerId"]),
        version=int(a["version"]),
        input=bytes(a["input"]),
        outputs=tuple(int(v) for v in a["outputs"]),
        submitter=str(a["submitter"]),
        block=int(receipt["blockNumber"]),
        tx_hash=hex_of(receipt["transactionHash"]),
        gas_used=int(receipt["gasUsed"]),
    )


def evaluation_record(event: Any, receipt: Any) -> EvaluationRecord:
    a = event["args"]
    return EvaluationRecord(model_id=int(a["modelId"]), version=int(a["version"]), correct=int(a["correct"]),
                            total=int(a["total"]), submitter=str(a["submitter"]), block=int(receipt["blockNumber"]),
                            tx_hash=hex_of(receipt["transactionHash"]), gas_used=int(receipt["gasUsed"]))




def hex_of(value: Any) -> str:
    return "0x" + bytes(value).hex()
