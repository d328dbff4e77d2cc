"""One layout: zkgrad/layout.py and ZkgradRegistry.sol must agree on every offset and on the
commitments. Fails if either side drifts. Also pins the on-chain interface (selectors)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from zkgrad.chain.anvil import ChainInfo
from zkgrad.chain.registry import HEAD, deploy_registry
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.errors import InputError
from zkgrad.layout import (
    FIELD_MODULUS,
    AnswerLayout,
    EvalLayout,
    StepLayout,
    claim_word,
    commit,
    felt,
)
from zkgrad.node import call, chain_id, connect, contract_at

SHAPES = [(s, b, k) for s in (1, 2, 3, 5, 13, 650, 1210) for b in (1, 2, 7, 592) for k in (1, 3, 10)]


@pytest.fixture(scope="module")
def registry(anvil: ChainInfo) -> Any:
    w3 = connect(anvil.rpc_url)
    return contract_at(w3, deploy_registry(w3), shipped(REGISTRY).abi)


@pytest.mark.chain
def test_step_layout_matches(registry: Any) -> None:
    for s, b, _ in SHAPES:
        py = StepLayout(s, b, max(1, s // 2))
        got = call(registry.functions.stepLayout(s, b))
        assert tuple(got) == (py.before.start, py.batch.start, py.claim, py.after.start, py.loss, py.length), (s, b)
        # the parts' widths are fixed by the format: S, B, 1, S, 1, covering 0..length exactly
        assert py.before.stop == py.batch.start and py.batch.stop - py.batch.start == b
        assert py.claim == py.batch.stop and py.after.start == py.claim + 1 and py.length == 2 * s + b + 2
        assert py.after.stop - py.after.start == s and py.after.stop == py.loss == py.length - 1
        assert py.after_weights.start == py.after.start and py.after_weights.stop <= py.after.stop


@pytest.mark.chain
def test_answer_layout_matches(registry: Any) -> None:
    for w, x, k in SHAPES:
        py = AnswerLayout(w, x, k)
        weights, input_, outputs, length = call(registry.functions.answerLayout(w, x, k))
        assert (weights, input_, outputs, length) == (py.weights.start, py.input.start, py.outputs.start, py.length)
        assert py.weights.stop == py.input.start and py.input.stop == py.outputs.start and py.outputs.stop == py.length


@pytest.mark.chain
def test_eval_layout_matches(registry: Any) -> None:
    for w in (1, 10, 650, 4095):
        py = EvalLayout(w, 100, 1)
        weights, correct, length = call(registry.functions.evalLayout(w))
        assert (weights, correct, length) == (py.weights.start, py.correct, py.length)


@pytest.mark.chain
@settings(max_examples=25, deadline=None)
@given(words=st.lists(st.integers(0, 2**256 - 1), min_size=0, max_size=40))
def test_commitment_matches(registry: Any, words: list[int]) -> None:
    assert bytes(call(registry.functions.commit(words))) == commit(words)


@pytest.mark.chain
@settings(max_examples=25, deadline=None)
@given(model_id=st.integers(0, 2**256 - 1), version=st.integers(0, 2**256 - 1),
       submitter=st.binary(min_size=20, max_size=20))
def test_claim_word_matches(registry: Any, model_id: int, version: int, submitter: bytes) -> None:
    """The registry's claimWord is zkgrad.layout.claim_word over its chain id and its own address."""
    w3 = registry.w3
    address = to_checksum_address(submitter)
    got = call(registry.functions.claimWord(model_id, version, address))
    want = claim_word(chain_id(w3), registry.address, model_id, version, address)
    assert got == want < FIELD_MODULUS


