"""A circuit's verifier contract on a chain: deploy it, and check proofs through it.

A single verifier is one contract; a reusable one is ezkl's shared ``Halo2VerifierReusable`` plus
a ``VkaVerifier`` adapter per circuit (see zkgrad/verifier/solidity.py). Either way the circuit's
recorded address answers ``verifyProof(bytes,uint256[]) returns (bool)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode as abi_encode
from web3 import Web3

from .. import fsio, node
from ..circuits.artifacts import DEV_SRS_WARNING, Circuit
from ..errors import DeploymentError, InputError, TransactionRevertedError
from ..node import LOCAL_CHAIN_ID, deploy
from ..prover.proof import Proof
from ..toolchain import CompiledContract
from ..verifier.calldata import verify_calldata
from ..verifier.offchain import Verdict
from ..verifier.solidity import EIP170_LIMIT, VerifierKind

LOCAL_CHAIN_IDS = frozenset({LOCAL_CHAIN_ID, 1337})


@dataclass(frozen=True)
class VerifierDeployment:
    """Where a circuit's ``verifyProof(bytes,uint256[])`` lives (for a reusable verifier: the
    adapter), and what deploying it cost: ``gas_used`` sums the transactions this call sent."""

    address: str
    chain_id: int
    tx_hash: str
    gas_used: int
    block: int
    reused: bool = False
    kind: VerifierKind = "single"
    parts: dict[str, Any] = field(default_factory=dict)
    """reusable: {"reusable_verifier": {address, tx_hash, gas_used, block, reused}, "adapter": {...}}."""


DEPLOYMENTS_JSON = "deployments.json"
SENT_JSON = "sent.json"


class Deployments:
    """A circuit folder's deployment records, mutable beside its immutable manifest: where its
    verifier is deployed, per chain id (``deployments.json``), and the deployment transactions sent
    whose result is not recorded yet, by chain and part (``sent.json``), so that a run killed
    between sending and recording finds what landed instead of deploying again."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self.path = circuit.path / DEPLOYMENTS_JSON

    def all(self) -> dict[str, dict[str, Any]]:
        """chain id (as text) -> record."""
        if not self.path.is_file():
            return {}
        d = fsio.read_json(self.path, "deployment record")
        if not isinstance(d, dict) or not all(isinstance(r, dict) for r in d.values()):
            raise InputError(f"{self.path} is not a deployment record (chain id -> record)",
                             hint="restore it, or delete it and deploy again", path=str(self.path))
        return d

    def on(self, chain_id: int) -> dict[str, Any] | None:
        return self.all().get(str(chain_id))

    def record(self, chain_id: int, record: dict[str, Any]) -> None:
        fsio.write_json(self.path, {**self.all(), str(chain_id): record})

    def sent(self, key: str) -> list[str]:
        """The hashes of the deployment transaction sent for ``key`` (it and its replacements, at
        most one of which lands) whose result is not recorded yet."""
        tx = self._sent().get(key)
        hashes = [tx] if isinstance(tx, str) else tx if isinstance(tx, list) else []
        return [h for h in hashes if isinstance(h, str)]

    def record_sent(self, key: str, tx_hash: str | None) -> None:
        """Add ``tx_hash`` to the hashes sent for ``key``; None: forget them all (its result is recorded)."""
        sent = {k: v for k, v in self._sent().items() if k != key}
        hashes = [*self.sent(key), tx_hash] if tx_hash else []
        fsio.write_json(self.circuit.path / SENT_JSON, {**sent, key: hashes} if hashes else sent)

    def _sent(self) -> dict[str, Any]:
        path = self.circuit.path / SENT_JSON
        sent = fsio.read_json(path, "sent deployments") if path.is_file() else {}
        return sent if isinstance(sent, dict) else {}


def compiled_verifier(circuit: Circuit) -> CompiledContract:
    """The verifier contract of verifier.json (the single verifier, or ezkl's reusable one)."""
    return _compiled(circuit.verifier())


def compiled_adapter(circuit: Circuit) -> CompiledContract:
    """The ``VkaVerifier`` adapter recorded with a reusable verifier."""
    v = circuit.verifier()
    if v.get("kind") != "reusable":
        raise DeploymentError(f"circuit {circuit.path} has a single verifier, no adapter", hint="deploy it as is")
    return _compiled(v["adapter"])


