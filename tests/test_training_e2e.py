"""Proven training steps end to end with real components: three chained step proofs, an answer
bound to the last weights, and a registry on a real anvil that accepts only what was proven."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zkgrad.chain.lineage_audit import audit
from zkgrad.chain.registry import Registry
from zkgrad.errors import TransactionRevertedError
from zkgrad.model.checkpoint import batch_words, tensor_words
from zkgrad.model.data import Dataset, batch
from zkgrad.model.dataset import batch_proof
from zkgrad.model.quant import quantize
from zkgrad.model.spec import ModelSpec
from zkgrad.node import connect, dev_account, node_errors
from zkgrad.prover.proof import Proof
from zkgrad.prover.step import prove_step
from zkgrad.train.answer import prove_answer
from zkgrad.train.register import ensure_registry, register
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

from .helpers import change_instance, copy_workspace, flip_proof_byte

pytestmark = [pytest.mark.proof, pytest.mark.chain]

from .conftest import TINY_SPEC

SPEC = ModelSpec(**TINY_SPEC)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dataset(tiny_dataset: Dataset) -> Dataset:
    return tiny_dataset


@pytest.fixture(scope="module")
def workspace(tiny_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return copy_workspace(tiny_workspace, tmp_path_factory.mktemp("e2e-ws") / "model")


@pytest.fixture(scope="module")
def onchain(workspace: Workspace, anvil) -> tuple[Registry, int]:  # type: ignore[no-untyped-def]
    """The workspace's model registered (reward 10**12 per update, funded): its proofs claim it."""
    reg = ensure_registry(connect(anvil.rpc_url))
    return reg, int(register(workspace, reg, reward_wei=10**12, fund_wei=10**15)["model_id"])


@pytest.fixture(scope="module")
def three_steps(workspace: Workspace, dataset: Dataset, onchain: tuple[Registry, int]):  # type: ignore[no-untyped-def]
    circuits = workspace.circuits()
    ck = workspace.genesis()
    steps = []
    for t in range(3):
        x, y = batch(dataset, SPEC.batch_size, t, 0)
        sp = prove_step(circuits, ck, x, y, folder=workspace.step_dir(t + 1), claim=onchain[0].claim(onchain[1], t + 1))
        steps.append(sp)
        ck = sp.after
    return steps


def test_three_steps_chain_exactly(workspace: Workspace, three_steps, dataset: Dataset) -> None:  # type: ignore[no-untyped-def]
    circuits = workspace.circuits()
    layout = circuits.step_layout
    assert SPEC.commitment == "public"
    prev = workspace.genesis()
    prev_after = prev.commitment
    for t, sp in enumerate(three_steps):
        inst = sp.proof.instances
        assert layout.before_commitment(inst) == prev_after  # bit for bit
        assert layout.after_commitment(inst) == sp.after.commitment
        # public commitment: the proof publishes the checkpoints' words and the batch's values
        assert inst[layout.before] == prev.words() and inst[layout.after] == sp.after.words()
        x, y = batch(dataset, SPEC.batch_size, t, 0)
        assert inst[layout.batch] == list(batch_words(x, y, SPEC.scale, "public"))
        prev = sp.after
        assert verify(sp.proof, circuits.step)
        prev_after = sp.after.commitment
    versions = [sp.summary.version for sp in three_steps]
    assert versions == [1, 2, 3]


def test_fidelity_is_reported_and_small(three_steps) -> None:  # type: ignore[no-untyped-def]
    for sp in three_steps:
        s = sp.summary
        assert s.max_abs_param_diff < 5e-3
        assert s.loss == pytest.approx(s.float_loss, abs=5e-3)


def test_checkpoint_on_disk_matches_proof(workspace: Workspace, three_steps) -> None:  # type: ignore[no-untyped-def]
    last = three_steps[-1]
    found = workspace.checkpoint_for(last.after.commitment)
    assert found is not None and found.version == 3
    assert all(np.array_equal(a, b) for a, b in zip(found.state(), last.after.state()))


