"""A circuit's verifier contract on a chain: deploy it, and check proofs through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from ..circuits.artifacts import DEV_SRS_WARNING, Circuit
from ..errors import DeploymentError, RpcUnreachableError
from ..prover.proof import Proof
from ..toolchain import CompiledContract
from ..verifier.calldata import verify_calldata
from ..verifier.offchain import Verdict
from ..verifier.solidity import EIP170_LIMIT
from .client import LOCAL_CHAIN_ID, deploy

LOCAL_CHAIN_IDS = frozenset({LOCAL_CHAIN_ID, 1337})


@dataclass(frozen=True)
class VerifierDeployment:
    address: str
    chain_id: int
    tx_hash: str
    gas_used: int
    block: int
    reused: bool = False


def compiled_verifier(circuit: Circuit) -> CompiledContract:
    v = circuit.verifier()
    return CompiledContract(name=v["contract"], abi=v["abi"], bytecode=bytes.fromhex(v["bytecode"][2:]),
                            runtime_size=v["runtime_size"])


def deploy_verifier(w3: Web3, circuit: Circuit, *, allow_dev_srs: bool = False, force: bool = False) -> VerifierDeployment:
    """Deploy the circuit's verifier (or reuse the recorded one if its code is there)."""
    chain_id = int(w3.eth.chain_id)
    if circuit.dev_srs and chain_id not in LOCAL_CHAIN_IDS and not allow_dev_srs:
        raise DeploymentError(f"refusing to deploy a verifier built on a {DEV_SRS_WARNING} to chain {chain_id}",
                              hint="recompile with --srs CEREMONY_FILE, or pass --allow-dev-srs for a test network")
    rec = circuit.deployments().get(str(chain_id))
    if rec and not force and _has_code(w3, rec["address"]):
        return VerifierDeployment(rec["address"], chain_id, rec["tx_hash"], rec["gas_used"], rec["block"], reused=True)
    contract = compiled_verifier(circuit)
    if contract.runtime_size > EIP170_LIMIT:
        raise DeploymentError(f"the verifier's code is {contract.runtime_size} bytes, over the {EIP170_LIMIT}-byte "
                              f"contract size limit (EIP-170)", hint="shrink the circuit (fewer public values, lower logrows)")
    d = deploy(w3, contract)
    circuit.record_deployment(chain_id, {"address": d.address, "tx_hash": d.tx_hash, "gas_used": d.gas_used,
                                         "block": d.block, "dev_srs": circuit.dev_srs})
    return VerifierDeployment(d.address, chain_id, d.tx_hash, d.gas_used, d.block)


def _has_code(w3: Web3, address: str) -> bool:
    try:
        return len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
    except Exception as e:  # noqa: BLE001 - connection problems surface as ours
        raise RpcUnreachableError(str(getattr(w3.provider, "endpoint_uri", "?"))) from e


def verify_onchain(w3: Web3, address: str, proof: Proof) -> tuple[Verdict, int]:
    """Call ``verifyProof`` on the deployed verifier: (verdict, gas estimate or 0)."""
    tx: dict[str, Any] = {"to": Web3.to_checksum_address(address), "data": verify_calldata(proof)}
    if not _has_code(w3, address):
        raise DeploymentError(f"no contract at {address} on chain {w3.eth.chain_id}",
                              hint="deploy the verifier with 'zkgrad deploy CIRCUIT_DIR'")
    try:
        out = w3.eth.call(tx)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 - a revert is a refusal
        msg = str(e).splitlines()[0] if str(e) else "reverted"
        if "Connection" in type(e).__name__ or "connection" in msg.lower():
            raise RpcUnreachableError(str(getattr(w3.provider, "endpoint_uri", "?"))) from e
        return Verdict(False, f"verifier reverted: {msg}", "on-chain"), 0
    ok = len(out) >= 32 and int.from_bytes(out[:32], "big") == 1
    gas = int(w3.eth.estimate_gas(tx)) if ok else 0  # type: ignore[arg-type]
    return Verdict(ok, "" if ok else "verifier returned false", "on-chain"), gas
