"""ZkgradRegistry on a real anvil: the contract's own rules, through zkgrad.chain.registry.

The verifiers here are test-only contracts (tests/contracts/TestVerifiers.sol): AcceptingVerifier
accepts exactly the one proof a test registered for a list of instances, RevertingVerifier
reverts on everything. They isolate the registry's logic (heads, replays, layout, bounty) from
proving. The end-to-end tests with real ezkl proofs and verifiers live in
tests/test_e2e_registry.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from zkgrad.chain.client import call, contract_at, deploy, dev_account, transact
from zkgrad.chain.registry import Registry, deploy_registry, shape
from zkgrad.errors import TransactionRevertedError
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout, commit

from .helpers import compile_test_contracts

pytestmark = pytest.mark.chain

P, B, X, K = 3, 2, 2, 2  # state (= weights), batch and input words; outputs
STEP, ANSWER = StepLayout(state_words=P, batch_words=B, weights_words=P), AnswerLayout(P, X, K)
REWARD = 10**17
OWNER, PROVER, STRANGER = 0, 1, 2


def felts(n: int) -> list[int]:
    return [secrets.randbelow(FIELD_MODULUS) for _ in range(n)]


def step_instances(before: Sequence[int], after: Sequence[int] | None = None) -> list[int]:
    """[before | batch | after | loss] with a fresh batch, loss and (unless given) after."""
    return [*before, *felts(B), *(after if after is not None else felts(len(before))), *felts(1)]


@dataclass
class Env:
    w3: Web3
    registry: Registry
    step: Any  # AcceptingVerifier (training step)
    answer: Any  # AcceptingVerifier (inference)
    model_id: int
    genesis: list[int]  # the genesis state's words
    contracts: dict[str, Any]

    def proven(self, verifier: Any, instances: Sequence[int], size: int = 1024) -> bytes:
        """A fresh proof that ``verifier`` will accept for ``instances`` (and nothing else)."""
        proof = secrets.token_bytes(size)
        transact(self.w3, verifier.functions.accept(proof, list(instances)))
        return proof

    def update(self, before: Sequence[int], after: Sequence[int] | None = None) -> tuple[bytes, list[int]]:
        instances = step_instances(before, after)
        return self.proven(self.step, instances), instances

    def answer_for(self, weights: Sequence[int]) -> tuple[bytes, list[int]]:
        instances = [*weights, *felts(X + K)]
        return self.proven(self.answer, instances), instances


def refused(error: str, fn: Any, *args: Any, **kwargs: Any) -> TransactionRevertedError:
    with pytest.raises(TransactionRevertedError) as info:
        fn(*args, **kwargs)
    assert info.value.data["error"] == error, info.value.reason
    return info.value


@pytest.fixture(scope="module")
def compiled(request: pytest.FixtureRequest) -> dict[str, Any]:
    return compile_test_contracts(getattr(request.config, "cache", None))  # none with -p no:cacheprovider


def _deploy_at(w3: Web3, compiled: dict[str, Any], name: str, *args: Any) -> Any:
    return contract_at(w3, deploy(w3, compiled[name], *args).address, compiled[name].abi)


@pytest.fixture
def env(w3: Web3, compiled: dict[str, Any]) -> Env:
    registry = Registry(w3, deploy_registry(w3))
    step = _deploy_at(w3, compiled, "AcceptingVerifier", 0)
    answer = _deploy_at(w3, compiled, "AcceptingVerifier", 0)
    genesis = felts(P)
    model_id = registry.register_model(
        step.address,
        answer.address,
        STEP,
        ANSWER,
        commit(genesis),
        reward_per_update=REWARD,
        name="mlp",
        spec_uri="ipfs://spec",
    )
    return Env(w3, registry, step, answer, model_id, genesis, compiled)


def advance(env: Env, n: int, account: LocalAccount | None = None) -> list[list[int]]:
    """n accepted updates from genesis; returns the instances of each."""
    head, done = env.genesis, []
    for _ in range(n):
        proof, instances = env.update(head)
        env.registry.submit_update(env.model_id, proof, instances, account=account)
        done.append(instances)
        head = instances[STEP.after]
    return done


# --- the happy path ---------------------------------------------------------------------
def test_three_updates_move_the_head_and_leave_a_lineage(env: Env) -> None:
    reg, mid = env.registry, env.model_id
    assert reg.head(mid) == commit(env.genesis) and reg.version(mid) == 0
    head, sent = env.genesis, []
    for expected in (1, 2, 3):
        proof, instances = env.update(head)
        got = reg.submit_update(mid, proof, instances, account=dev_account(PROVER))
        assert got.version == expected
        assert got.before == commit(head) == STEP.before_commitment(instances)
        assert got.after == STEP.after_commitment(instances) == reg.head(mid)
        assert got.batch == STEP.batch_commitment(instances)
        assert got.loss == instances[STEP.loss]
        assert got.prover == dev_account(PROVER).address
        sent.append((proof, instances))
        head = instances[STEP.after]
    assert reg.version(mid) == 3

    history = reg.history(mid)
    assert [r.version for r in history] == [1, 2, 3]
    assert history[0].before == commit(env.genesis)
    assert all(a.after == b.before for a, b in zip(history, history[1:], strict=False))
    assert all(r.gas_used > 0 and r.prover == dev_account(PROVER).address for r in history)
    calldata = reg.updates_calldata(mid)
    assert [(c.proof, list(c.instances)) for c in calldata] == sent
    for r in history:
        assert reg.version_of(mid, r.after) == r.version
    assert reg.version_of(mid, commit(env.genesis)) == 0
    info = reg.model(mid)
    assert (info.head, info.version, info.name, info.spec_uri) == (commit(head), 3, "mlp", "ipfs://spec")
    assert info.head_weights == info.head  # no momentum: the state is the weights
    assert (info.step_layout, info.answer_layout) == (STEP, ANSWER)


def test_models_are_separate(env: Env) -> None:
    other = env.registry.register_model(env.step.address, env.answer.address, STEP, ANSWER, commit(felts(P)))
    assert other == env.model_id + 1
    proof, instances = env.update(env.genesis)  # built on the first model's head
    refused("StaleHead", env.registry.submit_update, other, proof, instances)
    env.registry.submit_update(env.model_id, proof, instances)
    assert env.registry.version(other) == 0 and env.registry.history(other) == []


# --- each way of cheating has its own error ---------------------------------------------
def test_stale_update_is_refused(env: Env) -> None:
    advance(env, 1)
    proof, instances = env.update(env.genesis)  # a valid step, but from the old head
    err = refused("StaleHead", env.registry.submit_update, env.model_id, proof, instances)
    assert err.data["args"] == (env.registry.head(env.model_id), commit(env.genesis))


def test_replayed_update_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    env.registry.submit_update(env.model_id, proof, instances)
    err = refused("ReplayedProof", env.registry.submit_update, env.model_id, proof, instances)
    assert err.data["args"] == (STEP.after_commitment(instances),)
    assert env.registry.version(env.model_id) == 1


def test_a_step_back_to_known_weights_is_refused(env: Env) -> None:
    """No cycles: weights the model already had (here genesis) cannot become the head again,
    so a cycle A->B->A can never make an old proof acceptable again."""
    (first,) = advance(env, 1)
    proof, instances = env.update(first[STEP.after], after=env.genesis)
    refused("ReplayedProof", env.registry.submit_update, env.model_id, proof, instances)
    proof, instances = env.update(env.genesis, after=env.genesis)  # a step that changes nothing
    refused("ReplayedProof", env.registry.submit_update, env.model_id, proof, instances)


def test_tampered_proof_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    tampered = bytearray(proof)
    tampered[100] ^= 0x01
    refused("InvalidProof", env.registry.submit_update, env.model_id, bytes(tampered), instances)
    refused("InvalidProof", env.registry.submit_update, env.model_id, proof[:-1], instances)
    refused("InvalidProof", env.registry.submit_update, env.model_id, b"", instances)
    assert env.registry.version(env.model_id) == 0


@pytest.mark.parametrize(
    ("region", "error"),
    [
        ("before", "StaleHead"),
        ("batch", "InvalidProof"),
        ("after", "InvalidProof"),
        ("loss", "InvalidProof"),
        ("out_of_field", "InstanceOutOfField"),
        ("missing", "MalformedInstances"),
        ("extra", "MalformedInstances"),
    ],
)
def test_tampered_instances_are_refused(env: Env, region: str, error: str) -> None:
    proof, instances = env.update(env.genesis)
    bad = list(instances)
    if region in ("before", "batch", "after"):
        i = getattr(STEP, region).start
        bad[i] = (bad[i] + 1) % FIELD_MODULUS
    elif region == "loss":
        bad[STEP.loss] = (bad[STEP.loss] + 1) % FIELD_MODULUS
    elif region == "out_of_field":
        bad[STEP.batch.start] += FIELD_MODULUS  # the same field element, a different word
    elif region == "missing":
        bad = bad[:-1]
    else:
        bad = [*bad, 0]
    refused(error, env.registry.submit_update, env.model_id, proof, bad)
    env.registry.submit_update(env.model_id, proof, instances)  # the untampered one still passes


@pytest.mark.parametrize("name", ["RevertingVerifier", "GarbageVerifier"])
def test_a_verifier_that_reverts_or_returns_garbage_refuses(env: Env, name: str) -> None:
    bad = _deploy_at(env.w3, env.contracts, name)
    mid = env.registry.register_model(bad.address, bad.address, STEP, ANSWER, commit(env.genesis))
    instances = step_instances(env.genesis)
    refused("InvalidProof", env.registry.submit_update, mid, b"\x01" * 64, instances)
    refused("InvalidProof", env.registry.submit_answer, mid, b"\x01" * 64, [*env.genesis, *felts(X + K)])


def test_unknown_model_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    for fn, args in [
        (env.registry.submit_update, (99, proof, instances)),
        (env.registry.submit_answer, (99, proof, instances)),
        (env.registry.fund, (99, 1)),
        (env.registry.head, (99,)),
        (env.registry.set_spec_uri, (99, "x")),
        (env.registry.submit_update, (0, proof, instances)),
    ]:
        err = refused("UnknownModel", fn, *args)
        assert err.data["args"] == (args[0],)


def test_registration_checks_its_arguments(env: Env) -> None:
    eoa = dev_account(STRANGER).address
    ok = env.step.address
    refused("NotAContract", env.registry.register_model, eoa, ok, STEP, ANSWER, commit(env.genesis))
    refused("NotAContract", env.registry.register_model, ok, eoa, STEP, ANSWER, commit(env.genesis))
    refused(
        "AmountTooLarge",
        env.registry.register_model,
        ok,
        ok,
        STEP,
        ANSWER,
        commit(env.genesis),
        reward_per_update=2**128,
    )


SHAPE = shape(STEP, ANSWER)  # (state, weights, batch, input, outputs) words


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (1, P + 1)],
    ids=["no_state", "no_weights", "no_batch", "no_input", "no_outputs", "weights_over_state"],
)
def test_registration_refuses_an_impossible_shape(env: Env, field: int, value: int) -> None:
    """Shapes StepLayout/AnswerLayout refuse in Python are refused by the contract too."""
    g = commit(env.genesis)

    def register(words: tuple[int, ...]) -> Any:
        return transact(env.w3, env.registry.contract.functions.registerModel(
            env.step.address, env.answer.address, words, g, g, 0, "", ""))

    bad = tuple(value if i == field else v for i, v in enumerate(SHAPE))
    before = env.registry.model_count()
    with pytest.raises(TransactionRevertedError) as info:
        register(bad)
    assert info.value.data["error"] == "InvalidShape", info.value.reason
    assert tuple(info.value.data["args"][0]) == bad
    assert env.registry.model_count() == before
    register(SHAPE)  # the same call with the valid shape registers
    assert env.registry.model_count() == before + 1


def test_registration_checks_genesis_weights_against_momentum(env: Env) -> None:
    """Without momentum the weights are the state: genesisWeights must be genesis. With momentum
    (fewer weight than state words) they are a different commitment: it must differ."""
    reg, ok, g = env.registry, env.step.address, commit(env.genesis)
    other = commit(env.genesis[:2])
    err = refused("GenesisMismatch", reg.register_model, ok, ok, STEP, ANSWER, g, genesis_weights=other)
    assert err.data["args"] == (g, other)
    momentum = StepLayout(state_words=2 * P, batch_words=B, weights_words=P)
    state = commit([*env.genesis, *felts(P)])
    for same in (None, state):  # None: genesis_weights defaults to genesis
        err = refused("GenesisMismatch", reg.register_model, ok, ok, momentum, ANSWER, state, genesis_weights=same)
        assert err.data["args"] == (state, state)
    assert reg.model_count() == env.model_id
    reg.register_model(ok, ok, STEP, ANSWER, g, genesis_weights=g)  # equal, without momentum: fine
    reg.register_model(ok, ok, momentum, ANSWER, state, genesis_weights=other)  # different, with it: fine
    assert reg.model_count() == env.model_id + 2


def test_only_the_owner_changes_a_registration(env: Env) -> None:
    reg, mid, stranger = env.registry, env.model_id, dev_account(STRANGER)
    err = refused("NotOwner", reg.set_reward_per_update, mid, 1, account=stranger)
    assert err.data["args"] == (mid, stranger.address)
    refused("NotOwner", reg.set_spec_uri, mid, "evil://", account=stranger)
    refused("NotOwner", reg.transfer_ownership, mid, stranger.address, account=stranger)
    assert reg.model(mid).spec_uri == "ipfs://spec" and reg.model(mid).reward_per_update == REWARD

    reg.set_spec_uri(mid, "ipfs://v2")
    reg.set_reward_per_update(mid, 7)
    reg.transfer_ownership(mid, stranger.address)
    info = reg.model(mid)
    assert (info.owner, info.spec_uri, info.reward_per_update) == (stranger.address, "ipfs://v2", 7)
    refused("NotOwner", reg.set_spec_uri, mid, "ipfs://v3")  # the old owner is a stranger now
    reg.set_spec_uri(mid, "ipfs://v3", account=stranger)
    refused("ZeroAddress", reg.transfer_ownership, mid, "0x" + "00" * 20, account=stranger)


# --- answers ----------------------------------------------------------------------------
def test_answer_at_the_head_is_recorded(env: Env) -> None:
    (first,) = advance(env, 1)
    weights = first[STEP.after]
    proof, instances = env.answer_for(weights)
    got = env.registry.submit_answer(env.model_id, proof, instances, account=dev_account(PROVER))
    assert (got.answer_id, got.version, got.prover) == (0, 1, dev_account(PROVER).address)
    assert got.input == commit(instances[ANSWER.input]) == ANSWER.input_commitment(instances)
    assert list(got.outputs) == instances[ANSWER.outputs]
    stored = env.registry.get_answer(env.model_id, 0)
    assert stored == (dev_account(PROVER).address, 1, got.block, got.input, got.outputs)
    assert env.registry.answers(env.model_id) == [got]
    found, answer_id = call(env.registry.contract.functions.findAnswer(env.model_id, instances))
    assert (found, answer_id) == (True, 0)
    refused("ReplayedProof", env.registry.submit_answer, env.model_id, proof, instances)
    refused("UnknownAnswer", env.registry.get_answer, env.model_id, 1)


def test_answer_from_weights_that_are_not_the_head_is_refused(env: Env) -> None:
    advance(env, 1)
    proof, instances = env.answer_for(env.genesis)  # version 0, not the head
    err = refused("WrongWeights", env.registry.submit_answer, env.model_id, proof, instances)
    assert err.data["args"] == (1, commit(env.genesis))
    unknown_proof, unknown = env.answer_for(felts(P))  # weights the model never had
    refused("WrongWeights", env.registry.submit_answer, env.model_id, unknown_proof, unknown, version=0)


def test_answer_against_a_named_past_version(env: Env) -> None:
    steps = advance(env, 2)
    proof, instances = env.answer_for(steps[0][STEP.after])  # version 1; the head is 2
    refused("WrongWeights", env.registry.submit_answer, env.model_id, proof, instances)
    refused("WrongWeights", env.registry.submit_answer, env.model_id, proof, instances, version=2)
    refused("WrongWeights", env.registry.submit_answer, env.model_id, proof, instances, version=0)
    got = env.registry.submit_answer(env.model_id, proof, instances, version=1)
    assert got.version == 1
    proof0, genesis_answer = env.answer_for(env.genesis)
    assert env.registry.submit_answer(env.model_id, proof0, genesis_answer, version=0).version == 0


def test_tampered_answer_is_refused(env: Env) -> None:
    proof, instances = env.answer_for(env.genesis)
    for i in (ANSWER.input.start, ANSWER.input.stop - 1, ANSWER.outputs.start, ANSWER.outputs.stop - 1):
        bad = list(instances)
        bad[i] = (bad[i] + 1) % FIELD_MODULUS
        refused("InvalidProof", env.registry.submit_answer, env.model_id, proof, bad)
    refused("InvalidProof", env.registry.submit_answer, env.model_id, proof[::-1], instances)
    refused("MalformedInstances", env.registry.submit_answer, env.model_id, proof, instances[:-1])
    bad = list(instances)
    bad[ANSWER.outputs.start] += FIELD_MODULUS
    refused("InstanceOutOfField", env.registry.submit_answer, env.model_id, proof, bad)
    assert env.registry.answers(env.model_id) == []


def test_a_momentum_model_answers_against_its_weights_not_its_state(env: Env) -> None:
    """With momentum the state (weights, then velocities) is more than the weights: the head
    commits to the state, answers to the weights (the first weights words of the state)."""
    reg, S, W = env.registry, 5, 3
    step, answer = StepLayout(state_words=S, batch_words=B, weights_words=W), AnswerLayout(W, X, K)
    genesis = felts(S)
    mid = reg.register_model(env.step.address, env.answer.address, step, answer, commit(genesis),
                             genesis_weights=commit(genesis[:W]))
    info = reg.model(mid)
    assert (info.step_layout, info.answer_layout) == (step, answer)
    assert (info.genesis, info.head, info.head_weights) == (commit(genesis), commit(genesis), commit(genesis[:W]))
    proof, instances = env.answer_for(genesis[:W])
    assert reg.submit_answer(mid, proof, instances).version == 0  # genesis' weights, at HEAD

    proof, instances = env.update(genesis)
    after = instances[step.after]
    got = reg.submit_update(mid, proof, instances)
    assert (got.version, got.before, got.after) == (1, commit(genesis), commit(after))
    info = reg.model(mid)
    assert info.head == commit(after) == reg.head(mid) and info.version == 1
    assert info.head_weights == commit(after[:W]) == step.after_weights_commitment(instances) != info.head
    assert reg.version_of(mid, info.head) == reg.version_of(mid, info.head_weights) == 1
    assert reg.version_of(mid, commit(genesis[:W])) == 0
    assert [list(c.instances) for c in reg.updates_calldata(mid)] == [instances]

    # an answer from the head's weights is accepted at HEAD, and named as version 1
    proof, instances = env.answer_for(after[:W])
    assert reg.submit_answer(mid, proof, instances).version == 1
    proof, instances = env.answer_for(after[:W])
    assert reg.submit_answer(mid, proof, instances, version=1).version == 1
    # the whole state as the weights does not fit an answer; other words of the state, or the old
    # weights, are not the head's weights
    proof, instances = env.answer_for(after)
    refused("MalformedInstances", reg.submit_answer, mid, proof, instances)
    for words in (after[S - W:], genesis[:W]):
        proof, instances = env.answer_for(words)
        err = refused("WrongWeights", reg.submit_answer, mid, proof, instances)
        assert err.data["args"] == (1, commit(words))
    assert reg.submit_answer(mid, proof, instances, version=0).version == 0  # genesis' weights, named

    # a step to weights the model already had is a replay, whatever its velocities
    for weights in (genesis[:W], after[:W]):
        proof, instances = env.update(after, after=[*weights, *felts(S - W)])
        err = refused("ReplayedProof", reg.submit_update, mid, proof, instances)
        assert err.data["args"] == (commit(weights),)
    assert reg.version(mid) == 1 and len(reg.answers(mid)) == 4


# --- the bounty -------------------------------------------------------------------------
def _cost(receipt: Any) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def _send_anyway(w3: Web3, fn: Any, signer: LocalAccount) -> Any:
    """Mine ``fn`` without estimating gas first, so a reverting call lands on chain."""
    tx = fn.build_transaction(
        {
            "from": signer.address,
            "gas": 1_000_000,
            "nonce": w3.eth.get_transaction_count(signer.address),
            "chainId": w3.eth.chain_id,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
    )
    return receipt


def test_bounty_pays_once_per_accepted_update_and_never_for_a_rejected_one(env: Env) -> None:
    w3, reg, mid, prover = env.w3, env.registry, env.model_id, dev_account(PROVER)
    reg.fund(mid, 3 * REWARD + REWARD // 2, account=dev_account(STRANGER))
    assert reg.model(mid).bounty == 3 * REWARD + REWARD // 2

    proof, instances = env.update(env.genesis)
    start = w3.eth.get_balance(prover.address)
    got = reg.submit_update(mid, proof, instances, account=prover)
    receipt = w3.eth.get_transaction_receipt(got.tx_hash)
    assert got.reward == REWARD
    assert w3.eth.get_balance(prover.address) == start + REWARD - _cost(receipt)
    assert reg.model(mid).bounty == 2 * REWARD + REWARD // 2

    # rejected updates mined on chain (replay, stale, tampered): gas is spent, nothing is paid
    stale_proof, stale = env.update(env.genesis)
    bad = bytearray(proof)
    bad[0] ^= 1
    for args in [(proof, instances), (stale_proof, stale), (bytes(bad), instances)]:
        before = w3.eth.get_balance(prover.address)
        failed = _send_anyway(w3, reg.contract.functions.submitUpdate(mid, *args), prover)
        assert failed["status"] == 0
        assert w3.eth.get_balance(prover.address) == before - _cost(failed)
    assert reg.model(mid).bounty == 2 * REWARD + REWARD // 2 and reg.version(mid) == 1

    # two more are paid; the fourth finds half a reward left and is accepted unpaid
    head = instances[STEP.after]
    for paid in (REWARD, REWARD, 0):
        proof, instances = env.update(head)
        before = w3.eth.get_balance(prover.address)
        got = reg.submit_update(mid, proof, instances, account=prover)
        assert got.reward == paid
        assert w3.eth.get_balance(prover.address) == before + paid - _cost(
            w3.eth.get_transaction_receipt(got.tx_hash)
        )
        head = instances[STEP.after]
    assert reg.model(mid).bounty == REWARD // 2 and reg.version(mid) == 4
    assert w3.eth.get_balance(reg.address) == REWARD // 2


def bubbled(signature: str, w3: Web3, fn: Any) -> None:
    """``fn`` (on the attacker, whose ABI lacks the registry's errors) reverts with the
    registry's custom error ``signature``."""
    with pytest.raises(TransactionRevertedError) as info:
        transact(w3, fn)
    assert "0x" + Web3.keccak(text=signature)[:4].hex() in info.value.reason


def _attacker(env: Env) -> Any:
    return _deploy_at(env.w3, env.contracts, "ReentrantProver", env.registry.address, env.model_id)


def test_a_reentrant_prover_cannot_collect_twice(env: Env) -> None:
    w3, reg, mid = env.w3, env.registry, env.model_id
    reg.fund(mid, 10 * REWARD)
    attacker = _attacker(env)
    first_proof, first = env.update(env.genesis)
    second_proof, second = env.update(first[STEP.after])
    # on being paid for the first update, it re-enters with a second valid one
    transact(w3, attacker.functions.arm(second_proof, second, False))
    transact(w3, attacker.functions.submit(first_proof, first))
    assert call(attacker.functions.reentered()) is False
    reentrancy = Web3.keccak(text="Reentrancy()")[:4]
    assert bytes(call(attacker.functions.lastError())) == reentrancy
    assert w3.eth.get_balance(attacker.address) == REWARD
    assert reg.version(mid) == 1 and reg.model(mid).bounty == 9 * REWARD
    # the second update is still valid on its own, and is paid on its own
    transact(w3, attacker.functions.submit(second_proof, second))
    assert w3.eth.get_balance(attacker.address) == 2 * REWARD and reg.version(mid) == 2
    # submitted through a contract: the proofs are found in the transactions' input (no tracer), and the
    # first transaction's reverted inner submission is not mistaken for its accepted one
    sent = [(c.proof, list(c.instances)) for c in reg.updates_calldata(mid)]
    assert sent == [(first_proof, first), (second_proof, second)]
    assert [r.prover for r in reg.history(mid)] == [attacker.address] * 2


def test_a_prover_that_refuses_payment_is_credited_and_withdraws_once(env: Env) -> None:
    w3, reg, mid = env.w3, env.registry, env.model_id
    reg.fund(mid, 10 * REWARD)
    attacker = _attacker(env)
    first_proof, first = env.update(env.genesis)
    second_proof, second = env.update(first[STEP.after])
    # its receive() re-enters and reverts when that fails: the push payment fails
    transact(w3, attacker.functions.arm(second_proof, second, True))
    receipt = transact(w3, attacker.functions.submit(first_proof, first))
    (paid,) = reg.contract.events.RewardPaid().process_receipt(receipt)
    assert paid["args"]["deferred"] is True and paid["args"]["amount"] == REWARD
    assert w3.eth.get_balance(attacker.address) == 0
    assert reg.credit(attacker.address) == REWARD and reg.version(mid) == 1

    # withdrawing re-enters withdraw(): refused, so the withdrawal itself fails and is retried
    transact(w3, attacker.functions.arm(b"", [], True))
    bubbled("TransferFailed(address,uint256)", w3, attacker.functions.withdrawSelf())
    assert reg.credit(attacker.address) == REWARD
    transact(w3, attacker.functions.arm(b"", [], False))  # swallows the refused re-entry
    transact(w3, attacker.functions.withdrawSelf())
    assert bytes(call(attacker.functions.lastError())) == Web3.keccak(text="Reentrancy()")[:4]
    assert w3.eth.get_balance(attacker.address) == REWARD and reg.credit(attacker.address) == 0
    bubbled("NothingToWithdraw(address)", w3, attacker.functions.withdrawSelf())
    assert w3.eth.get_balance(reg.address) == 9 * REWARD


# --- property: no mutation of a valid submission is accepted ----------------------------
mutation = st.one_of(
    st.tuples(st.just("proof_byte"), st.integers(0, 1023), st.integers(1, 255)),
    st.tuples(st.just("proof_length"), st.integers(0, 2047), st.just(0)),
    st.tuples(st.just("word"), st.integers(0, STEP.length - 1), st.integers(1, 2**256 - 1)),
    st.tuples(st.just("word_plus_field"), st.integers(0, STEP.length - 1), st.just(0)),
    st.tuples(st.just("swap"), st.integers(0, STEP.length - 1), st.integers(0, STEP.length - 1)),
)


@pytest.fixture
def valid_update(env: Env) -> tuple[bytes, list[int]]:
    return env.update(env.genesis)


@pytest.mark.fuzzing
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_no_mutation_of_a_valid_update_is_accepted(
    env: Env, valid_update: tuple[bytes, list[int]], mutations: list[tuple[str, int, int]]
) -> None:
    """Nothing is ever accepted (the registry's state is unchanged, so examples share it)."""
    proof, instances = valid_update
    p, words = bytearray(proof), list(instances)
    for kind, a, b in mutations:
        if kind == "proof_byte" and p:
            p[a % len(p)] ^= b
        elif kind == "proof_length":
            p = p[:a] if a < len(p) else p + bytes(a - len(p) + 1)
        elif kind == "word":
            words[a] = (words[a] + b) % 2**256
        elif kind == "word_plus_field":  # the same field element as another uint256
            words[a] += FIELD_MODULUS if words[a] + FIELD_MODULUS < 2**256 else -FIELD_MODULUS
        elif kind == "swap":
            words[a], words[b] = words[b], words[a]
    if (bytes(p), words) == (proof, instances):
        return  # the mutations cancelled out (a swap of equal words)
    fn = env.registry.contract.functions.submitUpdate(env.model_id, bytes(p), words)
    with pytest.raises(TransactionRevertedError) as info:
        call(fn)
    assert info.value.data["error"] in {"StaleHead", "InvalidProof", "InstanceOutOfField", "ReplayedProof"}
    assert env.registry.version(env.model_id) == 0


# --- gas ---------------------------------------------------------------------------------
VERIFIER_WORK = 1500  # rounds of hashing: about 0.5 M gas per verifyProof, like a real verifier


@pytest.mark.parametrize("proof_size", [1024, 4096])
def test_gas_overhead_over_a_bare_verifier_call(env: Env, proof_size: int, record_property: Any) -> None:
    """Registry overhead = gas(submitUpdate) - gas(the same verifyProof sent straight to the
    verifier). The test verifier does the same work in both, so the difference is pure
    registry work."""
    w3, reg = env.w3, env.registry
    env.step = _deploy_at(w3, env.contracts, "AcceptingVerifier", VERIFIER_WORK)
    env.answer = _deploy_at(w3, env.contracts, "AcceptingVerifier", VERIFIER_WORK)
    fn = reg.contract.functions.registerModel(
        env.step.address, env.answer.address, shape(STEP, ANSWER), commit(env.genesis), commit(env.genesis), 0, "mlp",
        "ipfs://spec",
    )
    register = transact(w3, fn)
    (event,) = reg.contract.events.ModelRegistered().process_receipt(register)
    mid = int(event["args"]["modelId"])

    def overhead(instances: list[int], pay: bool = False) -> tuple[int, int, int]:
        proof = env.proven(env.step, instances, proof_size)
        bare = int(transact(w3, env.step.functions.verifyProof(proof, instances))["gasUsed"])
        got = reg.submit_update(mid, proof, instances, account=dev_account(PROVER))
        assert got.reward == (REWARD if pay else 0)
        return got.gas_used - bare, got.gas_used, bare

    first = step_instances(env.genesis)
    second = step_instances(first[STEP.after])
    third = step_instances(second[STEP.after])
    first_overhead, _, _ = overhead(first)  # pays the first write of the model's slots
    update_overhead, update_total, bare_update = overhead(second)
    reg.set_reward_per_update(mid, REWARD)
    reg.fund(mid, REWARD)
    paying_overhead, _, _ = overhead(third, pay=True)
    answer_proof, answer = env.answer_for(third[STEP.after])
    bare_answer = int(transact(w3, env.answer.functions.verifyProof(answer_proof, answer))["gasUsed"])
    answered = reg.submit_answer(mid, answer_proof, answer)
    gas = {
        "register_model": int(register["gasUsed"]),
        "bare_verify": bare_update,
        "update_total": update_total,
        "update_overhead": update_overhead,
        "update_overhead_first": first_overhead,
        "update_overhead_paying_reward": paying_overhead,
        "answer_overhead": answered.gas_used - bare_answer,
    }
    for key, value in gas.items():
        record_property(f"{key}_{proof_size}", value)
    print(f"\ngas, proof {proof_size} B, {P} state, {B} batch, {X} input words, K={K}: {gas}")
    assert bare_update > 300_000  # the verifier's own work dominates: no calldata floor
    # The target is 40 k; the registry measures about 42 k (see the contract's notes:
    # 22.1 k of it is the one new slot per update that makes replays impossible). This bound
    # catches regressions; gas is deterministic, so it is not a flaky timing assertion.
    assert gas["update_overhead"] <= 44_000, gas
