"""The reusable verifier path (for circuits whose single verifier is over EIP-170): ezkl's
Halo2VerifierReusable + the circuit's VK artifact behind a VkaVerifier adapter, built, deployed on
a real anvil (default code-size limit) and called with a real proof; tampered proofs refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from zkgrad.chain.deployments import (
    compiled_adapter,
    compiled_verifier,
    deploy_verifier,
    recorded_verifier,
    verify_onchain,
)
from zkgrad.circuits.artifacts import Circuit
from zkgrad.errors import DeploymentError
from zkgrad.node import deploy
from zkgrad.toolchain import EIP170_LIMIT
from zkgrad.verifier import solidity
from zkgrad.verifier.solidity import (
    REGISTER_VKA_SELECTOR,
    VERIFY_WITH_VKA_SELECTOR,
    build_verifier,
)

from .helpers import assert_tampered_refused_onchain

pytestmark = [pytest.mark.proof]


def _selectors(abi: list[dict[str, Any]]) -> set[bytes]:
    fns = [e for e in abi if e.get("type") == "function"]
    return {keccak(text=f"{f['name']}({','.join(i['type'] for i in f['inputs'])})")[:4] for f in fns}


def _reusable_copy(circuit: Circuit, dest: Path, **kw: Any) -> tuple[Circuit, dict[str, Any]]:
    """The tiny circuit's manifest and keys in ``dest``, its verifier rebuilt there (reusable)."""
    dest.mkdir(parents=True)
    for p in (circuit.manifest_path, circuit.settings, circuit.vk):
        shutil.copyfile(p, dest / p.name)
    copy = Circuit(dest)
    summary = build_verifier(copy, circuit.srs, **kw)
    return copy, summary


@pytest.fixture(scope="module")
def reusable(  # type: ignore[no-untyped-def]
    tiny_circuit, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Circuit, dict[str, Any]]:
    _, circuit = tiny_circuit
    return _reusable_copy(circuit, tmp_path_factory.mktemp("reusable") / "circuit", reusable=True)


def test_selectors_of_ezkls_reusable_verifier_are_pinned() -> None:
    assert keccak(text="verifyProof(bytes,uint256[],bytes32[])")[:4] == VERIFY_WITH_VKA_SELECTOR
    assert keccak(text="registerVka(bytes32[])")[:4] == REGISTER_VKA_SELECTOR


def test_auto_keeps_the_single_verifier_when_it_fits(tiny_circuit) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    v = circuit.verifier()
    assert v["kind"] == "single" and v["contract"] == "Halo2Verifier" and v["runtime_size"] <= EIP170_LIMIT
    assert "vka" not in v


def test_forced_reusable_records_verifier_vka_and_adapter(reusable) -> None:  # type: ignore[no-untyped-def]
    circuit, summary = reusable
    assert summary["kind"] == "reusable" and summary["contract"] == "Halo2VerifierReusable"
    assert set(summary) == {"contract", "runtime_size", "solc", "within_eip170", "kind"}
    v = circuit.verifier()
    assert v["kind"] == "reusable" and summary["within_eip170"]
    assert 0 < v["runtime_size"] <= EIP170_LIMIT and 0 < v["adapter"]["runtime_size"] <= EIP170_LIMIT
    words = [bytes.fromhex(w[2:]) for w in v["vka"]]
    assert words and all(len(w) == 32 for w in words)
    assert v["vka_digest"] == "0x" + keccak(b"".join(words)).hex()
    assert {VERIFY_WITH_VKA_SELECTOR, REGISTER_VKA_SELECTOR} <= _selectors(v["abi"])
    assert bytes.fromhex("1e8e1e13") in _selectors(v["adapter"]["abi"])  # verifyProof(bytes,uint256[])
    assert "contract Halo2VerifierReusable" in circuit.verifier_sol.read_text()
    assert not list(circuit.path.glob("*.tmp")) and not list(circuit.path.glob(".vka*"))


