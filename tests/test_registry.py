"""ZkgradRegistry on a real anvil: the contract's own rules, through zkgrad.chain.registry.

The verifiers here are test-only contracts (tests/contracts/TestVerifiers.sol): AcceptingVerifier
accepts exactly the one proof a test registered for a list of instances, RevertingVerifier
reverts on everything. They isolate the registry's logic (heads, replays, the batch schedule,
layout, bounty, evaluations) from proving; each model's dataset is made up (helpers.StubDataset).
The end-to-end tests with real ezkl proofs and verifiers live in tests/test_e2e_registry.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.logs import DISCARD

from zkgrad.chain.records import AcceptedUpdate
from zkgrad.chain.registry import Registry, deploy_registry, shape
from zkgrad.chain.terms import Terms
from zkgrad.errors import InputError, TransactionRevertedError
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout, claim_word, commit
from zkgrad.node import account as default_account
from zkgrad.node import call, chain_id, contract_at, deploy, dev_account, transact

from .helpers import StubDataset, compile_test_contracts

pytestmark = pytest.mark.chain

P, B, X, K = 3, 2, 2, 2  # state (= weights), batch and input words; outputs
STEP, ANSWER = StepLayout(state_words=P, batch_words=B, weights_words=P), AnswerLayout(P, X, K)
N_BATCHES = 2  # the default dataset: updates use batches 0, 1, 0, 1, ...
REWARD = 10**17
SPEC = b'{"model": "stub", "note": "published with the registration"}'
HELD_OUT, UNIT = 120, 1000  # held-out samples; an evaluation's count word is correct * UNIT
REGISTRANT, PROVER, STRANGER = 0, 1, 2


def felts(n: int) -> list[int]:
    return [secrets.randbelow(FIELD_MODULUS) for _ in range(n)]


@dataclass
class Env:
    w3: Web3
    registry: Registry
    step: Any  # AcceptingVerifier (training step)
    answer: Any  # AcceptingVerifier (inference)
    genesis: list[int]  # the genesis state's words
    contracts: dict[str, Any]
    model_id: int = 0
    data: dict[int, StubDataset] = field(default_factory=dict)  # each registered model's dataset

    def terms(self, data: StubDataset, **overrides: Any) -> Terms:
        """The default terms over ``data``: this env's verifiers, REWARD per update, no evaluation."""
        return data.terms(**{"step_verifier": self.step.address, "answer_verifier": self.answer.address,
                             "reward_per_update": REWARD, **overrides})

    def register(self, step: StepLayout = STEP, answer: AnswerLayout = ANSWER, genesis: bytes | None = None, *,
                 n_batches: int = N_BATCHES, genesis_weights: bytes | None = None, name: str = "",
                 account: LocalAccount | None = None, **terms: Any) -> int:
        """Register a model on a fresh stub dataset (kept in ``data``) under ``terms`` overrides."""
        data = StubDataset(n_batches, step.batch_words)
        mid = self.registry.register_model(self.terms(data, **terms), step, answer,
                                           commit(self.genesis) if genesis is None else genesis,
                                           spec=SPEC, genesis_weights=genesis_weights, name=name, account=account)
        self.data[mid] = data
        return mid

    def proven(self, verifier: Any, instances: Sequence[int], size: int = 1024) -> bytes:
        """A fresh proof that ``verifier`` will accept for ``instances`` (and nothing else)."""
        proof = secrets.token_bytes(size)
        transact(self.w3, verifier.functions.accept(proof, list(instances)))
        return proof

    def instances(self, before: Sequence[int], after: Sequence[int] | None = None, *, model_id: int | None = None,
                  version: int | None = None, batch_at: int | None = None,
                  account: LocalAccount | str | None = None) -> list[int]:
        """[before | batch | claim | after | loss] of the update that starts at ``version`` (default:
        the model's current one): the batch scheduled at ``batch_at`` (default: ``version``), the
        claim naming ``account`` (default: the signer ``submit`` uses), a fresh loss and (unless
        given) after."""
        mid = self.model_id if model_id is None else model_id
        v = self.registry.version(mid) if version is None else version
        claim = claim_word(chain_id(self.w3), self.registry.address, mid, v + 1, self.address(account))
        batch = self.data[mid].batch(v if batch_at is None else batch_at)
        return [*before, *batch, claim, *(after if after is not None else felts(len(before))), *felts(1)]

    def update(self, before: Sequence[int], after: Sequence[int] | None = None, *, model_id: int | None = None,
               version: int | None = None, batch_at: int | None = None,
               account: LocalAccount | str | None = None) -> tuple[bytes, list[int]]:
        instances = self.instances(before, after, model_id=model_id, version=version, batch_at=batch_at,
                                   account=account)
        return self.proven(self.step, instances), instances

    def address(self, account: LocalAccount | str | None) -> str:
        """The submitter an account (None: the default signer) or a contract's address names."""
        if account is None:
            return default_account(self.w3).address
        return account if isinstance(account, str) else account.address

    def submit(self, proof: bytes, instances: Sequence[int], *, model_id: int | None = None,
               version: int | None = None, **kwargs: Any) -> AcceptedUpdate:
        """submit_update with the Merkle path of the batch scheduled at ``version`` (default: the
        model's current one)."""
        mid = self.model_id if model_id is None else model_id
        v = self.registry.version(mid) if version is None else version
        return self.registry.submit_update(mid, proof, instances, batch_path=self.data[mid].path(v), **kwargs)

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
    """A model "mlp" with REWARD per update, unfunded, on a dataset of N_BATCHES batches."""
    step = _deploy_at(w3, compiled, "AcceptingVerifier", 0)
    answer = _deploy_at(w3, compiled, "AcceptingVerifier", 0)
    e = Env(w3, Registry(w3, deploy_registry(w3)), step, answer, felts(P), compiled)
    e.model_id = e.register(name="mlp")
    return e


def advance(env: Env, n: int, account: LocalAccount | None = None) -> list[list[int]]:
    """n accepted updates from genesis; returns the instances of each."""
    head, done = env.genesis, []
    for _ in range(n):
        proof, instances = env.update(head, account=account)
        env.submit(proof, instances, account=account)
        done.append(instances)
        head = instances[STEP.after]
    return done


