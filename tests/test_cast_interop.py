"""foundry's cast against zkgrad's registry on a real anvil: the ABI zkgrad ships is what cast
calls see. A model is registered and updated through zkgrad (stub verifiers, a made-up dataset);
everything is then read back with cast and signature strings alone, no zkgrad decoding."""

from __future__ import annotations

import json
import secrets
import subprocess
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from zkgrad.chain.anvil import ChainInfo
from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout, claim_word, commit
from zkgrad.merkle import leaf_hash
from zkgrad.node import contract_at, deploy, dev_account, transact
from zkgrad.toolchain import find_cast

from .helpers import StubDataset, compile_test_contracts

pytestmark = pytest.mark.chain

TERMS = "(address,address,address,bytes32,uint32,bytes32,uint32,uint64,bytes32,uint128,uint32)"
SHAPE = "(uint32,uint32,uint32,uint32,uint32)"
MODEL_INFO = (f"(address,{TERMS},{SHAPE},bytes32,bytes32,bytes32,uint256,uint256,uint256,uint256,bytes32,bytes32,"
              "bytes32,bytes32,string)")
UPDATE_ACCEPTED = "UpdateAccepted(uint256,uint256,address,bytes32,bytes32,bytes32,uint256)"
MODEL_REGISTERED = f"ModelRegistered(uint256,address,{TERMS},{SHAPE},bytes32,bytes32,bytes32,string,bytes)"
STEP, ANSWER = StepLayout(state_words=3, batch_words=2, weights_words=3), AnswerLayout(3, 2, 2)
SPEC = b'{"model": "stub", "published": "with the registration"}'
REWARD = 10**15


def cast(*args: str) -> str:
    done = subprocess.run([str(find_cast()), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def cast_json(*args: str) -> Any:
    return json.loads(cast(*args, "--json"))


def word(value: Any) -> int:
    """A number as cast's JSON writes it (a number, or a decimal or hex string)."""
    return int(str(value), 0)


def test_cast_call_reads_the_model_count(anvil: ChainInfo, w3: Web3) -> None:
    address = deploy_registry(w3)
    assert cast("call", address, "modelCount()(uint256)", "--rpc-url", anvil.rpc_url) == "0"
    assert contract_at(w3, address, shipped(REGISTRY).abi).functions.modelCount().call() == 0
    assert cast("code", address, "--rpc-url", anvil.rpc_url) == w3.to_hex(w3.eth.get_code(address))


@pytest.fixture(scope="module")
def compiled(request: pytest.FixtureRequest) -> dict[str, Any]:
    return compile_test_contracts(getattr(request.config, "cache", None))


def test_cast_reads_a_registered_and_updated_model(anvil: ChainInfo, w3: Web3, compiled: dict[str, Any]) -> None:
    rpc = ("--rpc-url", anvil.rpc_url)
    stub = contract_at(w3, deploy(w3, compiled["AcceptingVerifier"], 0).address, compiled["AcceptingVerifier"].abi)
    registry = Registry(w3, deploy_registry(w3))
    data = StubDataset(3, STEP.batch_words)
    terms = data.terms(step_verifier=stub.address, answer_verifier=stub.address, reward_per_update=REWARD,
                       srs=keccak(b"srs"))
    genesis = [secrets.randbelow(FIELD_MODULUS) for _ in range(STEP.state_words)]
    model_id = registry.register_model(terms, STEP, ANSWER, commit(genesis), spec=SPEC, name="stub-mlp")
    after = [secrets.randbelow(FIELD_MODULUS) for _ in range(STEP.state_words)]
    prover = dev_account(1)
    claim = claim_word(w3.eth.chain_id, registry.address, model_id, 1, prover.address)
    instances = [*genesis, *data.batch(0), claim, *after, 12345]
    proof = secrets.token_bytes(96)
    transact(w3, stub.functions.accept(proof, instances))
    registry.submit_update(model_id, proof, instances, batch_path=data.tree.proof(0), account=prover)
    reg, mid = registry.address, str(model_id)

    # model(uint256): the registrant, the terms, the head and version, from the ABI tuple alone
    (info,) = cast_json("call", reg, f"model(uint256)({MODEL_INFO})", mid, *rpc)
    registrant, t, shape, genesis_c, head, head_weights, version, bounty, registered_at, head_block, spec_digest, \
        step_code, *_, name = info
    assert 0 < word(registered_at) < word(head_block)
    assert registrant == dev_account(0).address and name == "stub-mlp"
    assert Web3.to_checksum_address(t[0]) == stub.address and t[2] == "0x" + "00" * 20
    assert (t[3], word(t[4]), word(t[9])) == ("0x" + data.tree.root.hex(), 3, REWARD)
    assert t[8] == "0x" + keccak(b"srs").hex()
    assert [word(v) for v in shape] == [3, 3, 2, 2, 2]  # state, weights, batch, input, outputs
    assert (genesis_c, head, head_weights) == ("0x" + commit(genesis).hex(), "0x" + commit(after).hex(),
                                               "0x" + commit(after).hex())
    assert (word(version), word(bounty)) == (1, 0)
    assert cast("call", reg, "head(uint256)(bytes32)", mid, *rpc) == "0x" + commit(after).hex()
    assert cast("call", reg, "version(uint256)(uint256)", mid, *rpc) == "1"
    assert step_code == cast("keccak", cast("code", stub.address, *rpc))

    # the claim word a prover puts in its step: computed by the registry for any submitter
    got = cast("call", reg, "claimWord(uint256,uint256,address)(uint256)", mid, "1", prover.address, *rpc)
    assert word(got.split()[0]) == claim == instances[STEP.claim]

    # the dataset leaf the registry checks is the one zkgrad.merkle builds
    batch_c = "0x" + commit(data.batch(0)).hex()
    leaf = cast("call", reg, "batchLeaf(uint256,bytes32)(bytes32)", "0", batch_c, *rpc)
    assert leaf == "0x" + leaf_hash(0, commit(data.batch(0))).hex()

    # UpdateAccepted: topics (id, version, prover), data (before, after, batch, loss)
    (log,) = cast_json("logs", "--from-block", "0", "--address", reg, UPDATE_ACCEPTED, *rpc)
    topic0, t_id, t_version, t_prover = log["topics"]
    assert topic0 == cast("sig-event", UPDATE_ACCEPTED)
    assert (word(t_id), word(t_version)) == (model_id, 1)
    assert Web3.to_checksum_address("0x" + t_prover[-40:]) == prover.address
    before_c, after_c, batch_got, loss = cast_json("abi-decode", "f()(bytes32,bytes32,bytes32,uint256)",
                                                   log["data"])
    assert (before_c, after_c, batch_got, word(loss)) == (genesis_c, head, batch_c, 12345)

    # the spec published in ModelRegistered hashes to the on-chain specDigest
    (reg_log,) = cast_json("logs", "--from-block", "0", "--address", reg, MODEL_REGISTERED, *rpc)
    assert reg_log["topics"][0] == cast("sig-event", MODEL_REGISTERED)
    *_, digest_in_event, event_name, spec_hex = cast_json(
        "abi-decode", f"f()({TERMS},{SHAPE},bytes32,bytes32,bytes32,string,bytes)", reg_log["data"])
    assert (spec_hex, event_name) == ("0x" + SPEC.hex(), "stub-mlp")
    assert cast("keccak", spec_hex) == spec_digest == digest_in_event == "0x" + keccak(SPEC).hex()
