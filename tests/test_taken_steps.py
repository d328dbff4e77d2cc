"""Only the producer of a step is paid and credited. A step proof's claim word names the registry,
model, version and submitter (``zkgrad.layout.claim_word``): a copy sent from another account is
refused, a copy with the claim rewritten fails the verifier, and the proof is worth nothing to a
second model with the same verifier, genesis and data. A step that another account proved itself
and landed first is reported as theirs. Real anvil, real proofs, the real compiled verifier."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from zkgrad.chain.registry import Registry
from zkgrad.circuits.model_circuits import ModelCircuits
from zkgrad.cli.output import Output
from zkgrad.cli.train_cmds import _on_accepted
from zkgrad.errors import TransactionRevertedError
from zkgrad.model.data import batch
from zkgrad.model.dataset import batch_proof, schedule_index
from zkgrad.node import account, connect, dev_account
from zkgrad.prover.step import PendingStep, StepProof, prove_step
from zkgrad.train.loop import serial_prover, train
from zkgrad.train.register import ensure_registry, register
from zkgrad.train.workspace import Workspace

from .helpers import copy_workspace

pytestmark = [pytest.mark.proof, pytest.mark.chain]
REWARD = 10**12


def refused(error: str, fn, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransactionRevertedError) as info:
        fn(*args, **kwargs)
    assert info.value.data["error"] == error, info.value.reason


@pytest.fixture
def funded(tiny_workspace, anvil, tmp_path: Path) -> tuple[Workspace, Registry, int]:  # type: ignore[no-untyped-def]
    """A copy of the tiny model, registered with REWARD per update and funded for ten."""
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    reg = ensure_registry(connect(anvil.rpc_url))
    return ws, reg, int(register(ws, reg, reward_wei=REWARD, fund_wei=10 * REWARD)["model_id"])


def test_a_copied_step_pays_only_its_producer(funded, tiny_dataset) -> None:  # type: ignore[no-untyped-def]
    ws, reg, mid = funded
    committed = ws.dataset()
    me, copier = account(reg.w3).address, dev_account(1)
    layout = ws.circuits().step_layout
    seen: list[StepProof] = []

    def copied(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
        for sp in serial_prover(circuits, pendings):  # the copier sees our proof before it lands
            v = reg.version(mid)
            path = batch_proof(ws.spec, tiny_dataset, committed, v)[2]
            head, bounty = reg.head(mid), reg.model(mid).bounty
            refused("WrongSubmitter", reg.submit_update, mid, sp.proof.proof_bytes, sp.proof.instances,
                    batch_path=path, account=copier)
            rewritten = list(sp.proof.instances)
            rewritten[layout.claim] = reg.claim(mid, v + 1, copier.address)
            refused("InvalidProof", reg.submit_update, mid, sp.proof.proof_bytes, rewritten, batch_path=path,
                    account=copier)
            assert (reg.head(mid), reg.model(mid).bounty, reg.credit(copier.address)) == (head, bounty, 0)
            seen.append(sp)
            yield sp

    [a] = train(ws, tiny_dataset, reg, mid, steps=1, seed=0, prover=copied)
    assert a.taken_by is None and a.reward == REWARD
    assert reg.history(mid)[-1].prover.lower() == me.lower()

    # the same proof, on a second model with the same verifiers, genesis and data: the claim names model `mid`
    other = int(register(ws, reg, reward_wei=REWARD, fund_wei=10 * REWARD, anew=True)["model_id"])
    assert other != mid and reg.model(other).terms.step_verifier == reg.model(mid).terms.step_verifier
    assert reg.head(other) == seen[0].before.commitment  # the proof starts from its head
    refused("WrongSubmitter", reg.submit_update, other, seen[0].proof.proof_bytes, seen[0].proof.instances,
            batch_path=batch_proof(ws.spec, tiny_dataset, committed, 0)[2])
    assert reg.version(other) == 0


def test_a_step_another_account_proved_and_landed_first_is_reported_as_theirs(
        funded, tiny_workspace, tiny_dataset, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ws, reg, mid = funded
    rival_ws = copy_workspace(tiny_workspace, tmp_path / "rival")
    committed = ws.dataset()
    me, rival = account(reg.w3).address, dev_account(1)

    def raced(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
        for sp in serial_prover(circuits, pendings):  # meanwhile the rival proved the same step for itself
            v = reg.version(mid)
            x, y = batch(tiny_dataset, ws.spec.batch_size, schedule_index(v, committed.n_batches), 0)
            theirs = prove_step(rival_ws.circuits(), sp.before, x, y, folder=rival_ws.step_dir(v + 1),
                                claim=reg.claim(mid, v + 1, rival.address))
            assert theirs.after.commitment == sp.after.commitment
            path = batch_proof(ws.spec, tiny_dataset, committed, v)[2]
            reg.submit_update(mid, theirs.proof.proof_bytes, theirs.proof.instances, batch_path=path, account=rival)
            yield sp

    before = reg.version(mid)
    [a] = train(ws, tiny_dataset, reg, mid, steps=before + 1, seed=0, prover=raced)
    assert reg.version(mid) == before + 1
    assert a.taken_by is not None and a.taken_by.lower() == rival.address.lower() and not a.resumed and a.reward == 0
    assert reg.history(mid)[-1].prover.lower() == rival.address.lower() != me.lower()

    _on_accepted(Output())(a)
    err = capsys.readouterr().err
    assert "submitted first by another account" in err and rival.address in err and "accepted on chain" not in err

    accepted = train(ws, tiny_dataset, reg, mid, steps=before + 2, seed=0)  # our own next step is ours
    assert [x.taken_by for x in accepted] == [None]
    assert reg.history(mid)[-1].prover.lower() == me.lower()