def test_auto_falls_back_to_reusable_over_the_limit(  # type: ignore[no-untyped-def]
    tiny_circuit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, circuit = tiny_circuit
    limit = circuit.verifier()["runtime_size"] - 1  # the tiny single verifier is now "too large"
    monkeypatch.setattr(solidity, "EIP170_LIMIT", limit)
    _, summary = _reusable_copy(circuit, tmp_path / "c")
    assert summary["kind"] == "reusable" and summary["runtime_size"] <= limit


def test_read_vka_refuses_a_truncated_file(tmp_path: Path) -> None:
    from zkgrad.errors import CircuitError

    good = (2).to_bytes(8, "little") + bytes(range(64))
    (tmp_path / "ok").write_bytes(good)
    assert solidity.read_vka(tmp_path / "ok") == [bytes(range(32)), bytes(range(32, 64))]
    (tmp_path / "bad").write_bytes(good[:-1])
    with pytest.raises(CircuitError):
        solidity.read_vka(tmp_path / "bad")


@pytest.mark.chain
def test_onchain_through_the_adapter(  # type: ignore[no-untyped-def]
    reusable, tiny_circuit, tiny_proof, w3: Web3, anvil, tmp_path: Path, record_property: Any
) -> None:
    circuit, _ = reusable
    dep = deploy_verifier(w3, circuit)
    assert dep.kind == "reusable" and not dep.reused
    rv = dep.parts["reusable_verifier"]
    assert not rv["reused"] and dep.gas_used == rv["gas_used"] + dep.parts["adapter"]["gas_used"]
    assert recorded_verifier(w3, circuit) == dep.address == dep.parts["adapter"]["address"]
    for address, contract in ((rv["address"], compiled_verifier(circuit)), (dep.address, compiled_adapter(circuit))):
        assert len(w3.eth.get_code(address)) == contract.runtime_size <= EIP170_LIMIT

    verdict, gas = verify_onchain(w3, dep.address, tiny_proof.proof)
    assert verdict and gas > 0
    assert_tampered_refused_onchain(w3, dep.address, tiny_proof.path, tmp_path)

    # the adapter hands back exactly the VKA it was built with
    v = circuit.verifier()
    adapter = w3.eth.contract(address=dep.address, abi=v["adapter"]["abi"])
    assert ["0x" + bytes(w).hex() for w in adapter.functions.vka().call()] == v["vka"]
    assert "0x" + bytes(adapter.functions.vkaDigest().call()).hex() == v["vka_digest"]

    # the same proof through the circuit's single verifier, for the gas comparison
    _, tiny = tiny_circuit
    single = deploy(w3, compiled_verifier(tiny))
    ok, single_gas = verify_onchain(w3, single.address, tiny_proof.proof)
    assert ok
    gas_report = {"verify_gas_adapter": gas, "verify_gas_single": single_gas, "deploy_gas_reusable": rv["gas_used"],
                  "deploy_gas_adapter": dep.parts["adapter"]["gas_used"], "deploy_gas_single": single.gas_used}
    for k, val in gas_report.items():
        record_property(k, val)
    print(f"\nreusable verifier gas (tiny circuit): {json.dumps(gas_report)}")

    again = deploy_verifier(w3, circuit)
    assert again.reused and again.address == dep.address
    # a new adapter shares the reusable verifier already on the chain
    fresh = deploy_verifier(w3, circuit, force=True)
    assert fresh.parts["reusable_verifier"] == {"address": rv["address"], "reused": True, "gas_used": 0}
    assert fresh.address != dep.address and fresh.gas_used == fresh.parts["adapter"]["gas_used"]
    assert verify_onchain(w3, fresh.address, tiny_proof.proof)[0]
    # a shared verifier must be the very same code
    with pytest.raises(DeploymentError):
        deploy_verifier(w3, circuit, force=True, reusable_verifier=single.address)


@pytest.mark.chain
def test_adapter_stores_a_vka_larger_than_one_data_contract(reusable, w3: Web3) -> None:  # type: ignore[no-untyped-def]
    """767 words fit one data contract; a 1000-word VKA takes two and comes back whole."""
    circuit, _ = reusable
    dep = deploy_verifier(w3, circuit)
    words = [keccak(i.to_bytes(4, "big")) for i in range(1000)]
    adapter = compiled_adapter(circuit)
    d = deploy(w3, adapter, dep.parts["reusable_verifier"]["address"], words)
    contract = w3.eth.contract(address=d.address, abi=adapter.abi)
    assert [bytes(w) for w in contract.functions.vka().call()] == words
    assert contract.functions.CHUNK_WORDS().call() == 767


@pytest.mark.chain
def test_one_reusable_verifier_serves_two_circuits(  # type: ignore[no-untyped-def]
    reusable, tiny_proof, w3: Web3, tmp_path: Path
) -> None:
    """A second, different circuit gets its own adapter and VKA on the same reusable verifier;
    each adapter accepts its own circuit's proof and refuses the other's."""
    import torch

    from zkgrad.circuits.compile import compile_model
    from zkgrad.circuits.export import export_module, sample_json
    from zkgrad.prover.prove import prove

    first, _ = reusable
    a = deploy_verifier(w3, first)
    torch.manual_seed(11)
    net, x = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)), torch.randn(1, 3)
    export_module(net, x, tmp_path / "net.onnx")
    (tmp_path / "input.json").write_text(json.dumps(sample_json(x)))
    other, _ = compile_model(tmp_path / "net.onnx", tmp_path / "input.json", out=tmp_path / "compiled")
    second, summary = _reusable_copy(other, tmp_path / "second", reusable=True)
    assert second.verifier()["vka_digest"] != first.verifier()["vka_digest"]
    assert second.verifier()["bytecode"] == first.verifier()["bytecode"]  # the verifier is circuit-independent
    b = deploy_verifier(w3, second, reusable_verifier=a.parts["reusable_verifier"]["address"])
    assert b.parts["reusable_verifier"]["reused"] and b.parts["reusable_verifier"]["address"] == \
        a.parts["reusable_verifier"]["address"]
    proof_b = prove(other, tmp_path / "input.json", out=tmp_path / "proof.json").proof
    assert verify_onchain(w3, b.address, proof_b)[0]
    assert verify_onchain(w3, a.address, tiny_proof.proof)[0]
    assert not verify_onchain(w3, a.address, proof_b)[0]
    assert not verify_onchain(w3, b.address, tiny_proof.proof)[0]
