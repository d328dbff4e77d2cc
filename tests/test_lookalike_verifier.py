"""A look-alike verifier adapter is refused by the registry and by the audit.

The attack: a ``VkaVerifier`` adapter reads its verifying-key artifact (VKA) from storage. Creation
code other than the adapter's own constructor can return the very runtime code of an audited
adapter (same bytes, same ``extcodehash``) while storing another circuit's VKA, which the shared
reusable verifier accepts (``registerVka`` is open). Here: two real circuits, real proofs, ezkl's
real reusable verifier on a real anvil, and a look-alike built by hand-written creation code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from eth_utils import keccak
from web3 import Web3

from zkgrad.chain.deployments import (
    compiled_verifier,
    deploy_verifier,
    verifier_mismatch,
    verify_onchain,
)
from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.chain.terms import Terms
from zkgrad.circuits.artifacts import Circuit
from zkgrad.circuits.compile import compile_model
from zkgrad.circuits.export import export_module, sample_json
from zkgrad.errors import TransactionRevertedError
from zkgrad.layout import AnswerLayout, StepLayout, commit
from zkgrad.node import call, contract_at, get_code, transact
from zkgrad.prover.prove import prove
from zkgrad.verifier.solidity import build_verifier

pytestmark = [pytest.mark.proof, pytest.mark.chain]


def _reusable(folder: Path, seed: int) -> tuple[Circuit, Path]:
    """A 4-8-3 MLP (weights from ``seed``) compiled with a reusable verifier, and a proof of it."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = torch.randn(1, 4)
    folder.mkdir(parents=True)
    export_module(net, x, folder / "net.onnx")
    (folder / "input.json").write_text(json.dumps(sample_json(x)))
    circuit, _ = compile_model(folder / "net.onnx", folder / "input.json", out=folder / "circuit",
                               verifier=lambda c, srs: build_verifier(c, srs, reusable=True))
    prove(circuit, folder / "input.json", out=folder / "proof.json")
    return circuit, folder / "proof.json"


def _lookalike_initcode(runtime: bytes, storage: dict[int, bytes]) -> bytes:
    """Creation code that writes ``storage`` (slot -> 32-byte word), then returns ``runtime``."""
    code = b"".join(b"\x7f" + value + b"\x7f" + slot.to_bytes(32, "big") + b"\x55" for slot, value in storage.items())
    tail_at = len(code) + 13  # the copy-and-return below is 13 bytes
    n = len(runtime).to_bytes(2, "big")
    code += b"\x61" + n + b"\x80" + b"\x61" + tail_at.to_bytes(2, "big") + b"\x60\x00\x39\x60\x00\xf3"
    return code + runtime


def _send_initcode(w3: Web3, initcode: bytes) -> str:
    from zkgrad.node import dev_account

    me = dev_account(0)
    tx = {"from": me.address, "data": "0x" + initcode.hex(), "nonce": w3.eth.get_transaction_count(me.address),
          "chainId": w3.eth.chain_id, "gas": 3_000_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(me.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def test_a_lookalike_adapter_is_refused_by_the_registry_and_the_audit(w3: Web3, tmp_path: Path) -> None:
    audited, audited_proof = _reusable(tmp_path / "audited", seed=7)
    other, other_proof = _reusable(tmp_path / "other", seed=8)
    a = deploy_verifier(w3, audited)
    shared = a.parts["reusable_verifier"]["address"]
    rv = contract_at(w3, shared, compiled_verifier(audited).abi)
    other_vka = [bytes.fromhex(w[2:]) for w in other.verifier()["vka"]]
    transact(w3, rv.functions.registerVka(other_vka))  # open to anyone
    b = deploy_verifier(w3, other, reusable_verifier=shared)  # an honest adapter of the other circuit

    # the look-alike: the audited adapter's runtime code over the other adapter's storage
    slots = {0: w3.eth.get_storage_at(b.address, 0)}
    base = int.from_bytes(keccak((0).to_bytes(32, "big")), "big")
    for i in range(int.from_bytes(slots[0], "big")):
        slots[base + i] = w3.eth.get_storage_at(b.address, base + i)
    fake = _send_initcode(w3, _lookalike_initcode(get_code(w3, a.address), {k: bytes(v) for k, v in slots.items()}))
    assert get_code(w3, fake) == get_code(w3, a.address)  # byte for byte: same extcodehash
    adapter_abi = audited.verifier()["adapter"]["abi"]
    assert call(contract_at(w3, fake, adapter_abi).functions.vka()) == other_vka  # it holds the other VKA

    from zkgrad.prover.proof import Proof

    mine, theirs = Proof.load(audited_proof), Proof.load(other_proof)
    assert verify_onchain(w3, a.address, mine)[0] and verify_onchain(w3, b.address, theirs)[0]
    mismatch = keccak(text="VkaMismatch(bytes32,bytes32)")[:4].hex()
    for proof in (mine, theirs):  # it checks neither circuit: it refuses everything
        verdict, _ = verify_onchain(w3, fake, proof)
        assert not verdict and f"0x{mismatch}" in verdict.reason, verdict.reason

    # the audit's check: the honest adapter is the audited circuit's, the look-alike is not
    assert verifier_mismatch(w3, audited, a.address) is None
    why = verifier_mismatch(w3, audited, fake)
    assert why is not None and "storage" in why

    # the registry: a model whose answer verifier is the look-alike accepts no answer
    reg = Registry(w3, deploy_registry(w3))
    words = list(theirs.instances)  # [input (4) | outputs (3)]: weights = the first word
    step, answer = StepLayout(state_words=1, batch_words=1, weights_words=1), AnswerLayout(1, 3, 3)

    def model(answer_verifier: str) -> int:
        terms = Terms(a.address, answer_verifier, keccak(b"root"), 1, srs=keccak(b"srs"))
        return reg.register_model(terms, step, answer, commit(words[:1]), spec=b'{"model": "lookalike"}')

    with pytest.raises(TransactionRevertedError) as refused:
        reg.submit_answer(model(fake), theirs.proof_bytes, words)
    assert refused.value.data["error"] == "InvalidProof"
    assert reg.submit_answer(model(b.address), theirs.proof_bytes, words).version == 0  # the honest one