# --- the happy path ---------------------------------------------------------------------
def test_three_updates_move_the_head_and_leave_a_lineage(env: Env) -> None:
    reg, mid, data = env.registry, env.model_id, env.data[env.model_id]
    assert reg.head(mid) == commit(env.genesis) and reg.version(mid) == 0
    head, sent = env.genesis, []
    for expected in (1, 2, 3):
        proof, instances = env.update(head, account=dev_account(PROVER))
        got = env.submit(proof, instances, account=dev_account(PROVER))
        assert got.version == expected
        assert got.before == commit(head) == STEP.before_commitment(instances)
        assert got.after == STEP.after_commitment(instances) == reg.head(mid)
        assert got.batch == STEP.batch_commitment(instances) == data.tree.commitments[(expected - 1) % N_BATCHES]
        assert got.loss == instances[STEP.loss]
        assert got.prover == dev_account(PROVER).address
        assert instances[STEP.claim] == call(reg.contract.functions.claimWord(mid, expected, got.prover))
        sent.append((proof, instances))
        head = instances[STEP.after]
    assert reg.version(mid) == 3

    history = reg.history(mid)
    assert [r.version for r in history] == [1, 2, 3]
    assert [r.batch for r in history] == [commit(data.batches[i]) for i in (0, 1, 0)]  # the schedule wraps
    assert history[0].before == commit(env.genesis)
    assert all(a.after == b.before for a, b in zip(history, history[1:], strict=False))
    assert all(r.gas_used > 0 and r.prover == dev_account(PROVER).address for r in history)
    calldata = reg.updates_calldata(mid)
    assert [(c.proof, list(c.instances)) for c in calldata] == sent
    for r in history:
        rec = reg.version_record(mid, r.version)
        assert (rec.state, rec.weights) == (r.after, r.after) and reg.update_at(mid, r.version) == r
    genesis = reg.version_record(mid, 0)
    assert (genesis.state, genesis.weights) == (commit(env.genesis),) * 2
    refused("UnknownVersion", reg.version_record, mid, 4)
    info = reg.model(mid)
    assert (info.head, info.version, info.name, info.spec_digest) == (commit(head), 3, "mlp", keccak(SPEC))
    assert info.head_block == history[-1].block and info.registered_block == reg.registration(mid).block
    assert info.head_weights == info.head  # no momentum: the state is the weights
    assert (info.step_layout, info.answer_layout) == (STEP, ANSWER)
    assert info.terms == env.terms(data) and info.registrant == dev_account(REGISTRANT).address


def test_models_are_separate(env: Env) -> None:
    other = env.register(genesis=commit(felts(P)))
    assert other == env.model_id + 1
    proof, instances = env.update(env.genesis)  # built on the first model's head and dataset
    refused("StaleHead", env.submit, proof, instances, model_id=other)
    env.submit(proof, instances)
    assert env.registry.version(other) == 0 and env.registry.history(other) == []


# --- each way of cheating has its own error ---------------------------------------------
def test_stale_update_is_refused(env: Env) -> None:
    advance(env, 1)
    proof, instances = env.update(env.genesis)  # a valid step, but from the old head
    err = refused("StaleHead", env.submit, proof, instances)
    assert err.data["args"] == (env.registry.head(env.model_id), commit(env.genesis))


def test_replayed_update_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    env.submit(proof, instances)
    err = refused("StaleHead", env.submit, proof, instances, version=0)
    assert err.data["args"] == (STEP.after_commitment(instances), commit(env.genesis))
    assert env.registry.version(env.model_id) == 1


def test_a_step_back_to_known_weights_moves_the_model_on(env: Env) -> None:
    """No step can halt a model: a cycle back to genesis and a step that changes nothing are new
    versions; an old proof that starts at the same head again names an old version: refused."""
    reg, mid = env.registry, env.model_id
    (first,) = advance(env, 1)
    proof, instances = env.update(first[STEP.after], after=env.genesis)
    assert env.submit(proof, instances).version == 2 and reg.head(mid) == commit(env.genesis)
    old = env.instances(env.genesis, first[STEP.after], version=0)  # version 1's step, claim and all
    refused("WrongSubmitter", env.submit, env.proven(env.step, old), old)
    proof, instances = env.update(env.genesis, after=env.genesis)  # a step that changes nothing
    assert env.submit(proof, instances).version == 3 and reg.head(mid) == commit(env.genesis)
    assert [reg.version_record(mid, v).state for v in (0, 2, 3)] == [commit(env.genesis)] * 3
    assert [r.version for r in reg.history(mid)] == [1, 2, 3]


def test_tampered_proof_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    tampered = bytearray(proof)
    tampered[100] ^= 0x01
    refused("InvalidProof", env.submit, bytes(tampered), instances)
    refused("InvalidProof", env.submit, proof[:-1], instances)
    refused("InvalidProof", env.submit, b"", instances)
    assert env.registry.version(env.model_id) == 0


