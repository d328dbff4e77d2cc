"""No model one party can switch off: every accepted update publishes its new weights (the step
proof's public values, in its calldata), so two provers with their own workspaces take turns on
one model, and a stranger with an empty home folder, the RPC URL, the model id, the data file and
the SRS files carries it on. Real anvil, real proofs, real verifiers; the lineage stays unbroken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from zkgrad.chain.lineage_audit import audit
from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.node import connect, dev_account
from zkgrad.train.join import published_state
from zkgrad.train.loop import train
from zkgrad.train.register import register
from zkgrad.train.workspace import Workspace

from .helpers import copy_workspace, run_cli
from .rpc_proxy import LimitedRpc

pytestmark = [pytest.mark.proof, pytest.mark.chain]
REWARD = 10**12


def test_two_provers_alternate_and_a_stranger_carries_on_from_an_empty_home(
        tiny_workspace, tiny_dataset, anvil, zkgrad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys) -> None:  # type: ignore[no-untyped-def]
    a_ws = copy_workspace(tiny_workspace, tmp_path / "a")
    b_ws = copy_workspace(tiny_workspace, tmp_path / "b")
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    mid = int(register(a_ws, reg, reward_wei=REWARD, fund_wei=10 * REWARD)["model_id"])
    a, b, c = (dev_account(i) for i in range(3))

    def as_(who) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setenv("ZKGRAD_PRIVATE_KEY", who.key.hex())

    as_(a)
    assert [x.reward for x in train(a_ws, tiny_dataset, reg, mid, steps=1, seed=0)] == [REWARD]
    as_(b)  # B never saw A's weights: its workspace holds genesis only
    assert b_ws.checkpoint_for(reg.head(mid)) is None
    assert [x.taken_by for x in train(b_ws, tiny_dataset, reg, mid, steps=2, seed=0)] == [None]
    as_(a)  # and A continues from B's
    train(a_ws, tiny_dataset, reg, mid, steps=3, seed=0)
    head = published_state(reg, mid, a_ws.genesis())
    assert head.version == 3 and head.commitment == reg.head(mid) == a_ws.checkpoint_for(reg.head(mid)).commitment

    # a stranger: empty home, no workspace; the data and the SRS files are handed over
    srs_dir = tmp_path / "srs"
    srs_dir.mkdir()
    for f in (zkgrad_home / "srs").glob("*.srs"):
        (srs_dir / f.name).symlink_to(f)
    fresh = tmp_path / "fresh-home"
    monkeypatch.setenv("ZKGRAD_HOME", str(fresh))
    as_(c)
    code, out, err = run_cli(["train", "--model-id", mid, "--steps", 4, "--rpc", anvil.rpc_url, "--registry",
                              reg.address, "--data", a_ws.dataset().source, "--srs-dir", srs_dir, "--json"], capsys)
    assert code == 0, out + err
    done = json.loads(out)
    assert done["version"] == 4 and [x["version"] for x in done["accepted"]] == [4]
    assert Path(done["workspace"]).is_relative_to(fresh)

    history = reg.history(mid)
    assert [r.prover.lower() for r in history] == [x.address.lower() for x in (a, b, a, c)]
    assert all(prev.after == r.before for prev, r in zip(history, history[1:]))
    assert history[0].before == a_ws.genesis().commitment and history[-1].after == reg.head(mid)
    assert all(reg.credit(x.address) == 0 for x in (a, b, c))  # paid, not owed
    report = audit(reg, mid, a_ws.circuits().step)
    assert report.ok and [s.version for s in report.steps] == [1, 2, 3, 4]

    # a node that serves version 2's transaction with one published weight changed: audit names version 2
    tx2 = history[1].tx_hash
    word = a_ws.circuits().step_layout.after.start + 3  # one of version 2's published weights

    def lie(req: dict, answer: dict) -> dict:
        if req["method"] == "eth_getTransactionByHash" and req["params"][0].lower() == tx2.lower():
            fn, args = reg.contract.decode_function_input(answer["result"]["input"])
            instances = list(args["instances"])
            instances[word] += 1
            answer["result"]["input"] = reg.contract.encode_abi(fn.abi_element_identifier, args=[
                args["modelId"], args["proof"], instances, args["batchPath"], args["minReward"]])
        return answer

    with LimitedRpc(anvil.rpc_url, max_blocks=10**6, tamper=lie) as node:
        lying = audit(Registry(connect(node.url), reg.address), mid, a_ws.circuits().step)
    assert not lying.ok and [s.version for s in lying.steps if not s.in_calldata] == [2]
    assert "version 2" in next(s.reason for s in lying.steps if s.version == 2)

    # the stranger's weights, from the chain alone: torch loads them as the head's and version 3's
    weights = tmp_path / "head.safetensors"
    code, out, err = run_cli(["weights", "--model-id", mid, "--rpc", anvil.rpc_url, "--registry", reg.address,
                              "--out", weights, "--json"], capsys)
    assert code == 0, out + err
    assert json.loads(out)["version"] == 4 and json.loads(out)["weights_commitment"] == "0x" + info_weights(reg, mid)
    head = Workspace.open(Path(done["workspace"])).checkpoint_for(reg.head(mid))
    _same_weights(load_file(weights), head)
    code, out, err = run_cli(["weights", "--model-id", mid, "--version", 3, "--rpc", anvil.rpc_url,
                              "--registry", reg.address, "--out", tmp_path / "v3.safetensors"], capsys)
    assert code == 0, err
    _same_weights(load_file(tmp_path / "v3.safetensors"), a_ws.checkpoint_for(history[2].after))
    with LimitedRpc(anvil.rpc_url, max_blocks=10**6, tamper=lie) as node:  # version 2's weights altered in transit
        code, out, err = run_cli(["weights", "--model-id", mid, "--version", 2, "--rpc", node.url,
                                  "--registry", reg.address, "--out", tmp_path / "v2.safetensors"], capsys)
    assert code == 1 and f"model {mid}'s version 2" in err and "ask another node" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v2.safetensors").exists()

    # without the SRS files: one line saying what to pass, no workspace half-built
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path / "another-home"))
    code, out, err = run_cli(["train", "--model-id", mid, "--steps", 5, "--rpc", anvil.rpc_url, "--registry",
                              reg.address, "--data", a_ws.dataset().source], capsys)
    assert code == 1 and "--srs-dir" in err and "Traceback" not in err
    assert not list((tmp_path / "another-home").glob("models/*/spec.json"))


def info_weights(reg: Registry, model_id: int) -> str:
    return reg.model(model_id).head_weights.hex()


def _same_weights(tensors: dict, ckpt: Any) -> None:  # type: ignore[type-arg]
    """``tensors`` are ``ckpt``'s parameters, and torch's module takes them (strict names and shapes)."""
    from zkgrad.model.spec import ModelSpec

    from .conftest import TINY_SPEC

    ModelSpec(**TINY_SPEC).build_module().load_state_dict(tensors, strict=True)  # type: ignore[arg-type]
    for name, q in zip(ckpt.names[: ckpt.n_params], ckpt.state()):
        assert (tensors[name].double().numpy() * 2**ckpt.scale == q).all(), name
