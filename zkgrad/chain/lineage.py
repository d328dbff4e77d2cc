"""A model's lineage read back from the chain: its registration, fundings, every accepted update
(events, and the proof and public values from each transaction's input), answers and evaluations.

Logs are read in pages (zkgrad.chain.logs) over the blocks the contract itself records (a model's
registration, its head's update), so any public provider serves it; no debug_* RPC is used.
"""

from __future__ import annotations

from typing import Any

from web3.logs import DISCARD

from ..layout import StepLayout
from ..node import block_number, get_receipt, get_transaction
from .calldata import find_update
from .logs import read_logs
from .records import (
    AcceptedUpdate,
    AnswerRecord,
    EvaluationRecord,
    Registration,
    SubmittedUpdate,
    accepted_update,
    answer_record,
    evaluation_record,
    hex_of,
)
from .terms import Terms
from .views import RegistryViews


class Lineage(RegistryViews):
    """The registry's history of each model, from its logs and transactions."""

    def registration(self, model_id: int) -> Registration:
        """The model's registration event: its terms and published spec, from the chain alone."""
        at = self.model(model_id).registered_block
        (log,) = self._logs("ModelRegistered", model_id, at, at)
        a = log["args"]
        return Registration(model_id, str(a["registrant"]), Terms.from_abi(tuple(a["terms"].values())),
                            bytes(a["spec"]), int(log["blockNumber"]), hex_of(log["transactionHash"]))

    def fundings(self, model_id: int, first: int) -> list[tuple[str, int]]:
        """(funder, amount) of each of the model's Funded events from block ``first`` on."""
        logs = self._logs("Funded", model_id, first, block_number(self.w3))
        return [(str(log["args"]["funder"]), int(log["args"]["amount"])) for log in logs]

    def evaluations(self, model_id: int) -> list[EvaluationRecord]:
        """Every accepted evaluation of the model, by version."""
        first = self.model(model_id).registered_block
        out = [evaluation_record(log, get_receipt(self.w3, log["transactionHash"]))
               for log in self._logs("EvaluationAccepted", model_id, first, block_number(self.w3))]
        return sorted(out, key=lambda r: r.version)

    def history(self, model_id: int) -> list[AcceptedUpdate]:
        """Every accepted update of the model, oldest first, with each transaction's gas."""
        info = self.model(model_id)
        if info.version == 0:
            return []
        return self._updates(model_id, info.registered_block, info.head_block)

    def update_at(self, model_id: int, version: int) -> AcceptedUpdate | None:
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
                return self._records(logs[-1:])[0]
            last = first - 1
        return None

    def updates_calldata(self, model_id: int) -> list[SubmittedUpdate]:
        """Each accepted update with its proof and instances, found in its transaction's input
        (for ``audit``: re-verify every proof off-chain)."""
        layout = self.model(model_id).step_layout
        return [self._calldata(r, layout) for r in self.history(model_id)]

    def submitted(self, model_id: int, version: int | None = None) -> SubmittedUpdate | None:
        """The update that made ``version`` (default: the head's), with its proof and instances, read
        from its block alone for the head; None at genesis or for a version the model has not reached."""
        info = self.model(model_id)
        version = info.version if version is None else version
        if not 1 <= version <= info.version:
            return None
        update = self.update_at(model_id, version)
        return self._calldata(update, info.step_layout) if update else None

    def answers(self, model_id: int) -> list[AnswerRecord]:
        """Every accepted answer of the model, in id order."""
        first = self.model(model_id).registered_block
        out = [answer_record(log, get_receipt(self.w3, log["transactionHash"]))
               for log in self._logs("AnswerAccepted", model_id, first, block_number(self.w3))]
        return sorted(out, key=lambda r: r.answer_id)

    def _updates(self, model_id: int, first: int, last: int) -> list[AcceptedUpdate]:
        return self._records(self._logs("UpdateAccepted", model_id, first, last))

    def _records(self, logs: list[Any]) -> list[AcceptedUpdate]:
        found = [self.accepted(log, get_receipt(self.w3, log["transactionHash"])) for log in logs]
        return sorted(found, key=lambda r: r.version)

    def _calldata(self, r: AcceptedUpdate, layout: StepLayout) -> SubmittedUpdate:
        data = bytes(get_transaction(self.w3, r.tx_hash)["input"])
        hit = find_update(data, layout, before=r.before, batch=r.batch, after=r.after,
                          claim=self.claim(r.model_id, r.version, r.prover), loss=r.loss)
        return SubmittedUpdate(r, *hit) if hit else SubmittedUpdate(r, None, ())

    def accepted(self, event: Any, receipt: Any) -> AcceptedUpdate:
        """The update an UpdateAccepted ``event`` of ``receipt`` records, with its reward."""
        return accepted_update(event, receipt, self.contract.events.RewardPaid().process_receipt(receipt, errors=DISCARD))