@pytest.mark.parametrize(
    ("region", "error"),
    [
        ("before", "StaleHead"),
        ("batch", "WrongBatch"),
        ("claim", "WrongSubmitter"),
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
    elif region in ("claim", "loss"):
        i = getattr(STEP, region)
        bad[i] = (bad[i] + 1) % FIELD_MODULUS
    elif region == "out_of_field":
        bad[STEP.batch.start] += FIELD_MODULUS  # the same field element, a different word
    elif region == "missing":
        bad = bad[:-1]
    else:
        bad = [*bad, 0]
    refused(error, env.submit, proof, bad)
    env.submit(proof, instances)  # the untampered one still passes


def test_a_copied_update_pays_only_its_producer(env: Env) -> None:
    """The claim names the producer: the same proof and instances sent by anyone else (a front-runner
    who copied them from a pending transaction) are refused and change nothing, also when mined; a
    claim rewritten to name the copier is not what was proven. The producer's own submission is then
    accepted and paid."""
    w3, reg, mid = env.w3, env.registry, env.model_id
    prover, copier = dev_account(PROVER), dev_account(STRANGER)
    reg.fund(mid, 2 * REWARD)
    proof, instances = env.update(env.genesis, account=prover)
    for sender in (copier, dev_account(REGISTRANT)):
        err = refused("WrongSubmitter", env.submit, proof, instances, account=sender)
        assert err.data["args"] == (sender.address, 1)
    path = env.data[mid].path(0)
    mined = _send_anyway(w3, reg.contract.functions.submitUpdate(mid, proof, instances, path, 0), copier)
    assert mined["status"] == 0
    rewritten = list(instances)
    rewritten[STEP.claim] = env.instances(env.genesis, account=copier)[STEP.claim]
    refused("InvalidProof", env.submit, proof, rewritten, account=copier)
    info = reg.model(mid)
    assert (info.head, info.version, info.bounty) == (commit(env.genesis), 0, 2 * REWARD)
    assert reg.credit(copier.address) == reg.credit(prover.address) == 0

    start = w3.eth.get_balance(prover.address)
    got = env.submit(proof, instances, account=prover)
    assert (got.version, got.prover, got.reward) == (1, prover.address, REWARD)
    assert w3.eth.get_balance(prover.address) == start + REWARD - _cost(w3.eth.get_transaction_receipt(got.tx_hash))
    assert reg.model(mid).bounty == REWARD and reg.credit(copier.address) == 0


def test_a_proof_for_one_model_is_refused_by_another_model_or_registry(env: Env) -> None:
    """A second model with the same step verifier, genesis and dataset, and the same model on another
    registry (same id, version and sender), refuse the first model's update: its claim names the model
    and the registry. An update claimed for the second model is accepted there."""
    reg, data = env.registry, env.data[env.model_id]
    twin = reg.register_model(env.terms(data), STEP, ANSWER, commit(env.genesis), spec=SPEC)
    env.data[twin] = data
    elsewhere = Registry(env.w3, deploy_registry(env.w3))
    assert elsewhere.register_model(env.terms(data), STEP, ANSWER, commit(env.genesis), spec=SPEC) == env.model_id
    proof, instances = env.update(env.genesis)
    err = refused("WrongSubmitter", env.submit, proof, instances, model_id=twin)
    assert err.data["args"] == (env.address(None), 1)
    refused("WrongSubmitter", elsewhere.submit_update, env.model_id, proof, instances, batch_path=data.path(0))
    assert reg.version(twin) == elsewhere.version(env.model_id) == 0
    assert env.submit(proof, instances).version == 1  # its own model accepts it
    proof, instances = env.update(env.genesis, model_id=twin)
    assert env.submit(proof, instances, model_id=twin).version == 1


def test_a_batch_that_is_not_the_scheduled_one_is_refused(env: Env) -> None:
    """A proof of a step on other data is valid as a proof (the stub verifier accepts it) but not
    as an update: a poisoned label word, or another batch of the dataset, is not the scheduled
    batch of version 0, with either path."""
    reg, mid, data = env.registry, env.model_id, env.data[env.model_id]
    poisoned = data.batch(0)
    poisoned[-1] = (poisoned[-1] + 1) % FIELD_MODULUS  # the batch's last word: a label
    swapped = data.batch(1)  # a real batch of the dataset, scheduled for version 1
    for words in (poisoned, swapped):
        instances = env.instances(env.genesis)
        instances[STEP.batch] = words
        proof = env.proven(env.step, instances)
        assert call(env.step.functions.verifyProof(proof, instances)) is True
        for path in (data.path(0), data.path(1)):
            err = refused("WrongBatch", reg.submit_update, mid, proof, instances, batch_path=path)
            assert err.data["args"] == (0, 0, commit(words))
    refused("WrongBatch", reg.submit_update, mid, *env.update(env.genesis), batch_path=[])  # no path
    assert reg.version(mid) == 0


def test_the_right_batch_at_the_wrong_version_is_refused_and_the_schedule_wraps(env: Env) -> None:
    reg, mid, data = env.registry, env.model_id, env.data[env.model_id]
    (first,) = advance(env, 1)
    head = first[STEP.after]
    proof, instances = env.update(head, batch_at=0)  # batch 0 again, at version 1 (n_batches = 2)
    for path in (data.path(0), data.path(1)):
        err = refused("WrongBatch", reg.submit_update, mid, proof, instances, batch_path=path)
        assert err.data["args"] == (1, 1, commit(data.batch(0)))
    # the scheduled batches are accepted: 1 at version 1, then 0 again at version 2 = n_batches
    for version in (1, 2):
        proof, instances = env.update(head)
        assert instances[STEP.batch] == data.batch(version) == data.batches[version % N_BATCHES]
        got = env.submit(proof, instances)
        assert (got.version, got.batch) == (version + 1, commit(data.batches[version % N_BATCHES]))
        head = instances[STEP.after]
    assert [r.batch for r in reg.history(mid)] == [commit(data.batches[i]) for i in (0, 1, 0)]


@pytest.mark.parametrize("name", ["RevertingVerifier", "GarbageVerifier"])
def test_a_verifier_that_reverts_or_returns_garbage_refuses(env: Env, name: str) -> None:
    bad = _deploy_at(env.w3, env.contracts, name)
    mid = env.register(step_verifier=bad.address, answer_verifier=bad.address, eval_verifier=bad.address,
                       held_out=commit([1]), held_out_size=HELD_OUT, eval_unit=UNIT)
    refused("InvalidProof", env.submit, b"\x01" * 64, env.instances(env.genesis, model_id=mid), model_id=mid)
    refused("InvalidProof", env.registry.submit_answer, mid, b"\x01" * 64, [*env.genesis, *felts(X + K)])
    refused("InvalidProof", env.registry.submit_evaluation, mid, b"\x01" * 64, [*env.genesis, UNIT])


def test_unknown_model_is_refused(env: Env) -> None:
    proof, instances = env.update(env.genesis)
    reg = env.registry
    for fn, args, kwargs in [
        (reg.submit_update, (99, proof, instances), {"batch_path": env.data[env.model_id].path(0)}),
        (reg.submit_answer, (99, proof, instances), {}),
        (reg.submit_evaluation, (99, proof, instances), {}),
        (reg.fund, (99, 1), {}),
        (reg.head, (99,), {}),
        (reg.model, (99,), {}),
        (reg.registration, (99,), {}),
        (reg.submit_update, (0, proof, instances), {"batch_path": []}),
    ]:
        err = refused("UnknownModel", fn, *args, **kwargs)
        assert err.data["args"] == (args[0],)


# --- registration -------------------------------------------------------------------------
def test_registration_checks_its_arguments(env: Env) -> None:
    eoa, data = dev_account(STRANGER).address, env.data[env.model_id]
    for terms, who in [
        (env.terms(data, step_verifier=eoa), eoa),
        (env.terms(data, answer_verifier=eoa), eoa),
        (env.terms(data, eval_verifier=eoa, held_out=commit([1]), held_out_size=HELD_OUT, eval_unit=UNIT), eoa),
    ]:
        err = refused("NotAContract", env.registry.register_model, terms, STEP, ANSWER, commit(env.genesis), spec=SPEC)
        assert err.data["args"] == (who,)
    with pytest.raises(InputError, match="reward"):  # a uint128: too large to encode
        env.terms(data, reward_per_update=2**128)
    with pytest.raises(InputError, match="spec"):  # refused before sending (the contract refuses too: below)
        env.registry.register_model(env.terms(data), STEP, ANSWER, commit(env.genesis), spec=b"")
    assert env.registry.model_count() == env.model_id


SHAPE = shape(STEP, ANSWER)  # (state, weights, batch, input, outputs) words


def _register_raw(env: Env, terms: Terms, words: tuple[int, ...] = SHAPE, spec: bytes = SPEC) -> Any:
    """registerModel sent as is, past the client's own checks."""
    g = commit(env.genesis)
    return transact(env.w3, env.registry.contract.functions.registerModel(terms.to_abi(), words, g, g, "", spec))


HELD = {"held_out": commit([1]), "held_out_size": HELD_OUT, "eval_unit": UNIT}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dataset_root": bytes(32)}, "InvalidDataset"),
        ({"n_batches": 0}, "InvalidDataset"),
        ({"n_batches": 2**24}, "InvalidDataset"),
        ({"eval": {**HELD, "held_out": bytes(32)}}, "IncompleteEvaluation"),
        ({"eval": {**HELD, "held_out_size": 0}}, "IncompleteEvaluation"),
        ({"eval": {**HELD, "eval_unit": 0}}, "IncompleteEvaluation"),
        ({"spec": b""}, "UnpublishedSpec"),
    ],
    ids=["no_root", "no_batches", "too_many_batches", "eval_no_held_out", "eval_no_size", "eval_no_unit",
         "no_spec"],
)
def test_registration_refuses_incomplete_terms(env: Env, change: dict[str, Any], reason: str) -> None:
    """A model without committed data, an evaluation without a committed held-out set, or
    terms without their published spec, is refused with its own error; the same call completed registers."""
    ok = env.terms(env.data[env.model_id])
    evaluator = {"eval_verifier": _deploy_at(env.w3, env.contracts, "AcceptingVerifier", 0).address}
    fields = {k: v for k, v in change.items() if k not in ("eval", "spec")}
    if "eval" in change:
        fields |= evaluator | change["eval"]
    spec = change.get("spec", SPEC)
    before = env.registry.model_count()
    with pytest.raises(TransactionRevertedError) as info:
        _register_raw(env, replace(ok, **fields), spec=spec)
    assert info.value.data["error"] == reason, info.value.reason
    assert env.registry.model_count() == before
    _register_raw(env, replace(ok, **evaluator, **HELD) if "eval" in change else ok)
    assert env.registry.model_count() == before + 1


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (1, P + 1)],
    ids=["no_state", "no_weights", "no_batch", "no_input", "no_outputs", "weights_over_state"],
)
def test_registration_refuses_an_impossible_shape(env: Env, field: int, value: int) -> None:
    """Shapes StepLayout/AnswerLayout refuse in Python are refused by the contract too."""
    terms = env.terms(env.data[env.model_id])
    bad = tuple(value if i == field else v for i, v in enumerate(SHAPE))
    before = env.registry.model_count()
    with pytest.raises(TransactionRevertedError) as info:
        _register_raw(env, terms, bad)
    assert info.value.data["error"] == "InvalidShape", info.value.reason
    assert tuple(info.value.data["args"][0]) == bad
    assert env.registry.model_count() == before
    _register_raw(env, terms)  # the same call with the valid shape registers
    assert env.registry.model_count() == before + 1


