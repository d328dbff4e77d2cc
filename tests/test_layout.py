"""One layout: zkgrad/layout.py and ZkgradRegistry.sol must agree on every offset and on the
commitments. Fails if either side drifts. Also pins the on-chain interface (selectors)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from zkgrad.chain.anvil import ChainInfo
from zkgrad.chain.client import call, connect, contract_at
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.chain.registry import HEAD, deploy_registry
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout, commit, felt

SHAPES = [(p, k) for p in (1, 2, 3, 4, 5, 8, 13, 32, 100) for k in (1, 2, 3, 10, 64)]


@pytest.fixture(scope="module")
def registry(anvil: ChainInfo) -> Any:
    w3 = connect(anvil.rpc_url)
    return contract_at(w3, deploy_registry(w3), shipped(REGISTRY).abi)


@pytest.mark.chain
def test_step_layout_matches(registry: Any) -> None:
    for p, _ in SHAPES:
        py = StepLayout(p)
        before, batch, after, loss, length = call(registry.functions.stepLayout(p))
        assert (before, batch, after, loss, length) == (
            py.before.start,
            py.batch.start,
            py.after.start,
            py.loss,
            py.length,
        ), p
        # the slices' widths are fixed by the format: P, 2, P, 1, covering 0..length exactly
        assert py.before.stop == py.batch.start and py.batch.stop - py.batch.start == 2
        assert py.after.stop - py.after.start == p and py.after.stop == py.loss == py.length - 1


@pytest.mark.chain
def test_answer_layout_matches(registry: Any) -> None:
    for p, k in SHAPES:
        py = AnswerLayout(p, k)
        weights, input_, outputs, length = call(registry.functions.answerLayout(p, k))
        assert (weights, input_, outputs, length) == (py.weights.start, py.input, py.outputs.start, py.length)
        assert py.weights.stop == py.input and py.outputs.stop == py.length


@pytest.mark.chain
@settings(max_examples=25, deadline=None)
@given(words=st.lists(st.integers(0, 2**256 - 1), min_size=0, max_size=40))
def test_commitment_matches(registry: Any, words: list[int]) -> None:
    assert bytes(call(registry.functions.commit(words))) == commit(words)


@pytest.mark.chain
@pytest.mark.parametrize("p", [1, 3, 7])
def test_step_commitments_match(registry: Any, p: int) -> None:
    step = StepLayout(p)
    instances = [secrets.randbelow(FIELD_MODULUS) for _ in range(step.length)]
    before, batch, after = call(registry.functions.stepCommitments(p, instances))
    assert bytes(before) == step.before_commitment(instances)
    assert bytes(batch) == step.batch_commitment(instances)
    assert bytes(after) == step.after_commitment(instances)
    assert bytes(before) == commit(instances[:p]) and bytes(after) != bytes(before)


@pytest.mark.chain
def test_constants_match(registry: Any) -> None:
    assert call(registry.functions.FIELD_MODULUS()) == FIELD_MODULUS
    assert call(registry.functions.HEAD()) == HEAD
    assert felt(FIELD_MODULUS - 1) == FIELD_MODULUS - 1


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def test_interface_is_pinned() -> None:
    """Changing any of these breaks every other client of the registry: change them on purpose."""
    abi = shipped(REGISTRY).abi
    functions = {
        f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in abi if e["type"] == "function"
    }
    for signature in [
        "registerModel(address,address,uint32,uint32,bytes32,uint256,string,string)",
        "submitUpdate(uint256,bytes,uint256[])",
        "submitAnswer(uint256,uint256,bytes,uint256[])",
        "fund(uint256)",
        "withdraw(address)",
        "head(uint256)",
        "version(uint256)",
        "getUpdate(uint256,bytes32)",
        "getAnswer(uint256,uint256)",
        "stepLayout(uint256)",
        "answerLayout(uint256,uint256)",
    ]:
        assert signature in functions, signature
    events = {f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in abi if e["type"] == "event"}
    assert "UpdateAccepted(uint256,uint256,address,bytes32,bytes32,bytes32,uint256)" in events
    assert "AnswerAccepted(uint256,uint256,address,uint256,uint256,uint256[])" in events
    # the verifier interface the registry calls: ezkl's verifyProof(bytes,uint256[])
    assert _selector("verifyProof(bytes,uint256[])") == "0x1e8e1e13"
    assert _selector("submitUpdate(uint256,bytes,uint256[])") == "0x88f74956"
    assert _selector("submitAnswer(uint256,uint256,bytes,uint256[])") == "0xa1920990"
