"""An accepted update's proof and instances are found in any transaction input that ABI-encodes
them: a direct submitUpdate call, the same call embedded in a forwarder's call, or a prover
contract's own (bytes, uint256[]) arguments; never a near miss."""

from __future__ import annotations

import secrets

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from zkgrad.chain.calldata import find_update
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.layout import FIELD_MODULUS, StepLayout

LAYOUT = StepLayout(state_words=3, batch_words=2, weights_words=3)
REGISTRY_ABI = Web3().eth.contract(abi=shipped(REGISTRY).abi)  # the shipped ABI encodes the calls


def _update(proof_len: int) -> tuple[bytes, list[int]]:
    return secrets.token_bytes(proof_len), [secrets.randbelow(FIELD_MODULUS) for _ in range(LAYOUT.length)]


def _find(data: bytes, instances: list[int]) -> tuple[bytes, tuple[int, ...]] | None:
    return find_update(data, LAYOUT, before=LAYOUT.before_commitment(instances),
                       batch=LAYOUT.batch_commitment(instances), after=LAYOUT.after_commitment(instances),
                       claim=instances[LAYOUT.claim], loss=instances[LAYOUT.loss])


def _direct(proof: bytes, instances: list[int], model_id: int = 1) -> bytes:
    """submitUpdate(modelId, proof, instances, batchPath, minReward) as the shipped registry takes it."""
    path = [secrets.token_bytes(32) for _ in range(3)]
    data = REGISTRY_ABI.encode_abi("submitUpdate", args=[model_id, proof, instances, path, 0])
    return bytes.fromhex(data[2:])


WRAPPERS = {
    "direct": _direct,
    # a multisig / relayer: execTransaction(address to, uint256 value, bytes data, uint8 op)
    "embedded": lambda p, i: keccak(text="exec(address,uint256,bytes,uint8)")[:4]
    + encode(["address", "uint256", "bytes", "uint8"], ["0x" + "ab" * 20, 0, _direct(p, i), 0]),
    # a prover contract's submit(bytes proof, uint256[] instances)
    "own_args": lambda p, i: keccak(text="submit(bytes,uint256[])")[:4] + encode(["bytes", "uint256[]"], [p, i]),
    # a batch of two: another model's update first, then this one
    "batched": lambda p, i: keccak(text="multicall(bytes[])")[:4]
    + encode(["bytes[]"], [[_direct(*_update(len(p)), model_id=2), _direct(p, i)]]),
}


@pytest.mark.parametrize("wrap", WRAPPERS)
@settings(max_examples=25, deadline=None)
@given(proof_len=st.integers(1, 3000))
def test_found_however_it_is_encoded(wrap: str, proof_len: int) -> None:
    proof, instances = _update(proof_len)
    assert _find(WRAPPERS[wrap](proof, instances), instances) == (proof, tuple(instances))


def test_a_near_miss_is_not_found() -> None:
    proof, instances = _update(1024)
    for i in range(LAYOUT.length):  # any one value changed: its commitment, claim or loss word differs
        other = list(instances)
        other[i] = (other[i] + 1) % FIELD_MODULUS
        assert _find(_direct(proof, other), instances) is None
    # truncated inside the instances: the batch path (its length and 3 words) and the last instance cut
    assert _find(_direct(proof, instances)[:-32 * 5], instances) is None


def test_a_proof_not_in_the_input_is_not_found() -> None:
    # e.g. a contract that stored the proof earlier and submits from storage: only the instances travel
    _, instances = _update(0)
    data = keccak(text="submitStored(uint256[])")[:4] + encode(["uint256[]"], [instances])
    assert _find(data, instances) is None


def test_a_small_number_before_the_instances_is_not_taken_for_a_proof() -> None:
    _, instances = _update(0)
    data = keccak(text="submitStored(uint256,uint256,uint256[])")[:4] + encode(
        ["uint256", "uint256", "uint256[]"], [1, 5, instances])
    assert _find(data, instances) is None