def test_registration_checks_genesis_weights_against_momentum(env: Env) -> None:
    """Without momentum the weights are the state: genesisWeights must be genesis. With momentum
    (fewer weight than state words) they are a different commitment: it must differ."""
    reg, g = env.registry, commit(env.genesis)
    terms = env.terms(env.data[env.model_id])
    other = commit(env.genesis[:2])
    err = refused("GenesisMismatch", reg.register_model, terms, STEP, ANSWER, g, spec=SPEC, genesis_weights=other)
    assert err.data["args"] == (g, other)
    momentum = StepLayout(state_words=2 * P, batch_words=B, weights_words=P)
    state = commit([*env.genesis, *felts(P)])
    for same in (None, state):  # None: genesis_weights defaults to genesis
        err = refused("GenesisMismatch", reg.register_model, terms, momentum, ANSWER, state, spec=SPEC,
                      genesis_weights=same)
        assert err.data["args"] == (state, state)
    assert reg.model_count() == env.model_id
    reg.register_model(terms, STEP, ANSWER, g, spec=SPEC, genesis_weights=g)  # equal, without momentum: fine
    reg.register_model(terms, momentum, ANSWER, state, spec=SPEC, genesis_weights=other)  # different, with it: fine
    assert reg.model_count() == env.model_id + 2


def test_the_published_spec_and_the_verifiers_code_are_on_record(env: Env) -> None:
    """The spec's digest is stored and its bytes are in the registration event; the verifiers'
    code hashes are those of the code deployed at registration."""
    reg, stranger = env.registry, dev_account(STRANGER)
    evaluator = _deploy_at(env.w3, env.contracts, "AcceptingVerifier", 7)
    spec = SPEC + bytes(range(256)) * 3  # any bytes, longer than a word
    terms = env.terms(env.data[env.model_id], eval_verifier=evaluator.address, **HELD)
    mid = reg.register_model(terms, STEP, ANSWER, commit(env.genesis), spec=spec, name="evaluated", account=stranger)
    info, got = reg.model(mid), reg.registration(mid)
    assert info.spec_digest == keccak(spec) and got.spec == spec
    assert (got.model_id, got.registrant, got.terms) == (mid, stranger.address, terms)
    assert info.registrant == stranger.address and info.terms == terms and info.name == "evaluated"
    code = [keccak(bytes(env.w3.eth.get_code(a))) for a in (env.step.address, env.answer.address, evaluator.address)]
    assert info.code_hashes == tuple(code) and len(set(code)) == 2  # the evaluator's immutable differs
    # no evaluation verifier: address 0's code hash, which is 0 while it has no account, keccak("") once it has
    # (anvil pays it fees, as mainnet's holds ether)
    assert reg.model(env.model_id).code_hashes[2] in (bytes(32), keccak(b""))
    assert reg.registration(env.model_id).spec == SPEC and reg.registration(env.model_id).terms == reg.model(
        env.model_id).terms


