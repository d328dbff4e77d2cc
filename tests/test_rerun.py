"""Multi-step commands are safe to rerun after a failure at any point: ``register`` killed after
deploying, after registering or after funding continues to exactly one model id funded once, and
the demo's registration on a chain it already used either continues that model or registers a
new one, never mixing the two. Real anvil, real verifiers, real proofs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.node import connect
from zkgrad.train import register as registration
from zkgrad.train.register import register

from .helpers import copy_workspace

pytestmark = pytest.mark.chain
FUND = 10**15


class Killed(Exception):
    """Stands for the process dying at this point."""


def _kill_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, calls: int = 1) -> None:
    """``owner.name`` runs for real ``calls`` times, then the process 'dies' right after it."""
    real = getattr(owner, name)
    seen = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        seen.append(out)
        if len(seen) == calls:
            raise Killed(name)
        return out

    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.parametrize("where", ["deploy", "register", "fund"])
def test_register_killed_then_rerun_gives_one_model_funded_once(where: str, tiny_workspace, anvil, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    with monkeypatch.context() as m:
        if where == "deploy":  # both verifiers deployed, nothing registered
            _kill_after(m, registration, "deploy_verifier", calls=2)
        elif where == "register":  # the registration landed, its id was never returned
            _kill_after(m, Registry, "register_model")
        else:  # the funding landed, it was never recorded as done
            _kill_after(m, Registry, "fund")
        with pytest.raises(Killed):
            register(ws, reg, reward_wei=10**12, fund_wei=FUND)
    assert ws.deployment(anvil.chain_id) is None  # nothing recorded as complete
    assert reg.model_count() == (0 if where == "deploy" else 1)

    rec = register(ws, reg, reward_wei=10**12, fund_wei=FUND)
    assert reg.model_count() == 1  # exactly one model id, whatever was done before
    mid = int(rec["model_id"])
    assert mid == 1 and ws.deployment(anvil.chain_id) == rec
    info = reg.model(mid)
    assert info.genesis == ws.genesis().commitment and info.bounty == FUND
    assert (info.step_layout, info.answer_layout) == (ws.circuits().step_layout, ws.circuits().answer_layout)
    assert [a for _, a in reg.fundings(mid, 0)] == [FUND]  # funded once
    assert info.step_verifier == rec["step_verifier"] and info.answer_verifier == rec["answer_verifier"]
    assert not ws.registering_path.exists()

    again = register(ws, reg, reward_wei=10**12, fund_wei=FUND)  # done: a rerun does nothing
    assert again == rec and reg.model_count() == 1 and reg.model(mid).bounty == FUND


def test_register_after_a_restarted_chain_forgets_stale_progress(tiny_workspace, anvil, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Progress recorded against a model the chain no longer has (a restarted local node) is not
    trusted: the registration starts again."""
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    with monkeypatch.context() as m:
        _kill_after(m, Registry, "register_model")
        with pytest.raises(Killed):
            register(ws, reg)
    progress = ws.registering(anvil.chain_id)
    assert progress["models_before"] == 0
    # an id this registry never gave, "funded" long ago
    ws.record_registering(anvil.chain_id, {**progress, "model_id": 7, "fund_from_block": 0, "funded": True})
    rec = register(ws, reg, fund_wei=FUND)
    assert reg.model_count() == 2 and rec["model_id"] == 2  # model 1 was not ours by the stale record
    assert reg.model(2).bounty == FUND  # and the new model is funded


@pytest.mark.proof
def test_demo_registration_on_a_used_chain_continues_or_starts_again(tiny_workspace, tiny_dataset, anvil,
                                                                    tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What ``zkgrad demo --rpc URL`` does on its second run against the same chain."""
    from zkgrad.train.demo import registration
    from zkgrad.train.loop import train

    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    ws = copy_workspace(tiny_workspace, tmp_path / "model")

    mid, continued = registration(ws, reg, fund_wei=FUND)
    assert not continued and reg.model_count() == 1
    assert [a.version for a in train(ws, tiny_dataset, reg, mid, steps=1, seed=0)] == [1]

    # second run: the same model, continued from its head; its proven step is kept
    again, continued = registration(ws, reg, fund_wei=FUND)
    assert (again, continued) == (mid, True) and reg.model_count() == 1
    assert train(ws, tiny_dataset, reg, mid, steps=1, seed=0) == []  # nothing left to do
    assert (ws.step_dir(1) / "proof.json").is_file()

    # a workspace that lost its head's checkpoint cannot continue: a new model, trained from genesis
    import shutil

    shutil.rmtree(ws.steps_dir)
    new, continued = registration(ws, reg, fund_wei=FUND)
    assert not continued and new != mid and reg.model_count() == 2
    assert reg.head(new) == ws.genesis().commitment and reg.version(mid) == 1
    assert ws.checkpoint_for(reg.head(new)) is not None
    assert [a for _, a in reg.fundings(new, 0)] == [FUND]


@pytest.mark.parametrize("reusable", [False, True])
def test_verifier_deploy_killed_before_its_record_is_not_deployed_twice(reusable: bool, tiny_circuit, anvil,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from zkgrad.chain import deployments
    from zkgrad.circuits.artifacts import Circuit
    from zkgrad.node import account
    from zkgrad.verifier.solidity import build_verifier

    _, tiny = tiny_circuit
    shutil.copytree(tiny.path, tmp_path / "circuit")
    circuit = Circuit(tmp_path / "circuit")
    (circuit.path / "deployments.json").unlink(missing_ok=True)
    if reusable:  # ezkl's shared verifier and the adapter: two deployments, each resumable
        build_verifier(circuit, circuit.srs, reusable=True)
    w3 = connect(anvil.rpc_url)
    me = account(w3).address
    nonce = w3.eth.get_transaction_count(me)
    def die(*args: Any, **kwargs: Any) -> None:  # every transaction landed, the process dies before recording
        raise Killed("record_deployment")

    with monkeypatch.context() as m:
        m.setattr(deployments.Deployments, "record", die)
        with pytest.raises(Killed):
            deployments.deploy_verifier(w3, circuit)
    sent = w3.eth.get_transaction_count(me) - nonce
    assert sent == (2 if reusable else 1) and deployments.Deployments(circuit).all() == {}

    d = deployments.deploy_verifier(w3, circuit)
    assert w3.eth.get_transaction_count(me) - nonce == sent  # nothing sent again
    assert deployments.Deployments(circuit).all()[str(anvil.chain_id)]["address"] == d.address and len(w3.eth.get_code(d.address)) > 0
    assert not (circuit.path / "sent.json").is_file() or (circuit.path / "sent.json").read_text().strip() == "{}"