@pytest.mark.chain
@pytest.mark.parametrize("s,b", [(1, 2), (3, 2), (7, 40), (650, 592)])
def test_step_commitments_match(registry: Any, s: int, b: int) -> None:
    step = StepLayout(s, b, s)
    instances = [secrets.randbelow(FIELD_MODULUS) for _ in range(step.length)]
    before, batch, after = call(registry.functions.stepCommitments(s, b, instances))
    assert bytes(before) == step.before_commitment(instances)
    assert bytes(batch) == step.batch_commitment(instances)
    assert bytes(after) == step.after_commitment(instances)
    assert bytes(before) == commit(instances[:s]) and bytes(after) == commit(instances[s + b + 1:-1])


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

    def typ(i: dict) -> str:
        return "(" + ",".join(typ(c) for c in i["components"]) + ")" if i["type"] == "tuple" else i["type"]

    functions = {f"{e['name']}({','.join(typ(i) for i in e['inputs'])})" for e in abi if e["type"] == "function"}
    for signature in [
        "registerModel((address,address,address,bytes32,uint32,bytes32,uint32,uint64,bytes32,uint128,uint32),"
        "(uint32,uint32,uint32,uint32,uint32),bytes32,bytes32,string,bytes)",
        "submitUpdate(uint256,bytes,uint256[],bytes32[],uint256)",
        "submitEvaluation(uint256,bytes,uint256[])",
        "getEvaluation(uint256,uint256)",
        "batchLeaf(uint256,bytes32)",
        "evalLayout(uint256)",
        "submitAnswer(uint256,uint256,bytes,uint256[])",
        "fund(uint256)",
        "withdraw(address)",
        "head(uint256)",
        "version(uint256)",
        "getVersion(uint256,uint256)",
        "refund(uint256,address)",
        "refundable(uint256)",
        "findAnswer(uint256,uint256,uint256[])",
        "getAnswer(uint256,uint256)",
        "stepLayout(uint256,uint256)",
        "claimWord(uint256,uint256,address)",
        "answerLayout(uint256,uint256,uint256)",
    ]:
        assert signature in functions, signature
    events = {f"{e['name']}({','.join(typ(i) for i in e['inputs'])})" for e in abi if e["type"] == "event"}
    assert "UpdateAccepted(uint256,uint256,address,bytes32,bytes32,bytes32,uint256)" in events
    assert "AnswerAccepted(uint256,uint256,address,uint256,bytes32,uint256[])" in events
    assert "EvaluationAccepted(uint256,uint256,address,uint256,uint256)" in events
    assert "RewardSkipped(uint256,address,uint256,uint256)" in events
    errors = {f"{e['name']}({','.join(typ(i) for i in e['inputs'])})" for e in abi if e["type"] == "error"}
    assert "WrongSubmitter(address,uint256)" in errors
    # the verifier interface the registry calls: ezkl's verifyProof(bytes,uint256[])
    assert _selector("verifyProof(bytes,uint256[])") == "0x1e8e1e13"
    assert _selector("submitUpdate(uint256,bytes,uint256[],bytes32[],uint256)") == "0x83867bb9"
    assert _selector("submitEvaluation(uint256,bytes,uint256[])") == "0x0bcdbf99"
    assert _selector("submitAnswer(uint256,uint256,bytes,uint256[])") == "0xa1920990"
    assert _selector("claimWord(uint256,uint256,address)") == "0x81131437"


def test_calldata_budget() -> None:
    """The digits MLP's step fits a transaction; one with twice its state does not, and says what to do."""
    StepLayout(1210, 592, 1210).check_calldata()
    with pytest.raises(InputError, match="128 KB") as e:
        StepLayout(2420, 592, 1210).check_calldata()
    assert "zkgrad model init --commitment hashed" in (e.value.hint or "")


@pytest.mark.parametrize("w", [1, 10, 650])
def test_eval_layout_offsets(w: int) -> None:
    layout = EvalLayout(w, 100, 1)
    assert (layout.weights, layout.correct, layout.length) == (slice(0, w), w, w + 1)
    instances = [secrets.randbelow(FIELD_MODULUS) for _ in range(w)] + [37]
    assert layout.weights_commitment(instances) == commit(instances[:w])
    assert layout.count(instances) == 37
    with pytest.raises(InputError, match=f"has {w + 1} public values, this one has {w + 2}"):
        layout.count(instances + [0])


@pytest.mark.parametrize("value,unit,count", [(0, 1, 0), (100, 1, 100), (2048 * 99, 2048, 99), (0, 2048, 0)])
def test_eval_layout_count(value: int, unit: int, count: int) -> None:
    assert EvalLayout(3, 100, unit).count([1, 2, 3, value]) == count


@pytest.mark.parametrize("value,unit", [(101, 1), (FIELD_MODULUS - 1, 1), (2049, 2048), (2048 * 101, 2048)])
def test_eval_layout_refuses_what_is_no_count(value: int, unit: int) -> None:
    with pytest.raises(InputError, match="no count of correct answers out of 100"):
        EvalLayout(3, 100, unit).count([1, 2, 3, value])


@pytest.mark.parametrize("args", [(0, 100, 1), (5, 0, 1), (5, 100, 0)])
def test_eval_layout_refuses_empty_parts(args: tuple[int, int, int]) -> None:
    with pytest.raises(InputError, match="no evaluation layout"):
        EvalLayout(*args)