def test_answer_commitment_is_last_after(workspace: Workspace, three_steps, dataset: Dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    circuits = workspace.circuits()
    ans = prove_answer(circuits, three_steps[-1].after, dataset.x[5], out=tmp_path / "answer.json")
    inst, last = ans.result.proof.instances, three_steps[-1].after
    alay = circuits.answer_layout
    assert alay.weights_commitment(inst) == last.weights_commitment == last.commitment  # no momentum
    assert inst[alay.weights] == last.words(last.n_params)
    assert inst[alay.input] == list(tensor_words(quantize(dataset.x[5], SPEC.scale), "public"))
    assert verify(ans.result.proof, circuits.answer)


def _reason(err: TransactionRevertedError) -> str:
    return str(err.data.get("error", err.reason))


def _path(ws: Workspace, dataset: Dataset, version: int) -> list[bytes]:
    """The Merkle path of the batch the committed dataset schedules for the update from ``version``."""
    return batch_proof(ws.spec, dataset, ws.dataset(), version)[2]


@pytest.mark.chain
def test_registry_accepts_only_proven_lineage(workspace: Workspace, three_steps, dataset: Dataset, onchain,
                                               tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg, mid = onchain
    assert reg.head(mid) == workspace.genesis().commitment
    circuits = workspace.circuits()

    # a tampered proof and tampered instances are refused
    first = three_steps[0]
    bad = Proof.load(flip_proof_byte(first.proof.path, tmp_path / "flip.json"))
    with pytest.raises(TransactionRevertedError) as e:
        reg.submit_update(mid, bad.proof_bytes, bad.instances, batch_path=_path(workspace, dataset, 0))
    assert _reason(e.value) == "InvalidProof"
    layout = circuits.step_layout
    bad = Proof.load(change_instance(first.proof.path, tmp_path / "inst.json", index=layout.after.start))
    with pytest.raises(TransactionRevertedError) as e:
        reg.submit_update(mid, bad.proof_bytes, bad.instances, batch_path=_path(workspace, dataset, 0))
    assert _reason(e.value) == "InvalidProof"

    # a real proof of a step on a poisoned batch (one target changed) is refused, with any path
    x, y = batch(dataset, SPEC.batch_size, 0, 0)
    y = y.copy()
    y[0, 0] += 0.5
    poisoned = prove_step(circuits, workspace.genesis(), x, y, folder=tmp_path / "poisoned",
                          claim=reg.claim(mid, 1))
    for path in (_path(workspace, dataset, 0), _path(workspace, dataset, 1), []):
        with pytest.raises(TransactionRevertedError) as e:
            reg.submit_update(mid, poisoned.proof.proof_bytes, poisoned.proof.instances, batch_path=path)
        assert _reason(e.value) == "WrongBatch"

    # the three steps in order: accepted, head follows
    receipts = []
    for v, sp in enumerate(three_steps):
        r = reg.submit_update(mid, sp.proof.proof_bytes, sp.proof.instances, batch_path=_path(workspace, dataset, v))
        assert r.after == sp.after.commitment == reg.head(mid)
        receipts.append(r)
    assert reg.version(mid) == 3
    assert all(r.reward == 10**12 for r in receipts)

    # replayed and stale updates are refused (a replay no longer starts at the head)
    with pytest.raises(TransactionRevertedError) as e:
        reg.submit_update(mid, three_steps[1].proof.proof_bytes, three_steps[1].proof.instances,
                          batch_path=_path(workspace, dataset, 1))
    assert _reason(e.value) == "StaleHead"
    x, y = batch(dataset, SPEC.batch_size, 7, 1)  # another batch, from an old head
    branch = prove_step(circuits, three_steps[0].after, x, y, folder=tmp_path / "branch", claim=reg.claim(mid, 2))
    with pytest.raises(TransactionRevertedError) as e:
        reg.submit_update(mid, branch.proof.proof_bytes, branch.proof.instances, batch_path=_path(workspace, dataset, 1))
    assert _reason(e.value) == "StaleHead"
    # the right batch for the wrong version: batch 0 again, proven from the head (version 3)
    x, y = batch(dataset, SPEC.batch_size, 0, 0)
    again = prove_step(circuits, three_steps[-1].after, x, y, folder=tmp_path / "again", claim=reg.claim(mid, 4))
    for path in (_path(workspace, dataset, 0), _path(workspace, dataset, 3)):
        with pytest.raises(TransactionRevertedError) as e:
            reg.submit_update(mid, again.proof.proof_bytes, again.proof.instances, batch_path=path)
        assert _reason(e.value) == "WrongBatch"

    # answers: from the head accepted; from weights that are not the head refused; a named past version accepted
    ans = prove_answer(circuits, three_steps[-1].after, dataset.x[0], out=tmp_path / "a.json")
    a = reg.submit_answer(mid, ans.result.proof.proof_bytes, ans.result.proof.instances)
    assert a.version == 3 and a.input == circuits.answer_layout.input_commitment(ans.result.proof.instances)
    old = prove_answer(circuits, three_steps[0].after, dataset.x[0], out=tmp_path / "old.json")
    with pytest.raises(TransactionRevertedError) as e:
        reg.submit_answer(mid, old.result.proof.proof_bytes, old.result.proof.instances)
    assert _reason(e.value) == "WrongWeights"
    past = reg.submit_answer(mid, old.result.proof.proof_bytes, old.result.proof.instances, version=1)
    assert past.version == 1

    # the audit re-verifies everything from calldata
    report = audit(reg, mid, circuits.step)
    assert report.ok and [s.version for s in report.steps] == [1, 2, 3]


@pytest.mark.chain
def test_history_and_audit_cli(workspace: Workspace, three_steps, onchain, anvil, capsys,
                               monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from .helpers import run_cli

    reg, mid = onchain
    if reg.version(mid) == 0:
        for sp in three_steps:
            code, out, err = run_cli(["submit", "update", sp.folder, "--model-id", mid, "--rpc", anvil.rpc_url,
                                      "--registry", reg.address, "--json"], capsys)
            assert code == 0, err
    code, out, err = run_cli(["history", mid, "--rpc", anvil.rpc_url, "--registry", reg.address, "--json"], capsys)
    assert code == 0, err
    hist = json.loads(out)
    assert [u["version"] for u in hist["updates"]] == [1, 2, 3]
    assert hist["updates"][-1]["after"] == "0x" + three_steps[-1].after.commitment.hex()
    code, out, err = run_cli(["audit", mid, "--rpc", anvil.rpc_url, "--registry", reg.address, "--json"], capsys)
    assert code == 0, out + err
    assert json.loads(out)["ok"] is True
    # a stale update through the CLI: one line naming the custom error, exit 1
    code, out, err = run_cli(["submit", "update", three_steps[0].folder, "--model-id", mid, "--rpc", anvil.rpc_url,
                              "--registry", reg.address], capsys)
    assert code == 1 and "Traceback" not in err and "StaleHead" in err
    # another account's CLI refuses, before any transaction, a step claimed for this one
    monkeypatch.setenv("ZKGRAD_PRIVATE_KEY", dev_account(1).key.hex())
    code, out, err = run_cli(["submit", "update", three_steps[0].folder, "--model-id", mid, "--rpc", anvil.rpc_url,
                              "--registry", reg.address], capsys)
    assert code == 1 and "proven for another submitter" in err and "--model-id" in err and len(err.splitlines()) == 1


@pytest.mark.chain
@pytest.mark.fuzzing
def test_mutated_real_proofs_never_accepted(workspace: Workspace, dataset: Dataset, onchain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Random byte flips of a real step proof and random changes of its public values, submitted to
    the registry with a real verifier: none is accepted (checked by eth_call, nothing mined)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from zkgrad.layout import FIELD_MODULUS

    reg, first = onchain
    circuits = workspace.circuits()
    # a fresh model on the same real verifiers and data, and a first step proven for it
    terms = reg.model(first).terms
    mid = reg.register_model(terms, circuits.step_layout, circuits.answer_layout, workspace.genesis().commitment,
                             name="fuzz", spec=b"{}")
    head = reg.head(mid)
    x, y = batch(dataset, SPEC.batch_size, 0, 0)
    sp = prove_step(circuits, workspace.genesis(), x, y, folder=tmp_path / "fuzz", claim=reg.claim(mid, 1))
    proof, inst = sp.proof.proof_bytes, list(sp.proof.instances)
    path = _path(workspace, dataset, 0)
    fn = reg.contract.functions.submitUpdate
    me = {"from": dev_account(0).address}  # the submitter the proof claims
    fn(mid, proof, inst, path, 0).call(me)  # the unmutated proof would be accepted
    layout = circuits.step_layout

    def expected(k: int) -> str:
        """The registry's refusal of a change to instance k (or, k None, to the proof bytes)."""
        if k < layout.batch.start:
            return "StaleHead"
        if k < layout.claim:
            return "WrongBatch"
        return "WrongSubmitter" if k == layout.claim else "InvalidProof"

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data) -> None:  # type: ignore[no-untyped-def]
        p, i = bytearray(proof), list(inst)
        if data.draw(st.booleans(), label="mutate proof"):
            k = data.draw(st.integers(0, len(p) - 1), label="byte")
            p[k] ^= data.draw(st.integers(1, 255), label="xor")
            error = "InvalidProof"
        else:
            k = data.draw(st.integers(0, len(i) - 1), label="instance")
            i[k] = (i[k] + data.draw(st.integers(1, FIELD_MODULUS - 1), label="delta")) % FIELD_MODULUS
            error = expected(k)
        with pytest.raises(TransactionRevertedError) as refused, node_errors(reg.w3, reg.contract.abi):
            fn(mid, bytes(p), i, path, 0).call(me)
        assert refused.value.data["error"] == error, refused.value.reason

    check()
    assert reg.head(mid) == head