def test_the_terms_never_change(env: Env) -> None:
    """Nothing can write a model's terms after registration: the only functions that change state
    are registering, funding, submitting and withdrawing; after funding, updates and an answer the
    model's terms and record are what was registered."""
    abi = env.registry.contract.abi
    writers = {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
    assert writers == {"registerModel", "fund", "refund", "submitUpdate", "submitAnswer", "submitEvaluation",
                       "withdraw"}
    reg, mid = env.registry, env.model_id
    registered = reg.model(mid)
    reg.fund(mid, 3 * REWARD, account=dev_account(STRANGER))
    steps = advance(env, 2, account=dev_account(PROVER))
    env.registry.submit_answer(mid, *env.answer_for(steps[-1][STEP.after]))
    info = reg.model(mid)
    assert (info.terms, info.registrant, info.spec_digest, info.code_hashes, info.genesis, info.name) == (
        registered.terms, registered.registrant, registered.spec_digest, registered.code_hashes, registered.genesis,
        registered.name)
    assert info.reward_per_update == REWARD and info.step_verifier == env.step.address
    assert (info.version, info.bounty) == (2, REWARD)
    assert reg.registration(mid).terms == info.terms


# --- answers ----------------------------------------------------------------------------
def test_answer_at_the_head_is_recorded(env: Env) -> None:
    (first,) = advance(env, 1)
    weights = first[STEP.after]
    proof, instances = env.answer_for(weights)
    got = env.registry.submit_answer(env.model_id, proof, instances, account=dev_account(PROVER))
    assert (got.answer_id, got.version, got.submitter) == (0, 1, dev_account(PROVER).address)
    assert got.input == commit(instances[ANSWER.input]) == ANSWER.input_commitment(instances)
    assert list(got.outputs) == instances[ANSWER.outputs]
    stored = env.registry.get_answer(env.model_id, 0)
    assert stored == (dev_account(PROVER).address, 1, got.block, got.input, got.outputs)
    assert env.registry.answers(env.model_id) == [got]
    found, answer_id = call(env.registry.contract.functions.findAnswer(env.model_id, 1, instances))
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
    mid = env.register(step, answer, commit(genesis), genesis_weights=commit(genesis[:W]))
    info = reg.model(mid)
    assert (info.step_layout, info.answer_layout) == (step, answer)
    assert (info.genesis, info.head, info.head_weights) == (commit(genesis), commit(genesis), commit(genesis[:W]))
    proof, instances = env.answer_for(genesis[:W])
    assert reg.submit_answer(mid, proof, instances).version == 0  # genesis' weights, at HEAD

    proof, instances = env.update(genesis, model_id=mid)
    after = instances[step.after]
    got = env.submit(proof, instances, model_id=mid)
    assert (got.version, got.before, got.after) == (1, commit(genesis), commit(after))
    info = reg.model(mid)
    assert info.head == commit(after) == reg.head(mid) and info.version == 1
    assert info.head_weights == commit(after[:W]) == step.after_weights_commitment(instances) != info.head
    rec = reg.version_record(mid, 1)
    assert (rec.state, rec.weights) == (info.head, info.head_weights)
    assert reg.version_record(mid, 0).weights == commit(genesis[:W])
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

    # a step to weights the model already had is a new version, whatever its velocities; an answer
    # from those weights is recorded for the version it names
    state = after
    for v, weights in ((2, genesis[:W]), (3, after[:W])):
        proof, instances = env.update(state, after=[*weights, *felts(S - W)], model_id=mid)
        assert env.submit(proof, instances, model_id=mid).version == v
        state = instances[step.after]
        assert reg.model(mid).head_weights == commit(weights) == reg.version_record(mid, v).weights
    proof, instances = env.answer_for(after[:W])
    assert reg.submit_answer(mid, proof, instances).version == 3
    assert reg.version(mid) == 3 and len(reg.answers(mid)) == 5


# --- evaluations --------------------------------------------------------------------------
def _evaluated(env: Env) -> tuple[int, Any]:
    """A model with an evaluation verifier (an AcceptingVerifier) and a held-out commitment."""
    evaluator = _deploy_at(env.w3, env.contracts, "AcceptingVerifier", 0)
    return env.register(eval_verifier=evaluator.address, **HELD), evaluator


def test_an_evaluation_of_the_head_is_recorded_once_per_version(env: Env) -> None:
    reg, prover = env.registry, dev_account(PROVER)
    mid, evaluator = _evaluated(env)

    def evaluation(weights: Sequence[int], word: int) -> tuple[bytes, list[int]]:
        instances = [*weights, word]
        return env.proven(evaluator, instances), instances

    first = reg.submit_evaluation(mid, *evaluation(env.genesis, 57 * UNIT), account=prover)
    assert (first.model_id, first.version, first.correct, first.total, first.submitter) == (
        mid, 0, 57, HELD_OUT, prover.address)
    assert call(reg.contract.functions.getEvaluation(mid, 0)) == (prover.address, 57, first.block)
    assert call(reg.contract.functions.getEvaluation(mid, 1))[2] == 0  # none yet
    err = refused("AlreadyEvaluated", reg.submit_evaluation, mid, *evaluation(env.genesis, 58 * UNIT))
    assert err.data["args"] == (mid, 0)

    proof, instances = env.update(env.genesis, model_id=mid)
    env.submit(proof, instances, model_id=mid)
    head = instances[STEP.after]
    for weights in (env.genesis, felts(P)):  # past weights, weights the model never had
        err = refused("WrongWeights", reg.submit_evaluation, mid, *evaluation(weights, 60 * UNIT))
        assert err.data["args"] == (1, commit(weights))
    for word in (57 * UNIT + 1, (HELD_OUT + 1) * UNIT, 1):  # not a multiple of the unit, or more than all
        err = refused("InvalidCount", reg.submit_evaluation, mid, *evaluation(head, word))
        assert err.data["args"] == (word,)
    proof, instances = evaluation(head, 60 * UNIT)
    refused("InvalidProof", reg.submit_evaluation, mid, proof, [*head, 61 * UNIT])  # a count it did not prove
    refused("MalformedInstances", reg.submit_evaluation, mid, proof, instances[:-1])
    refused("InstanceOutOfField", reg.submit_evaluation, mid, proof, [*head, 60 * UNIT + FIELD_MODULUS])

    second = reg.submit_evaluation(mid, *evaluation(head, HELD_OUT * UNIT))  # all correct: the largest count
    assert (second.version, second.correct, second.accuracy) == (1, HELD_OUT, 1.0)
    assert reg.evaluations(mid) == [first, second] and first.accuracy == 57 / HELD_OUT
    err = refused("NoEvaluation", reg.submit_evaluation, env.model_id, proof, instances)
    assert err.data["args"] == (env.model_id,)


def test_a_momentum_model_is_evaluated_on_its_weights(env: Env) -> None:
    reg, S, W = env.registry, 5, 3
    evaluator = _deploy_at(env.w3, env.contracts, "AcceptingVerifier", 0)
    genesis = felts(S)
    mid = env.register(StepLayout(state_words=S, batch_words=B, weights_words=W), AnswerLayout(W, X, K),
                       commit(genesis), genesis_weights=commit(genesis[:W]), eval_verifier=evaluator.address, **HELD)
    whole = [*genesis, 3 * UNIT]
    refused("MalformedInstances", reg.submit_evaluation, mid, env.proven(evaluator, whole), whole)
    weights = [*genesis[:W], 3 * UNIT]
    assert reg.submit_evaluation(mid, env.proven(evaluator, weights), weights).correct == 3


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


def _skipped(env: Env, got: AcceptedUpdate) -> list[tuple[Any, ...]]:
    """The RewardSkipped events of an accepted update, as (modelId, prover, reward, bounty)."""
    receipt = env.w3.eth.get_transaction_receipt(got.tx_hash)
    return [tuple(e["args"].values()) for e in env.registry.contract.events.RewardSkipped().process_receipt(
        receipt, errors=DISCARD)]


def test_bounty_pays_once_per_accepted_update_and_never_for_a_rejected_one(env: Env) -> None:
    w3, reg, mid, prover = env.w3, env.registry, env.model_id, dev_account(PROVER)
    reg.fund(mid, 3 * REWARD + REWARD // 2, account=dev_account(STRANGER))
    assert reg.model(mid).bounty == 3 * REWARD + REWARD // 2

    proof, instances = env.update(env.genesis, account=prover)
    start = w3.eth.get_balance(prover.address)
    got = env.submit(proof, instances, account=prover)
    receipt = w3.eth.get_transaction_receipt(got.tx_hash)
    assert got.reward == REWARD and _skipped(env, got) == []
    assert w3.eth.get_balance(prover.address) == start + REWARD - _cost(receipt)
    assert reg.model(mid).bounty == 2 * REWARD + REWARD // 2

    # rejected updates mined on chain (replay, stale, tampered, wrong batch): gas is spent, nothing is paid
    stale_proof, stale = env.update(env.genesis, account=prover)
    fresh_proof, fresh = env.update(instances[STEP.after], account=prover)
    bad = bytearray(fresh_proof)
    bad[0] ^= 1
    path = env.data[mid].path(1)
    for args in [(proof, instances, path), (stale_proof, stale, path), (bytes(bad), fresh, path),
                 (fresh_proof, fresh, env.data[mid].path(0))]:
        before = w3.eth.get_balance(prover.address)
        failed = _send_anyway(w3, reg.contract.functions.submitUpdate(mid, *args, 0), prover)
        assert failed["status"] == 0
        assert w3.eth.get_balance(prover.address) == before - _cost(failed)
    assert reg.model(mid).bounty == 2 * REWARD + REWARD // 2 and reg.version(mid) == 1

    # two more are paid; the fourth finds half a reward left and is accepted unpaid
    head = instances[STEP.after]
    for paid in (REWARD, REWARD, 0):
        proof, instances = env.update(head, account=prover)
        before = w3.eth.get_balance(prover.address)
        got = env.submit(proof, instances, account=prover)
        assert got.reward == paid
        assert w3.eth.get_balance(prover.address) == before + paid - _cost(
            w3.eth.get_transaction_receipt(got.tx_hash)
        )
        head = instances[STEP.after]
    assert _skipped(env, got) == [(mid, prover.address, REWARD, REWARD // 2)]
    assert reg.model(mid).bounty == REWARD // 2 and reg.version(mid) == 4
    assert w3.eth.get_balance(reg.address) == REWARD // 2
    assert [r.reward for r in reg.history(mid)] == [REWARD, REWARD, REWARD, 0]  # the lineage says what each earned


def test_an_update_that_would_pay_less_than_asked_is_refused(env: Env) -> None:
    """min_reward protects a prover from spending a proof on an update that pays less than it
    expected (an empty bounty, or one another update just drained); 0 accepts an unpaid update."""
    reg, mid, prover = env.registry, env.model_id, dev_account(PROVER)
    proof, instances = env.update(env.genesis, account=prover)
    err = refused("RewardBelowMinimum", env.submit, proof, instances, min_reward=1, account=prover)
    assert err.data["args"] == (0, 1)  # unfunded: it would pay nothing
    got = env.submit(proof, instances, min_reward=0, account=prover)
    assert got.reward == 0 and _skipped(env, got) == [(mid, prover.address, REWARD, 0)]

    reg.fund(mid, REWARD + REWARD // 2)
    proof, instances = env.update(instances[STEP.after], account=prover)
    err = refused("RewardBelowMinimum", env.submit, proof, instances, min_reward=REWARD + 1, account=prover)
    assert err.data["args"] == (REWARD, REWARD + 1)
    got = env.submit(proof, instances, min_reward=REWARD, account=prover)
    assert got.reward == REWARD and _skipped(env, got) == []
    proof, instances = env.update(instances[STEP.after], account=prover)
    err = refused("RewardBelowMinimum", env.submit, proof, instances, min_reward=REWARD, account=prover)
    assert err.data["args"] == (0, REWARD)  # half a reward left pays nothing
    assert reg.version(mid) == 2 and reg.model(mid).bounty == REWARD // 2

    free = env.register(reward_per_update=0)  # no reward at all: nothing is skipped
    proof, instances = env.update(env.genesis, model_id=free)
    got = env.submit(proof, instances, model_id=free)
    assert got.reward == 0 and _skipped(env, got) == []
    proof, instances = env.update(instances[STEP.after], model_id=free)
    err = refused("RewardBelowMinimum", env.submit, proof, instances, model_id=free, min_reward=1)
    assert err.data["args"] == (0, 1)


def bubbled(signature: str, w3: Web3, fn: Any) -> None:
    """``fn`` (on the attacker, whose ABI lacks the registry's errors) reverts with the
    registry's custom error ``signature``."""
    with pytest.raises(TransactionRevertedError) as info:
        transact(w3, fn)
    assert "0x" + Web3.keccak(text=signature)[:4].hex() in info.value.reason


def _attacker(env: Env) -> Any:
    return _deploy_at(env.w3, env.contracts, "ReentrantProver", env.registry.address, env.model_id)


REENTRANCY = Web3.keccak(text="ReentrancyGuardReentrantCall()")[:4]  # OpenZeppelin's ReentrancyGuardTransient


def test_a_reentrant_prover_cannot_collect_twice(env: Env) -> None:
    w3, reg, mid, data = env.w3, env.registry, env.model_id, env.data[env.model_id]
    reg.fund(mid, 10 * REWARD)
    attacker = _attacker(env)
    first_proof, first = env.update(env.genesis, account=attacker.address)
    second_proof, second = env.update(first[STEP.after], version=1, account=attacker.address)
    # on being paid for the first update, it re-enters with a second valid one
    transact(w3, attacker.functions.arm(second_proof, second, data.path(1), False))
    transact(w3, attacker.functions.submit(first_proof, first, data.path(0)))
    assert call(attacker.functions.reentered()) is False
    assert bytes(call(attacker.functions.lastError())) == REENTRANCY
    assert w3.eth.get_balance(attacker.address) == REWARD
    assert reg.version(mid) == 1 and reg.model(mid).bounty == 9 * REWARD
    # the second update is still valid on its own, and is paid on its own
    transact(w3, attacker.functions.submit(second_proof, second, data.path(1)))
    assert w3.eth.get_balance(attacker.address) == 2 * REWARD and reg.version(mid) == 2
    # submitted through a contract: the proofs are found in the transactions' input (no tracer), and the
    # first transaction's reverted inner submission is not mistaken for its accepted one
    sent = [(c.proof, list(c.instances)) for c in reg.updates_calldata(mid)]
    assert sent == [(first_proof, first), (second_proof, second)]
    assert [r.prover for r in reg.history(mid)] == [attacker.address] * 2


def test_a_prover_that_refuses_payment_is_credited_and_withdraws_once(env: Env) -> None:
    w3, reg, mid, data = env.w3, env.registry, env.model_id, env.data[env.model_id]
    reg.fund(mid, 10 * REWARD)
    attacker = _attacker(env)
    first_proof, first = env.update(env.genesis, account=attacker.address)
    second_proof, second = env.update(first[STEP.after], version=1, account=attacker.address)
    # its receive() re-enters and reverts when that fails: the push payment fails
    transact(w3, attacker.functions.arm(second_proof, second, data.path(1), True))
    receipt = transact(w3, attacker.functions.submit(first_proof, first, data.path(0)))
    (paid,) = reg.contract.events.RewardPaid().process_receipt(receipt)
    assert paid["args"]["deferred"] is True and paid["args"]["amount"] == REWARD
    assert w3.eth.get_balance(attacker.address) == 0
    assert reg.credit(attacker.address) == REWARD and reg.version(mid) == 1

    # withdrawing re-enters withdraw(): refused, so the withdrawal itself fails and is retried
    transact(w3, attacker.functions.arm(b"", [], [], True))
    bubbled("TransferFailed(address,uint256)", w3, attacker.functions.withdrawSelf())
    assert reg.credit(attacker.address) == REWARD
    transact(w3, attacker.functions.arm(b"", [], [], False))  # swallows the refused re-entry
    transact(w3, attacker.functions.withdrawSelf())
    assert bytes(call(attacker.functions.lastError())) == REENTRANCY
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
    st.tuples(st.just("path_byte"), st.integers(0, 31), st.integers(1, 255)),
    st.tuples(st.just("path_length"), st.integers(0, 2), st.just(0)),
)


@pytest.fixture
def valid_update(env: Env) -> tuple[bytes, list[int]]:
    """An update the default signer's submission would have accepted (estimated, not sent)."""
    proof, instances = env.update(env.genesis)
    path = env.data[env.model_id].path(0)
    env.registry.contract.functions.submitUpdate(env.model_id, proof, instances, path, 0).estimate_gas(
        {"from": env.address(None)})
    return proof, instances


@pytest.mark.fuzzing
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_no_mutation_of_a_valid_update_is_accepted(
    env: Env, valid_update: tuple[bytes, list[int]], mutations: list[tuple[str, int, int]]
) -> None:
    """Nothing is ever accepted (the registry's state is unchanged, so examples share it)."""
    proof, instances = valid_update
    path = env.data[env.model_id].path(0)
    p, words, nodes = bytearray(proof), list(instances), [bytearray(n) for n in path]
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
        elif kind == "path_byte" and nodes:
            nodes[0][a] ^= b
        elif kind == "path_length":  # a node dropped or one more
            nodes = nodes[:a] if a < len(nodes) else [*nodes, bytearray(32)]
    sent = [bytes(n) for n in nodes]
    if (bytes(p), words, sent) == (proof, instances, path):
        return  # the mutations cancelled out (a swap of equal words)
    fn = env.registry.contract.functions.submitUpdate(env.model_id, bytes(p), words, sent, 0)
    with pytest.raises(TransactionRevertedError) as info:
        transact(env.w3, fn)  # as the default signer, whom the claim names; refused at estimation, never sent
    assert info.value.data["error"] in {"StaleHead", "WrongSubmitter", "WrongBatch", "InvalidProof",
                                        "InstanceOutOfField", "ReplayedProof"}
    assert env.registry.version(env.model_id) == 0


# --- gas ---------------------------------------------------------------------------------
VERIFIER_WORK = 1500  # rounds of hashing: about 0.5 M gas per verifyProof, like a real verifier
WIDE = 64  # batches in the measured model's dataset: Merkle paths of 6 nodes
CLAIM_CHECK = """        if (instances[claimAt] != InstanceLayout.claimWord(modelId, newVersion, msg.sender)) {
            revert WrongSubmitter(msg.sender, newVersion);
        }
"""


@pytest.fixture(scope="module")
def unchecked(request: pytest.FixtureRequest) -> Any:
    """The shipped registry's source with the claim check cut out, compiled with the shipped settings:
    the check's gas is the difference of one update sent to both (kept in pytest's cache)."""
    from zkgrad import contracts
    from zkgrad.toolchain import CompiledContract, find_solc

    source = (contracts.sources_dir() / "ZkgradRegistry.sol").read_text()
    assert source.count(CLAIM_CHECK) == 1, "the claim check moved: update CLAIM_CHECK"
    sources = {p.name: p.read_text() for p in contracts.sources_dir().glob("*.sol")}
    sources["ZkgradRegistry.sol"] = source.replace(CLAIM_CHECK, "")
    cache, key = getattr(request.config, "cache", None), f"zkgrad/unchecked/{keccak(text=repr(sources)).hex()[:16]}"
    if cache is not None and (hit := cache.get(key, None)):
        return CompiledContract("ZkgradRegistry", hit["abi"], bytes.fromhex(hit["bytecode"]), hit["runtime_size"])
    c = find_solc().compile(sources, optimize_runs=contracts.OPTIMIZE_RUNS, via_ir=contracts.VIA_IR)["ZkgradRegistry"]
    if cache is not None:
        cache.set(key, {"abi": c.abi, "bytecode": c.bytecode.hex(), "runtime_size": c.runtime_size})
    return c


def calldata_gas(words: Sequence[int]) -> int:
    """Transaction data gas of ``words`` as uint256 (EIP-2028): 16 per nonzero byte, 4 per zero byte."""
    return sum(16 if b else 4 for w in words for b in int(w).to_bytes(32, "big"))


def demo_checkpoint(hidden: int) -> list[int]:
    """The public words of the demo model's genesis state (``zkgrad demo --hidden``; seed 0): real
    quantized parameters, as an update's after-state publishes them."""
    from zkgrad.model.checkpoint import genesis
    from zkgrad.train.demo import DemoConfig

    return genesis(DemoConfig(hidden=hidden).spec()).words()


@pytest.mark.parametrize("proof_size", [1024, 4096])
def test_gas_overhead_over_a_bare_verifier_call(env: Env, unchecked: Any, proof_size: int,
                                                record_property: Any) -> None:
    """Registry overhead = gas(submitUpdate) - gas(the same verifyProof sent straight to the
    verifier). The test verifier does the same work in both, so the difference is pure
    registry work. Its Merkle-path part is the difference between a dataset of WIDE batches and
    one of a single batch (whose path is empty); its claim check the difference between the same
    update on the registry and on the registry without the check. The claim word's and the
    checkpoint's calldata are in the bare call too: their gas is counted from their bytes."""
    w3, reg, prover = env.w3, env.registry, dev_account(PROVER)
    env.step = _deploy_at(w3, env.contracts, "AcceptingVerifier", VERIFIER_WORK)
    env.answer = _deploy_at(w3, env.contracts, "AcceptingVerifier", VERIFIER_WORK)
    evaluator = _deploy_at(w3, env.contracts, "AcceptingVerifier", VERIFIER_WORK)
    data = StubDataset(WIDE, B)
    wide_terms = env.terms(data, reward_per_update=0, eval_verifier=evaluator.address, **HELD)
    register = _register_raw(env, wide_terms)
    (event,) = reg.contract.events.ModelRegistered().process_receipt(register)
    wide = int(event["args"]["modelId"])
    env.data[wide] = data
    twin = Registry(w3, deploy(w3, unchecked).address)  # the same model under the same id, no claim check
    while twin.model_count() < wide:
        twin.register_model(wide_terms, STEP, ANSWER, commit(env.genesis), spec=SPEC)
    one = env.register(n_batches=1, reward_per_update=0)
    paying = env.register(n_batches=WIDE)
    reg.fund(paying, 10 * REWARD)

    def overhead(model_id: int, pay: bool = False) -> tuple[list[tuple[int, int, int, int]], list[int]]:
        """(overhead, total, bare verifyProof, total without the claim check) of two updates from
        genesis, and the last one's instances."""
        head, out = env.genesis, []
        for v in range(2):
            instances = env.instances(head, model_id=model_id, account=prover)
            proof = env.proven(env.step, instances, proof_size)
            bare = int(transact(w3, env.step.functions.verifyProof(proof, instances))["gasUsed"])
            got = env.submit(proof, instances, model_id=model_id, account=prover)
            assert got.reward == (REWARD if pay else 0)
            path = env.data[model_id].path(v)
            unchecked_gas = twin.submit_update(model_id, proof, instances, batch_path=path,
                                               account=prover).gas_used if model_id == wide else 0
            out.append((got.gas_used - bare, got.gas_used, bare, unchecked_gas))
            head = instances[STEP.after]
        return out, instances

    ((first_overhead, *_), (update_overhead, update_total, bare_update, unchecked_total)), last = overhead(wide)
    head = last[STEP.after]
    one_batch_overhead = overhead(one)[0][1][0]  # the second update: the same work as the wide model's
    paying_overhead = overhead(paying, pay=True)[0][1][0]
    answer_proof, answer = env.answer_for(head)
    bare_answer = int(transact(w3, env.answer.functions.verifyProof(answer_proof, answer))["gasUsed"])
    answered = reg.submit_answer(wide, answer_proof, answer)
    evaluation = [*head, 100 * UNIT]
    eval_proof = env.proven(evaluator, evaluation, proof_size)
    bare_eval = int(transact(w3, evaluator.functions.verifyProof(eval_proof, evaluation))["gasUsed"])
    evaluated = reg.submit_evaluation(wide, eval_proof, evaluation)
    mlp = demo_checkpoint(16)
    gas = {
        "register_model": int(register["gasUsed"]),
        "bare_verify": bare_update,
        "update_total": update_total,
        "update_overhead": update_overhead,
        "update_overhead_first": first_overhead,
        "update_overhead_one_batch": one_batch_overhead,
        "merkle_path_64_batches": update_overhead - one_batch_overhead,
        "claim_check": update_total - unchecked_total,
        "claim_calldata": calldata_gas([last[STEP.claim]]),
        "update_overhead_paying_reward": paying_overhead,
        "answer_overhead": answered.gas_used - bare_answer,
        "evaluation_overhead": evaluated.gas_used - bare_eval,
        "checkpoint_calldata_random_word": calldata_gas(head) // P,
        "checkpoint_calldata_mlp16": calldata_gas(mlp),
        "checkpoint_words_mlp16": len(mlp),
        "checkpoint_calldata_linear": calldata_gas(demo_checkpoint(0)),
    }
    for key, value in gas.items():
        record_property(f"{key}_{proof_size}", value)
    print(f"\ngas, proof {proof_size} B, {P} state, {B} batch, {X} input words, K={K}, {WIDE} batches: {gas}")
    assert bare_update > 300_000  # the verifier's own work dominates: no calldata floor
    # The target is 40 k. Versions are kept by number (no step can halt a model): one new slot
    # per version, as the state-keyed replay record before it, and the version with the head's block
    # in one model slot that the head commitment used to take. Before committed datasets the registry measured 42.3 k (22.1 k of it
    # the one new slot per update that makes replays impossible); the scheduled-batch check adds 5.8 k
    # with a one-batch dataset (the root's cold slot, the leaf hash, the reward slot read before the
    # verifier for minReward) and a 64-batch path 4.4 k more (6 nodes, 3.2 k of that calldata); the claim
    # check about 0.6 k (one keccak of 5 words), and the claim word's calldata about 0.5 k. These bounds
    # catch regressions; gas is deterministic, so they are not flaky timing assertions.
    assert 0 < gas["claim_check"] <= 1_000, gas
    assert gas["claim_calldata"] <= 32 * 16 and gas["checkpoint_words_mlp16"] == 1210, gas
    assert gas["update_overhead_one_batch"] <= 50_000, gas
    assert gas["merkle_path_64_batches"] <= 5_000, gas
    assert gas["update_overhead"] <= 55_000, gas
