"""Reading a deployed ``ZkgradRegistry``'s state through its views: a model's record (read by name
from the ABI), its versions, balances, answers, the claim a step proof must carry."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ..contracts import REGISTRY, shipped
from ..errors import ChainError
from ..layout import AnswerLayout, StepLayout, claim_word
from ..node import account as default_account
from ..node import call, chain_id, checksum_address, contract_at, get_code
from .logs import DEFAULT_SPAN, read_logs
from .records import ModelInfo, VersionRecord
from .terms import Terms


class RegistryViews:
    """A deployed ``ZkgradRegistry`` at ``address``, read through its views; event logs are read
    ``log_span`` blocks at a time at most."""

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

    def refundable(self, model_id: int) -> bool:
        return bool(call(self.contract.functions.refundable(model_id)))

    def contribution(self, model_id: int, funder: str) -> int:
        """Wei ``funder`` put into the model's bounty and has not taken back."""
        return int(call(self.contract.functions.contribution(model_id, checksum_address(funder))))

    def get_answer(self, model_id: int, answer_id: int) -> tuple[str, int, int, bytes, tuple[int, ...]]:
        """(submitter, version, block, input commitment, outputs) as stored on chain."""
        a = call(self.contract.functions.getAnswer(model_id, answer_id))
        return str(a[0]), int(a[1]), int(a[2]), bytes(a[3]), tuple(int(v) for v in a[4])

    def find_answer(self, model_id: int, version: int, instances: list[int] | tuple[int, ...]) -> int | None:
        """The id of the answer already recorded for these instances at ``version``, or None."""
        found, answer_id = call(self.contract.functions.findAnswer(model_id, version, [int(v) for v in instances]))
        return int(answer_id) if found else None

    def _logs(self, event: str, model_id: int, first: int, last: int) -> list[Any]:
        return read_logs(getattr(self.contract.events, event), {"modelId": model_id}, first, last,
                         span=self.log_span)
