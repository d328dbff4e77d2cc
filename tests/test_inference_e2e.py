"""The spine, end to end with real components: PyTorch → ONNX → circuit → proof → verified
off-chain and by a solc-compiled verifier on a real anvil; tampered proofs refused on both."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zkgrad.chain.deployments import (
    Deployments,
    deploy_verifier,
    recorded_verifier,
    verify_onchain,
)
from zkgrad.circuits.compile import compile_model
from zkgrad.circuits.export import export_module
from zkgrad.node import connect
from zkgrad.verifier.calldata import VERIFY_SELECTOR, VERIFY_SIGNATURE
from zkgrad.verifier.offchain import verify

from .helpers import assert_tampered_refused_onchain, change_instance, flip_proof_byte

pytestmark = [pytest.mark.proof]


@pytest.fixture
def model_and_input(tiny_model):  # type: ignore[no-untyped-def]
    return tiny_model


@pytest.fixture
def compiled(tiny_circuit):  # type: ignore[no-untyped-def]
    return tiny_circuit


@pytest.fixture
def proved(tiny_proof):  # type: ignore[no-untyped-def]
    return tiny_proof


def test_verify_selector_is_pinned() -> None:
    from eth_utils import keccak

    assert keccak(text=VERIFY_SIGNATURE)[:4] == VERIFY_SELECTOR


def test_outputs_match_torch(proved, model_and_input) -> None:  # type: ignore[no-untyped-def]
    net, x = model_and_input
    expected = net(x).detach().flatten().tolist()
    assert len(proved.outputs) == 1
    assert proved.outputs[0] == pytest.approx(expected, abs=0.02)
    assert set(proved.timings) == {"witness", "prove"}


def test_proof_accepted_offchain(compiled, proved) -> None:  # type: ignore[no-untyped-def]
    _, circuit = compiled
    verdict = verify(proved.path, circuit)
    assert verdict and verdict.reason == ""


def test_dev_srs_is_labelled(compiled) -> None:  # type: ignore[no-untyped-def]
    _, circuit = compiled
    assert circuit.dev_srs
    assert "NOT secure" in circuit.manifest["srs"]["warning"]


def test_compiling_again_reuses_without_setup(compiled, model_and_input) -> None:  # type: ignore[no-untyped-def]
    d, circuit = compiled
    _, x = model_and_input
    pk_mtime = circuit.pk.stat().st_mtime_ns
    again, reused = compile_model(d / "net.onnx", d / "input.json", out=d / "circuit")
    assert reused and again.key == circuit.key
    assert circuit.pk.stat().st_mtime_ns == pk_mtime  # no setup ran


def test_changed_model_is_recompiled(compiled, tmp_path: Path, model_and_input) -> None:  # type: ignore[no-untyped-def]
    _, circuit = compiled
    net, x = model_and_input
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    export_module(other, x, tmp_path / "other.onnx")
    from zkgrad.circuits.artifacts import circuit_key, sha256_file

    def key(onnx: Path) -> str:
        return circuit_key(onnx_sha=sha256_file(onnx), sample_sha=sha256_file(circuit.sample), config=circuit.config,
                           srs_sha=circuit.manifest["srs"]["sha256"], ezkl_version=circuit.manifest["ezkl"])

    assert key(circuit.onnx) == circuit.key  # the key is made of exactly these inputs
    assert key(tmp_path / "other.onnx") != circuit.key


@pytest.mark.parametrize("tamper", ["flip_byte", "change_output"])
def test_tampered_proof_refused_offchain(compiled, proved, tmp_path: Path, tamper: str) -> None:  # type: ignore[no-untyped-def]
    _, circuit = compiled
    bad = (flip_proof_byte if tamper == "flip_byte" else change_instance)(proved.path, tmp_path / "bad.json")
    assert not verify(bad, circuit)


@pytest.mark.chain
def test_onchain_accepts_and_refuses_tampered(compiled, proved, anvil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = compiled
    w3 = connect(anvil.rpc_url)
    dep = deploy_verifier(w3, circuit)
    assert recorded_verifier(w3, circuit) == dep.address
    verdict, gas = verify_onchain(w3, dep.address, proved.proof)
    assert verdict and gas > 0
    assert_tampered_refused_onchain(w3, dep.address, proved.path, tmp_path)
    again = deploy_verifier(w3, circuit)
    assert again.reused and again.address == dep.address


@pytest.mark.chain
def test_recorded_address_holding_other_code_is_not_trusted(compiled, anvil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Local chains share chain id 31337 and forget on restart: a recorded verifier address that now
    holds other code (here: a registry) is neither used to verify nor reused on deploy."""
    import shutil

    from zkgrad.circuits.artifacts import Circuit
    from zkgrad.errors import DeploymentError
    from zkgrad.train.register import ensure_registry

    _, circuit = compiled
    copy = Circuit(Path(shutil.copytree(circuit.path, tmp_path / "circuit")))
    w3 = connect(anvil.rpc_url)
    other = ensure_registry(w3).address
    Deployments(copy).record(anvil.chain_id, {"address": other, "tx_hash": "0x", "gas_used": 0, "block": 0,
                                             "kind": "single", "code_hash": "0x" + "00" * 32})
    with pytest.raises(DeploymentError, match="holds other code"):
        recorded_verifier(w3, copy)
    dep = deploy_verifier(w3, copy)
    assert not dep.reused and dep.address != other
    assert recorded_verifier(w3, copy) == dep.address
