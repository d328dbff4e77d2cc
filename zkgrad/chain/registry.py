"""The Python side of ``ZkgradRegistry.sol``: deploy it, register models, submit
proven updates and answers, and read a model's lineage back from events and calldata.

Every call and event is standard ABI; nothing here is needed to read the registry from any
other Ethereum client. Reverts surface as ``TransactionRevertedError`` whose
``data["error"]`` is the custom error's name (``StaleHead``, ``ReplayedProof``, ...).
Reads work on public providers: logs are read in pages (zkgrad.chain.logs) over the blocks
the contract itself records (a model's registration, its head's update), and no debug_* RPC
is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from zkgrad.chain.calldata import find_update
from zkgrad.chain.client import account as default_account
from zkgrad.chain.client import (
    block_number,
    call,
    chain_id,
    checksum_address,
    contract_at,
    deploy,
    get_code,
    get_receipt,
    get_transaction,
    transact,
)
from zkgrad.chain.logs import DEFAULT_SPAN, read_logs
from zkgrad.chain.terms import Terms
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.errors import ChainError, InputError
from zkgrad.layout import AnswerLayout, EvalLayout, StepLayout, claim_word

HEAD = 2**256 - 1  # submitAnswer's version meaning "the current head" (the contract's HEAD)


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
class UpdateReceipt:
    """An update the registry just accepted."""

    model_id: int
    version: int
    before: bytes
    after: bytes
    batch: bytes
    loss: int  # the loss word: the quantized loss (public commitment) or its Poseidon hash
    prover: str
    reward: int  # wei paid or credited to the prover for it
    gas_used: int
    tx_hash: str
    block: int


@dataclass(frozen=True)
class UpdateRecord:
    """One accepted update as the chain remembers it (its UpdateAccepted event)."""

    model_id: int
    version: int
    prover: str
    before: bytes
    after: bytes
    batch: bytes
    loss: int  # the loss word: the quantized loss (public commitment) or its Poseidon hash
    block: int
    tx_hash: str
    gas_used: int  # of the whole transaction that carried it


@dataclass(frozen=True)
class SubmittedUpdate:
    """An accepted update with its proof and instances, read back from its transaction's input
    (zkgrad.chain.calldata); ``proof`` is None when the input does not carry them."""

    record: UpdateRecord
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


def deploy_registry(w3: Web3, account: LocalAccount | None = None) -> str:
    """Deploy a fresh ``ZkgradRegistry``; returns its address."""
    return deploy(w3, shipped(REGISTRY), account=account).address


class Registry:
    """A deployed ``ZkgradRegistry`` at ``address``; event logs are read ``log_span`` blocks at a
    time at most."""

    def __init__(self, w3: Web3, address: str, *, log_span: int = DEFAULT_SPAN) -> None:
        self.w3 = w3
        self.log_span = log_span
        self.address = checksum_address(address)
        self.contract = contract_at(w3, self.address, shipped(REGISTRY).abi)
        # structs come back as named tuples: the model record is read by name from the ABI
        self._named = w3.eth.contract(address=self.address, abi=shipped(REGISTRY).abi, decode_tuples=True)
        self._chain_id: int | None = None
        code = get_code(w3, self.address)
        if not code:
            raise ChainError(
                f"no contract at {self.address}",
                hint="deploy one with 'zkgrad registry deploy' or pass the right address",
                address=self.address,
            )

    @property
    def chain_id(self) -> int:
        """The node's chain id, asked once."""
        if self._chain_id is None:
            self._chain_id = chain_id(self.w3)
        return self._chain_id

    def claim(self, model_id: int, version: int, submitter: str | None = None) -> int:
        """The claim word a step proof to ``version`` must carry to be accepted here from
        ``submitter`` (default: this session's account): ``zkgrad.layout.claim_word``."""
        return claim_word(self.chain_id, self.address, model_id, version, submitter or default_account(self.w3).address)

    # --- models -----------------------------------------------------------------------
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

    def fundings(self, model_id: int, first: int) -> list[tuple[str, int]]:
        """(funder, amount) of each of the model's Funded events from block ``first`` on."""
        logs = self._logs("Funded", model_id, first, block_number(self.w3))
        return [(str(log["args"]["funder"]), int(log["args"]["amount"])) for log in logs]

    def refund(self, model_id: int, to: str | None = None, *, account: LocalAccount | None = None) -> int:
        """Take back the signer's share of the model's unspent bounty (allowed once the bounty
        cannot pay a reward, or no update was accepted for the model's refund delay); returns the
        wei refunded."""
        target = to or (account or default_account(self.w3)).address
        receipt = transact(self.w3, self.contract.functions.refund(model_id, checksum_address(target)),
                           account=account)
        (event,) = self.contract.events.Refunded().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["amount"])

    def refundable(self, model_id: int) -> bool:
        return bool(call(self.contract.functions.refundable(model_id)))

    def contribution(self, model_id: int, funder: str) -> int:
        """Wei ``funder`` put into the model's bounty and has not taken back."""
        return int(call(self.contract.functions.contribution(model_id, checksum_address(funder))))

    def withdraw(self, to: str | None = None, *, account: LocalAccount | None = None) -> Any:
        """Take the rewards credited to the signer (those a push payment could not deliver)."""
        target = to or (account or default_account(self.w3)).address
        return transact(
            self.w3, self.contract.functions.withdraw(checksum_address(target)), account=account
        )

    # --- submissions ------------------------------------------------------------------
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
    ) -> UpdateReceipt:
        """Submit a training-step proof with the Merkle path of its batch in the model's dataset
        (``zkgrad.circuits.dataset.batch_proof``); the head moves to its "after" commitment.
        Reverts (WrongSubmitter) unless the proof's claim names the signer, this chain, registry,
        model and the version the step creates (``zkgrad.layout.claim_word``), and
        (RewardBelowMinimum) unless the update pays at least ``min_reward`` wei. ``journal`` is
        given each transaction hash before it is sent (``zkgrad.chain.client.transact``)."""
        fn = self.contract.functions.submitUpdate(model_id, _proof(proof), _words(instances),
                                                  [_bytes32(h) for h in batch_path], min_reward)
        return self.update_receipt(transact(self.w3, fn, account=account, journal=journal))

    def update_receipt(self, receipt: Any) -> UpdateReceipt:
        """What an accepted update's transaction receipt says (its UpdateAccepted and RewardPaid)."""
        (event,) = self.contract.events.UpdateAccepted().process_receipt(receipt, errors=DISCARD)
        paid = self.contract.events.RewardPaid().process_receipt(receipt, errors=DISCARD)
        a = event["args"]
        return UpdateReceipt(
            model_id=int(a["modelId"]),
            version=int(a["version"]),
            before=bytes(a["before"]),
            after=bytes(a["after_"]),
            batch=bytes(a["batchCommitment"]),
            loss=int(a["loss"]),
            prover=str(a["prover"]),
            reward=sum(int(p["args"]["amount"]) for p in paid),
            gas_used=int(receipt["gasUsed"]),
            tx_hash=_hex(receipt["transactionHash"]),
            block=int(receipt["blockNumber"]),
        )

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
        return _answer(event, receipt)

    def submit_evaluation(
        self, model_id: int, proof: bytes | str, instances: Sequence[int], *, account: LocalAccount | None = None
    ) -> EvaluationRecord:
        """Submit an evaluation proof of the head weights on the model's registered held-out set."""
        fn = self.contract.functions.submitEvaluation(model_id, _proof(proof), _words(instances))
        receipt = transact(self.w3, fn, account=account)
        (event,) = self.contract.events.EvaluationAccepted().process_receipt(receipt, errors=DISCARD)
        return _evaluation(event, receipt)

    # --- reads ------------------------------------------------------------------------
    def head(self, model_id: int) -> bytes:
        return bytes(call(self.contract.functions.head(model_id)))

    def version(self, model_id: int) -> int:
        return int(call(self.contract.functions.version(model_id)))

    def model_count(self) -> int:
        """Models registered so far; ids run from 1 to this (``register`` finds its own among them)."""
        return int(call(self.contract.functions.modelCount()))

    def credit(self, address: str) -> int:
        return int(call(self.contract.functions.credit(checksum_address(address))))

    def model(self, model_id: int) -> ModelInfo:
        m = call(self._named.functions.model(model_id))
        shape = m.shape
        weights = int(shape.weightsWords)
        return ModelInfo(
            model_id=model_id,
            registrant=str(m.registrant),
            terms=Terms.from_abi(tuple(m.terms)),
            step_layout=StepLayout(int(shape.stateWords), int(shape.batchWords), weights),
            answer_layout=AnswerLayout(weights, int(shape.inputWords), int(shape.nOutputs)),
            genesis=bytes(m.genesis),
            head=bytes(m.head),
            head_weights=bytes(m.headWeights),
            version=int(m.version),
            bounty=int(m.bounty),
            registered_block=int(m.registeredAt),
            head_block=int(m.headBlock),
            spec_digest=bytes(m.specDigest),
            code_hashes=(bytes(m.stepCodeHash), bytes(m.answerCodeHash), bytes(m.evalCodeHash)),
            name=str(m.name),
        )

    def holds(self, model_id: int, version: int, state: bytes) -> bool:
        """Whether the model has reached ``version`` and that version's state has this commitment."""
        return self.version(model_id) >= version and self.version_record(model_id, version).state == state

    def version_record(self, model_id: int, version: int) -> VersionRecord:
        """Version ``version`` (0 to the head's) as the registry keeps it."""
        v = call(self._named.functions.getVersion(model_id, version))
        return VersionRecord(version, bytes(v.state), bytes(v.weights))

    def registration(self, model_id: int) -> Registration:
        """The model's registration event: its terms and published spec, from the chain alone."""
        at = self.model(model_id).registered_block
        (log,) = self._logs("ModelRegistered", model_id, at, at)
        a = log["args"]
        return Registration(model_id, str(a["registrant"]), Terms.from_abi(tuple(a["terms"].values())),
                            bytes(a["spec"]), int(log["blockNumber"]), _hex(log["transactionHash"]))

    def evaluations(self, model_id: int) -> list[EvaluationRecord]:
        """Every accepted evaluation of the model, by version."""
        first = self.model(model_id).registered_block
        out = [_evaluation(log, get_receipt(self.w3, log["transactionHash"]))
               for log in self._logs("EvaluationAccepted", model_id, first, block_number(self.w3))]
        return sorted(out, key=lambda r: r.version)

    def history(self, model_id: int) -> list[UpdateRecord]:
        """Every accepted update of the model, oldest first, with each transaction's gas."""
        info = self.model(model_id)
        if info.version == 0:
            return []
        return self._updates(model_id, info.registered_block, info.head_block)

    def update_at(self, model_id: int, version: int) -> UpdateRecord | None:
        """The accepted update that made ``version`` (1 to the head's): the head's is read from its
        block alone, an older one by its indexed version, pages back from the head's block."""
        info = self.model(model_id)
        if not 1 <= version <= info.version:
            return None
        last = info.head_block
        while last >= info.registered_block:
            first = max(info.registered_block, last - self.log_span + 1)
            logs = read_logs(self.contract.events.UpdateAccepted, {"modelId": model_id, "version": version},
                             first, last, span=self.log_span)
            if logs:
                return self._records(model_id, logs[-1:])[0]
            last = first - 1
        return None

    def updates_calldata(self, model_id: int) -> list[SubmittedUpdate]:
        """Each accepted update with its proof and instances, found in its transaction's input
        (for ``audit``: re-verify every proof off-chain)."""
        layout = self.model(model_id).step_layout
        return [self._calldata(r, layout) for r in self.history(model_id)]

    def head_update(self, model_id: int) -> SubmittedUpdate | None:
        """The update that made the head, with its instances (the head's published state), read
        from the head's block alone; None at genesis."""
        info = self.model(model_id)
        if info.version == 0:
            return None
        last = self.update_at(model_id, info.version)
        return self._calldata(last, info.step_layout) if last else None

    def _updates(self, model_id: int, first: int, last: int) -> list[UpdateRecord]:
        return self._records(model_id, self._logs("UpdateAccepted", model_id, first, last))

    def _records(self, model_id: int, logs: list[Any]) -> list[UpdateRecord]:
        records = []
        for log in logs:
            a = log["args"]
            receipt = get_receipt(self.w3, log["transactionHash"])
            records.append(
                UpdateRecord(
                    model_id=model_id,
                    version=int(a["version"]),
                    prover=str(a["prover"]),
                    before=bytes(a["before"]),
                    after=bytes(a["after_"]),
                    batch=bytes(a["batchCommitment"]),
                    loss=int(a["loss"]),
                    block=int(log["blockNumber"]),
                    tx_hash=_hex(log["transactionHash"]),
                    gas_used=int(receipt["gasUsed"]),
                )
            )
        return sorted(records, key=lambda r: r.version)

    def _calldata(self, r: UpdateRecord, layout: StepLayout) -> SubmittedUpdate:
        data = bytes(get_transaction(self.w3, r.tx_hash)["input"])
        hit = find_update(data, layout, before=r.before, batch=r.batch, after=r.after,
                          claim=self.claim(r.model_id, r.version, r.prover), loss=r.loss)
        return SubmittedUpdate(r, *hit) if hit else SubmittedUpdate(r, None, ())

    def answers(self, model_id: int) -> list[AnswerRecord]:
        """Every accepted answer of the model, in id order."""
        first = self.model(model_id).registered_block
        out = []
        for log in self._logs("AnswerAccepted", model_id, first, block_number(self.w3)):
            receipt = get_receipt(self.w3, log["transactionHash"])
            out.append(_answer(log, receipt))
        return sorted(out, key=lambda r: r.answer_id)

    def get_answer(self, model_id: int, answer_id: int) -> tuple[str, int, int, bytes, tuple[int, ...]]:
        """(submitter, version, block, input commitment, outputs) as stored on chain."""
        a = call(self.contract.functions.getAnswer(model_id, answer_id))
        return str(a[0]), int(a[1]), int(a[2]), bytes(a[3]), tuple(int(v) for v in a[4])

    # --- internals --------------------------------------------------------------------
    def _logs(self, event: str, model_id: int, first: int, last: int) -> list[Any]:
        return read_logs(getattr(self.contract.events, event), {"modelId": model_id}, first, last,
                         span=self.log_span)