def deploy_verifier(
    w3: Web3, circuit: Circuit, *, allow_dev_srs: bool = False, force: bool = False,
    reusable_verifier: str | None = None,
) -> VerifierDeployment:
    """Deploy the circuit's verifier (or reuse the recorded one if its code is there).

    A reusable-kind circuit gets ezkl's reusable verifier (``reusable_verifier``, else the one
    recorded for this circuit, else a new one) and a ``VkaVerifier`` adapter holding its VKA; the
    adapter's address is the circuit's verifier address."""
    chain_id = node.chain_id(w3)
    if circuit.dev_srs and chain_id not in LOCAL_CHAIN_IDS and not allow_dev_srs:
        raise DeploymentError(f"refusing to deploy a verifier built on a {DEV_SRS_WARNING} to chain {chain_id}",
                              hint="recompile with --srs CEREMONY_FILE, or pass --allow-dev-srs for a test network")
    v = circuit.verifier()
    kind: VerifierKind = v.get("kind", "single")
    book = Deployments(circuit)
    rec = book.on(chain_id)
    if rec and not force and rec.get("kind", "single") == kind and code_matches(w3, rec, str(book.path)):
        return VerifierDeployment(rec["address"], chain_id, rec["tx_hash"], rec["gas_used"], rec["block"],
                                  reused=True, kind=kind, parts=rec.get("parts", {}))
    if kind == "reusable":
        return _deploy_reusable(w3, circuit, v, chain_id, rec, reusable_verifier)
    contract = _compiled(v)
    if contract.runtime_size > EIP170_LIMIT:
        raise DeploymentError(f"the verifier's code is {contract.runtime_size} bytes, over the {EIP170_LIMIT}-byte "
                              f"contract size limit (EIP-170)",
                              hint="rebuild it as a reusable verifier (build_verifier(reusable=True))")
    d = _deploy_once(w3, circuit, f"{chain_id}:verifier", contract)
    Deployments(circuit).record(chain_id, {"address": d.address, "tx_hash": d.tx_hash, "gas_used": d.gas_used,
                                         "block": d.block, "dev_srs": circuit.dev_srs, "kind": "single",
                                         "code_hash": code_hash(w3, d.address)})
    Deployments(circuit).record_sent(f"{chain_id}:verifier", None)
    return VerifierDeployment(d.address, chain_id, d.tx_hash, d.gas_used, d.block)


def _deploy_once(w3: Web3, circuit: Circuit, key: str, contract: CompiledContract, *args: Any) -> node.Deployed:
    """Deploy ``contract``, unless the deployment sent for ``key`` by a run that died before recording
    its result landed: each of its transaction hashes (a replacement's too) is written to the circuit
    folder before it is sent."""
    sent = Deployments(circuit).sent(key)
    found = node.landed_deployment(w3, sent) if sent else None
    if found is not None:
        return found
    if sent:  # none of them landed, none is pending: forget them before sending anew
        Deployments(circuit).record_sent(key, None)
    return deploy(w3, contract, *args, journal=lambda tx: Deployments(circuit).record_sent(key, tx))


def _deploy_reusable(w3: Web3, circuit: Circuit, v: dict[str, Any], chain_id: int, rec: dict[str, Any] | None,
                     shared: str | None) -> VerifierDeployment:
    verifier = _compiled(v)
    known = shared or ((rec or {}).get("parts", {}).get("reusable_verifier", {}).get("address"))
    if shared and not _same_code(w3, shared, verifier):
        raise DeploymentError(f"{shared} on chain {chain_id} is not this circuit's reusable verifier "
                              f"({verifier.name} from verifier.json)",
                              hint="omit reusable_verifier to deploy a new one", address=shared)
    if known and _same_code(w3, known, verifier):
        rv = {"address": node.checksum_address(known), "reused": True, "gas_used": 0}
    else:
        d = _deploy_once(w3, circuit, f"{chain_id}:reusable_verifier", verifier)
        rv = {"address": d.address, "tx_hash": d.tx_hash, "gas_used": d.gas_used, "block": d.block, "reused": False}
    words = [bytes.fromhex(w[2:]) for w in v["vka"]]
    a = _deploy_once(w3, circuit, f"{chain_id}:adapter", _compiled(v["adapter"]), rv["address"], words)  # + VKA
    parts = {"reusable_verifier": rv,
             "adapter": {"address": a.address, "tx_hash": a.tx_hash, "gas_used": a.gas_used, "block": a.block},
             "vka_digest": v["vka_digest"], "vka_words": len(words)}
    gas = a.gas_used + int(rv["gas_used"])
    Deployments(circuit).record(chain_id, {"address": a.address, "tx_hash": a.tx_hash, "gas_used": gas,
                                         "block": a.block, "dev_srs": circuit.dev_srs, "kind": "reusable",
                                         "parts": parts, "code_hash": code_hash(w3, a.address)})
    for part in ("reusable_verifier", "adapter"):
        Deployments(circuit).record_sent(f"{chain_id}:{part}", None)
    return VerifierDeployment(a.address, chain_id, a.tx_hash, gas, a.block, kind="reusable", parts=parts)


