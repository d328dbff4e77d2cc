"""The Python side of ``ZkgradRegistry.sol``: deploy it, register and fund models, submit proven
updates, answers and evaluations (views: ``zkgrad.chain.views``; reading a lineage back:
``zkgrad.chain.lineage``; the records: ``zkgrad.chain.records``).

Every call and event is standard ABI; nothing here is needed to read the registry from any
other Ethereum client. Reverts surface as ``TransactionRevertedError`` whose
``data["error"]`` is the custom error's name (``StaleHead``, ``WrongSubmitter``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from ..contracts import REGISTRY, shipped
from ..errors import InputError
from ..layout import AnswerLayout, StepLayout
from ..node import account as default_account
from ..node import checksum_address, deploy, transact
from .lineage import Lineage
from .records import (
    AcceptedUpdate,
    AnswerRecord,
    EvaluationRecord,
    answer_record,
    evaluation_record,
)
from .terms import Terms

HEAD = 2**256 - 1  # submitAnswer's version meaning "the current head" (the contract's HEAD)


def deploy_registry(w3: Web3, account: LocalAccount | None = None) -> str:
    """Deploy a fresh ``ZkgradRegistry``; returns its address."""
    return deploy(w3, shipped(REGISTRY), account=account).address


class Registry(Lineage):
    """A deployed ``ZkgradRegistry``: its transactions here, its views and lineage inherited."""

    def register_model(
        self,
        terms: Terms,
        step_layout: StepLayout,
        answer_layout: AnswerLayout,
        genesis: bytes,
        *,
        spec: bytes,
        genesis_weights: bytes | None = None,
        name: str = "",
        account: LocalAccount | None = None,
    ) -> int:
        """Register a model under ``terms`` (fixed for good), the signer its registrant; returns
        its id. ``genesis`` commits to the whole state, ``genesis_weights`` to its weights (needed,
        and different, only with momentum); ``spec`` is published in the registration event."""
        if not spec:
            raise InputError("a model is registered with its published spec", hint="pass spec=published(...)")
        fn = self.contract.functions.registerModel(
            terms.to_abi(), shape(step_layout, answer_layout), _bytes32(genesis),
            _bytes32(genesis if genesis_weights is None else genesis_weights), name, bytes(spec))
        receipt = transact(self.w3, fn, account=account)
        (event,) = self.contract.events.ModelRegistered().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["modelId"])

    def fund(self, model_id: int, amount: int, *, account: LocalAccount | None = None) -> Any:
        """Add ``amount`` wei to the model's bounty; returns the receipt."""
        return transact(self.w3, self.contract.functions.fund(model_id), account=account, value=amount)

    def refund(self, model_id: int, to: str | None = None, *, account: LocalAccount | None = None) -> int:
        """Take back the signer's share of the model's unspent bounty (allowed once the bounty
        cannot pay a reward, or no update was accepted for the model's refund delay); returns the
        wei refunded."""
        target = to or (account or default_account(self.w3)).address
        receipt = transact(self.w3, self.contract.functions.refund(model_id, checksum_address(target)),
                           account=account)
        (event,) = self.contract.events.Refunded().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["amount"])

    def withdraw(self, to: str | None = None, *, account: LocalAccount | None = None) -> Any:
        """Take the rewards credited to the signer (those a push payment could not deliver)."""
        target = to or (account or default_account(self.w3)).address
        return transact(
            self.w3, self.contract.functions.withdraw(checksum_address(target)), account=account
        )

    def submit_update(
        self,
        model_id: int,
        proof: bytes | str,
        instances: Sequence[int],
        *,
        batch_path: Sequence[bytes],
        min_reward: int = 0,
        account: LocalAccount | None = None,
        journal: Callable[[str], None] | None = None,
    ) -> AcceptedUpdate:
        """Submit a training-step proof with the Merkle path of its batch in the model's dataset
        (``zkgrad.model.dataset.batch_proof``); the head moves to its "after" commitment.
        Reverts (WrongSubmitter) unless the proof's claim names the signer, this chain, registry,
        model and the version the step creates (``zkgrad.layout.claim_word``), and
        (RewardBelowMinimum) unless the update pays at least ``min_reward`` wei. ``journal`` is
        given each transaction hash before it is sent (``zkgrad.node.transact``)."""
        fn = self.contract.functions.submitUpdate(model_id, _proof(proof), _words(instances),
                                                  [_bytes32(h) for h in batch_path], min_reward)
        return self.update_receipt(transact(self.w3, fn, account=account, journal=journal))

    def update_receipt(self, receipt: Any) -> AcceptedUpdate:
        """What an accepted update's transaction receipt says (its UpdateAccepted and RewardPaid)."""
        (event,) = self.contract.events.UpdateAccepted().process_receipt(receipt, errors=DISCARD)
        return self.accepted(event, receipt)

    def submit_answer(
        self,
        model_id: int,
        proof: bytes | str,
        instances: Sequence[int],
        *,
        version: int | None = None,
        account: LocalAccount | None = None,
    ) -> AnswerRecord:
        """Submit an inference proof against ``version`` (None: the current head)."""
        named = HEAD if version is None else version
        fn = self.contract.functions.submitAnswer(model_id, named, _proof(proof), _words(instances))
        receipt = transact(self.w3, fn, account=account)
        (event,) = self.contract.events.AnswerAccepted().process_receipt(receipt, errors=DISCARD)
        return answer_record(event, receipt)

    def submit_evaluation(
        self, model_id: int, proof: bytes | str, instances: Sequence[int], *, account: LocalAccount | None = None
    ) -> EvaluationRecord:
        """Submit an evaluation proof of the head weights on the model's registered held-out set."""
        fn = self.contract.functions.submitEvaluation(model_id, _proof(proof), _words(instances))
        receipt = transact(self.w3, fn, account=account)
        (event,) = self.contract.events.EvaluationAccepted().process_receipt(receipt, errors=DISCARD)
        return evaluation_record(event, receipt)


def shape(step: StepLayout, answer: AnswerLayout) -> tuple[int, int, int, int, int]:
    """The registry's ``Shape`` of a model whose proofs have these layouts."""
    if step.weights_words != answer.weights_words:
        raise InputError(f"the step circuit's weights take {step.weights_words} words, the answer circuit's "
                         f"{answer.weights_words}", hint="compile both circuits from one model spec")
    return (step.state_words, step.weights_words, step.batch_words, answer.input_words, answer.n_outputs)


def hex_of(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _bytes32(value: bytes | str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise InputError(f"a commitment is 32 bytes, got {len(raw)}", hint="pass keccak256 output")
    return raw


def _proof(value: bytes | str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


def _words(instances: Sequence[int]) -> list[int]:
    words = [int(v) for v in instances]
    if any(not 0 <= v < 2**256 for v in words):
        raise InputError(
            "public instances must be uint256 words", hint="convert them with zkgrad.layout.felt"
        )
    return words