def _answer(event: Any, receipt: Any) -> AnswerRecord:
    a = event["args"]
    return AnswerRecord(
        model_id=int(a["modelId"]),
        answer_id=int(a["answerId"]),
        version=int(a["version"]),
        input=bytes(a["input"]),
        outputs=tuple(int(v) for v in a["outputs"]),
        submitter=str(a["submitter"]),
        block=int(receipt["blockNumber"]),
        tx_hash=_hex(receipt["transactionHash"]),
        gas_used=int(receipt["gasUsed"]),
    )


def _evaluation(event: Any, receipt: Any) -> EvaluationRecord:
    a = event["args"]
    return EvaluationRecord(model_id=int(a["modelId"]), version=int(a["version"]), correct=int(a["correct"]),
                            total=int(a["total"]), submitter=str(a["submitter"]), block=int(receipt["blockNumber"]),
                            tx_hash=_hex(receipt["transactionHash"]), gas_used=int(receipt["gasUsed"]))


def shape(step: StepLayout, answer: AnswerLayout) -> tuple[int, int, int, int, int]:
    """The registry's ``Shape`` of a model whose proofs have these layouts."""
    if step.weights_words != answer.weights_words:
        raise InputError(f"the step circuit's weights take {step.weights_words} words, the answer circuit's "
                         f"{answer.weights_words}", hint="compile both circuits from one model spec")
    return (step.state_words, step.weights_words, step.batch_words, answer.input_words, answer.n_outputs)


def _hex(value: Any) -> str:
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
