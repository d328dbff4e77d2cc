"""history, answers, audit's calldata reads and the CLI through a node that answers like a public
provider (tests/rpc_proxy.py: eth_getLogs refused over a block range, no debug_* methods) on a
real anvil: the same lineage as read directly, read in pages from the model's registration
block (never from block 0), narrower pages when the node refuses, and no tracing."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3

from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.errors import ChainError
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout, claim_word, commit
from zkgrad.node import (
    account,
    block_number,
    chain_id,
    connect,
    contract_at,
    deploy,
    dev_account,
    transact,
)

from .helpers import StubDataset, compile_test_contracts, run_cli
from .rpc_proxy import LimitedRpc

pytestmark = pytest.mark.chain

LIMIT = 16  # blocks per eth_getLogs the proxy accepts
GAP = 40  # blocks mined between updates: a lineage spans many pages
P, B, X, K = 3, 2, 2, 2  # state (= weights), batch and input words; outputs
STEP, ANSWER = StepLayout(state_words=P, batch_words=B, weights_words=P), AnswerLayout(P, X, K)
HOW = ["direct", "contract", "direct", "contract", "stored"]  # how each update of the lineage is sent
N_BATCHES = 3  # the stub dataset's batches: the lineage's schedule wraps
SPEC = b'{"model": "stub"}'


def felts(n: int) -> list[int]:
    return [secrets.randbelow(FIELD_MODULUS) for _ in range(n)]


def mine(w3: Web3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def submit(how: str, registry: Registry, model_id: int, prover: Any, proof: bytes, instances: list[int],
           path: list[bytes]) -> None:
    """An update (with its batch's Merkle path) sent to the registry directly, through a prover
    contract's submit(proof, instances, path), or by that contract from its storage (armed, then
    woken by a plain transfer: the transaction's input is empty)."""
    w3 = registry.w3
    if how == "direct":
        registry.submit_update(model_id, proof, instances, batch_path=path)
    elif how == "contract":
        transact(w3, prover.functions.submit(proof, instances, path))
    else:
        transact(w3, prover.functions.arm(proof, instances, path, True))
        sent = w3.eth.send_transaction({"from": dev_account(0).address, "to": prover.address, "value": 1})
        assert w3.eth.wait_for_transaction_receipt(sent)["status"] == 1


@dataclass
class Lineage:
    registry: Registry
    model_id: int
    registered_at: int
    sent: list[tuple[bytes, list[int]]]  # (proof, instances) of each accepted update


@pytest.fixture(scope="module")
def compiled(request: pytest.FixtureRequest) -> dict[str, Any]:
    return compile_test_contracts(getattr(request.config, "cache", None))  # none with -p no:cacheprovider


@pytest.fixture(scope="module")
def lineage(anvil: Any, compiled: dict[str, Any]) -> Lineage:
    """Five updates GAP blocks apart on a stub dataset, sent in each way ``submit`` knows, and an
    answer; a hundred blocks before the registry, which are never read."""
    w3 = connect(anvil.rpc_url)
    mine(w3, 100)
    registry = Registry(w3, deploy_registry(w3))
    step, answer = (contract_at(w3, deploy(w3, compiled["AcceptingVerifier"], 0).address,
                                compiled["AcceptingVerifier"].abi) for _ in range(2))
    head, data = felts(P), StubDataset(N_BATCHES, B)
    terms = data.terms(step_verifier=step.address, answer_verifier=answer.address)
    mid = registry.register_model(terms, STEP, ANSWER, commit(head), spec=SPEC)
    registered_at = block_number(w3)
    prover = contract_at(w3, deploy(w3, compiled["ReentrantProver"], registry.address, mid).address,
                         compiled["ReentrantProver"].abi)
    sent = []
    for i, how in enumerate(HOW):
        mine(w3, GAP)
        submitter = account(w3).address if how == "direct" else prover.address
        claim = claim_word(chain_id(w3), registry.address, mid, i + 1, submitter)
        instances = [*head, *data.batch(i), claim, *felts(P), *felts(1)]
        proof = secrets.token_bytes(500 + i)
        transact(w3, step.functions.accept(proof, instances))
        submit(how, registry, mid, prover, proof, instances, data.path(i))
        sent.append((proof, instances))
        head = instances[STEP.after]
    mine(w3, GAP)
    instances = [*head, *felts(X + K)]
    proof = secrets.token_bytes(300)
    transact(w3, answer.functions.accept(proof, instances))
    registry.submit_answer(mid, proof, instances)
    mine(w3, GAP)
    return Lineage(registry, mid, registered_at, sent)


def through(rpc: LimitedRpc, registry: Registry, **kwargs: Any) -> Registry:
    return Registry(connect(rpc.url), registry.address, **kwargs)


@pytest.mark.parametrize("style", ["infura", "ankr", "http"])
def test_history_through_a_limited_provider_is_the_whole_lineage(anvil: Any, lineage: Lineage, style: str) -> None:
    direct = lineage.registry.history(lineage.model_id)
    assert [r.version for r in direct] == [1, 2, 3, 4, 5]
    with LimitedRpc(anvil.rpc_url, LIMIT, style) as rpc:
        assert through(rpc, lineage.registry).history(lineage.model_id) == direct
    assert rpc.refused, "the default span is wider than the proxy's limit: it must have been narrowed"
    assert all(last - first + 1 <= LIMIT for first, last in rpc.served)
    # pages cover exactly the registration block .. the head's block, in order, each block once
    assert rpc.served[0][0] == lineage.registered_at and rpc.served[-1][1] == direct[-1].block
    assert all(b[0] == a[1] + 1 for a, b in zip(rpc.served, rpc.served[1:]))
    assert not [m for m in rpc.methods if m.startswith(("debug_", "trace_"))]


def test_proofs_and_answers_through_a_limited_provider(anvil: Any, lineage: Lineage) -> None:
    mid = lineage.model_id
    with LimitedRpc(anvil.rpc_url, LIMIT) as rpc:
        via = through(rpc, lineage.registry)
        # found in each transaction's input, also where a contract made the registry call; not
        # where the contract took them from its storage
        found = via.updates_calldata(mid)
        assert [(u.proof, list(u.instances)) for u in found] == [*lineage.sent[:4], (None, [])]
        assert [u.record for u in found] == lineage.registry.history(mid)
        answers = via.answers(mid)
    assert answers == lineage.registry.answers(mid) and [a.version for a in answers] == [5]
    assert not [m for m in rpc.methods if m.startswith(("debug_", "trace_"))]


def test_a_span_within_the_limit_is_never_refused(anvil: Any, lineage: Lineage) -> None:
    with LimitedRpc(anvil.rpc_url, LIMIT) as rpc:
        history = through(rpc, lineage.registry, log_span=LIMIT).history(lineage.model_id)
    assert len(history) == 5 and not rpc.refused
    blocks = history[-1].block - lineage.registered_at + 1
    assert len(rpc.served) == -(-blocks // LIMIT)


def test_a_node_that_refuses_every_range_is_one_clear_error(anvil: Any, lineage: Lineage,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with LimitedRpc(anvil.rpc_url, 0) as rpc:
        with pytest.raises(ChainError, match="query returned more than 10000 results.*alone"):
            through(rpc, lineage.registry).history(lineage.model_id)
        code, out, err = run_cli(["history", lineage.model_id, "--rpc", rpc.url,
                                  "--registry", lineage.registry.address], capsys)
    assert code == 1 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "eth_getLogs" in err


def test_history_cli_through_a_limited_provider(anvil: Any, lineage: Lineage,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["history", lineage.model_id, "--registry", lineage.registry.address, "--json"]
    code, out, err = run_cli([*args, "--rpc", anvil.rpc_url], capsys)
    assert code == 0, err
    direct = json.loads(out)
    with LimitedRpc(anvil.rpc_url, LIMIT) as rpc:
        code, out, err = run_cli([*args, "--rpc", rpc.url, "--log-span", "8"], capsys)
    assert code == 0, err
    assert json.loads(out) == direct and len(direct["updates"]) == 5
    assert not rpc.refused and all(last - first + 1 <= 8 for first, last in rpc.served)


@pytest.mark.proof
def test_audit_of_real_steps_through_a_limited_provider(anvil: Any, tiny_workspace: Any, tiny_dataset: Any,
                                                        compiled: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Real proven steps of the tiny workspace on its first three batches (seed 0), GAP blocks apart:
    sent directly and through a prover contract, audit re-verifies them through the limited proxy,
    CLI included; a third sent by the contract from its storage cannot be re-verified, and the audit
    says so."""
    from zkgrad.chain.lineage_audit import audit
    from zkgrad.model.data import batch
    from zkgrad.model.dataset import batch_proof
    from zkgrad.prover.step import prove_step
    from zkgrad.train.register import register

    from .conftest import TINY_SPEC
    from .helpers import copy_workspace

    ws = copy_workspace(tiny_workspace, tmp_path_factory.mktemp("paging-ws") / "model")
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    mid = int(register(ws, reg)["model_id"])
    prover = contract_at(w3, deploy(w3, compiled["ReentrantProver"], reg.address, mid).address,
                         compiled["ReentrantProver"].abi)
    circuits, ck = ws.circuits(), ws.genesis()
    steps = []
    for t, submitter in enumerate([account(w3).address, prover.address, prover.address]):  # direct, contract, stored
        x, y = batch(tiny_dataset, int(TINY_SPEC["batch_size"]), t, 0)  # type: ignore[call-overload]
        claim = claim_word(chain_id(w3), reg.address, mid, t + 1, submitter)
        steps.append(prove_step(circuits, ck, x, y, folder=ws.step_dir(t + 1), claim=claim))
        ck = steps[-1].after
    committed = ws.dataset()  # tiny_dataset, as the fixture committed it
    paths = [batch_proof(ws.spec, tiny_dataset, committed, t)[2] for t in range(3)]
    cli = ["audit", mid, "--registry", reg.address, "--json"]
    for sp, path, how in zip(steps[:2], paths, ["direct", "contract"]):
        mine(w3, GAP)
        submit(how, reg, mid, prover, sp.proof.proof_bytes, list(sp.proof.instances), path)
    mine(w3, GAP)
    with LimitedRpc(anvil.rpc_url, LIMIT) as rpc:
        report = audit(through(rpc, reg), mid, circuits.step)
        assert report.ok, report.to_dict()
        assert [(s.version, s.verified, s.chained, s.in_calldata) for s in report.steps] == [
            (1, True, True, True), (2, True, True, True)]
        code, out, err = run_cli([*cli, "--rpc", rpc.url], capsys)
    assert code == 0, err
    assert json.loads(out)["ok"] is True and len(json.loads(out)["lineage"]["steps"]) == 2
    assert rpc.refused and all(last - first + 1 <= LIMIT for first, last in rpc.served)
    assert not [m for m in rpc.methods if m.startswith(("debug_", "trace_"))]

    submit("stored", reg, mid, prover, steps[2].proof.proof_bytes, list(steps[2].proof.instances), paths[2])
    assert reg.head(mid) == steps[2].after.commitment
    with LimitedRpc(anvil.rpc_url, LIMIT) as rpc:
        code, out, err = run_cli([*cli, "--rpc", rpc.url], capsys)
    got = json.loads(out)
    assert code == 1 and got["ok"] is False
    last = got["lineage"]["steps"][-1]
    assert (last["version"], last["verified"], last["chained"], last["in_calldata"]) == (3, False, True, False)
    assert "holds no update" in last["reason"]
