"""A step that another account submitted first (copied from the mempool, or proved alike) is
reported as theirs: ``train`` neither counts it as its own nor claims its reward. Real anvil, real
proofs. (The registry does not yet bind the submitter: the copier is paid; see issue 11.)"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from zkgrad.chain.client import account, connect, dev_account
from zkgrad.circuits.dataset import batch_proof
from zkgrad.circuits.model_circuits import ModelCircuits
from zkgrad.cli.demo_cmds import _on_accepted
from zkgrad.cli.output import Output
from zkgrad.prover.step import PendingStep, StepProof
from zkgrad.train.loop import serial_prover, train
from zkgrad.train.onchain import ensure_registry, register

from .helpers import copy_workspace

pytestmark = [pytest.mark.proof, pytest.mark.chain]
REWARD = 10**12


def test_a_step_another_account_submitted_first_is_reported_as_theirs(tiny_workspace, tiny_dataset, anvil,
                                                                       tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    committed = ws.dataset()  # tiny_dataset, as the fixture committed it
    w3 = connect(anvil.rpc_url)
    reg = ensure_registry(w3)
    mid = int(register(ws, reg, reward_wei=REWARD, fund_wei=10 * REWARD)["model_id"])
    me, copier = account(w3).address, dev_account(1)

    def front_run(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
        for sp in serial_prover(circuits, pendings):  # the copier sends our proof before we do
            path = batch_proof(ws.spec, tiny_dataset, committed, reg.version(mid))[2]
            reg.submit_update(mid, sp.proof.proof_bytes, sp.proof.instances, batch_path=path, account=copier)
            yield sp

    before = reg.version(mid)
    accepted = train(ws, tiny_dataset, reg, mid, steps=before + 1, seed=0, prover=front_run)
    assert reg.version(mid) == before + 1
    [a] = accepted
    assert a.taken_by is not None and a.taken_by.lower() == copier.address.lower() and not a.resumed
    assert [r.prover.lower() for r in reg.history(mid)][-1] == copier.address.lower() != me.lower()

    _on_accepted(Output())(a)
    err = capsys.readouterr().err
    assert "submitted first by another account" in err and copier.address in err and "accepted on chain" not in err

    accepted = train(ws, tiny_dataset, reg, mid, steps=before + 2, seed=0)  # our own next step is ours
    assert [x.taken_by for x in accepted] == [None]
    assert reg.history(mid)[-1].prover.lower() == me.lower()
