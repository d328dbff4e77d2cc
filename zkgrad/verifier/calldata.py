"""Calldata for ``verifyProof(bytes proof, uint256[] instances)`` from a proof."""

from __future__ import annotations

from eth_abi import encode

from ..prover.proof import Proof

VERIFY_SIGNATURE = "verifyProof(bytes,uint256[])"
VERIFY_SELECTOR = bytes.fromhex("1e8e1e13")  # keccak256(VERIFY_SIGNATURE)[:4], pinned in tests


def verify_calldata(proof: Proof) -> bytes:
    """Standard ABI encoding of the proof bytes and its public values as field elements."""
    return VERIFY_SELECTOR + encode(["bytes", "uint256[]"], [proof.proof_bytes, proof.instances])