def _compiled(v: dict[str, Any]) -> CompiledContract:
    return CompiledContract(name=v["contract"], abi=v["abi"], bytecode=bytes.fromhex(v["bytecode"][2:]),
                            runtime_size=v["runtime_size"])


def _same_code(w3: Web3, address: str, contract: CompiledContract) -> bool:
    """Whether ``address`` holds exactly the code ``contract`` deploys (creation simulated by eth_call)."""
    if not _has_code(w3, address):
        return False
    return node.get_code(w3, address) == node.eth_call(w3, {"data": contract.bytecode})


def code_hash(w3: Web3, address: str) -> str:
    """keccak256 of the code at ``address`` ("" when there is none)."""
    from eth_utils import keccak

    code = node.get_code(w3, address)
    return "0x" + keccak(code).hex() if code else ""


def code_matches(w3: Web3, record: dict[str, Any], where: str = "a deployment record") -> bool:
    """Whether a recorded deployment is really there: local chains all share chain id 31337 and
    forget everything on restart, so an address alone may hold another contract, or nothing.
    ``where`` names the record's file for the error when its address is malformed."""
    address = node.checksum_address(record.get("address"), what=f"the address in {where}")
    found, expected = code_hash(w3, address), record.get("code_hash")
    return bool(found) and (expected is None or found == expected)


def recorded_verifier(w3: Web3, circuit: Circuit) -> str:
    """The circuit's verifier address on this chain, checked to hold the code deployed there."""
    chain_id = node.chain_id(w3)
    book = Deployments(circuit)
    rec = book.on(chain_id)
    if not rec or not code_matches(w3, rec, str(book.path)):
        raise DeploymentError(f"the verifier of {circuit.path} is not deployed on this chain {chain_id} node"
                              + (f" (the recorded {rec['address']} holds other code: a restarted local chain?)" if rec else ""),
                              hint=f"deploy it with 'zkgrad deploy {circuit.path}' or pass --address")
    return str(rec["address"])


def _has_code(w3: Web3, address: str) -> bool:
    return len(node.get_code(w3, address)) > 0


def verify_onchain(w3: Web3, address: str, proof: Proof) -> tuple[Verdict, int]:
    """Call ``verifyProof`` on the deployed verifier: (verdict, gas estimate or 0)."""
    tx: dict[str, Any] = {"to": node.checksum_address(address), "data": verify_calldata(proof)}
    if not _has_code(w3, address):
        raise DeploymentError(f"no contract at {address} on chain {node.chain_id(w3)}",
                              hint="deploy the verifier with 'zkgrad deploy CIRCUIT_DIR'")
    try:
        out = node.eth_call(w3, tx)
    except TransactionRevertedError as e:  # a revert is a refusal
        return Verdict(False, f"verifier reverted: {e.reason}", "on-chain"), 0
    ok = len(out) >= 32 and int.from_bytes(out[:32], "big") == 1
    gas = node.estimate_gas(w3, tx) if ok else 0
    return Verdict(ok, "" if ok else "verifier returned false", "on-chain"), gas


def verifier_mismatch(w3: Web3, circuit: Circuit, address: str) -> str | None:
    """Why ``address`` does not hold the verifier ``circuit`` builds, or None when it does: the same
    runtime code as its creation code gives (single), or an adapter whose code is the one zkgrad's
    ``VkaVerifier`` gives for this circuit's VKA in front of ezkl's reusable verifier, and whose
    storage holds that very VKA (reusable)."""
    v = circuit.verifier()
    if v.get("kind", "single") == "single":
        return None if _same_code(w3, address, _compiled(v)) else "its code is not this circuit's verifier"
    adapter = _compiled(v["adapter"])
    handle = node.contract_at(w3, address, adapter.abi)
    try:
        reusable = str(node.call(handle.functions.verifier()))
    except (TransactionRevertedError, DeploymentError, ValueError):
        return "it is no VkaVerifier adapter"
    if not _same_code(w3, reusable, _compiled(v)):
        return f"its reusable verifier {reusable} is not the one this circuit's verifier.json builds"
    vka = [bytes.fromhex(w[2:]) for w in v["vka"]]
    created = node.eth_call(w3, {"data": adapter.bytecode + abi_encode(["address", "bytes32[]"], [reusable, vka])})
    if node.get_code(w3, address) != created:
        return "its verifying-key artifact (VKA) is not this circuit's"
    # the code names the VKA by its digest; what verifyProof reads is the VKA in the adapter's storage
    try:
        stored = [bytes(w) for w in node.call(handle.functions.vka())]
    except (TransactionRevertedError, DeploymentError, ValueError):
        stored = None
    return None if stored == vka else "the VKA in its storage is not the one its code names (it refuses every proof)"
