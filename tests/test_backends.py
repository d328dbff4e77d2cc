"""Prover backends: build detection, device selection with fallback, the ezkl build pin."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from zkgrad.circuits.artifacts import Circuit
from zkgrad.devices import cuda_devices, float_providers
from zkgrad.errors import BackendUnavailableError, InputError, ProverError
from zkgrad.model.data import batch
from zkgrad.prover.backends import (
    CpuBackend,
    GpuBackend,
    _markers_in,
    check_build,
    ezkl_build,
    select_backend,
)
from zkgrad.prover.prove import prove, prove_witness, witness
from zkgrad.prover.step import prove_step
from zkgrad.verifier.offchain import verify

GPU_HERE = GpuBackend().available()
needs_gpu = pytest.mark.skipif(not GPU_HERE, reason=f"no GPU prover here: {GpuBackend().unavailable_reason()}")
cpu_only = pytest.mark.skipif(GPU_HERE, reason="a GPU prover is available on this machine")


def test_installed_ezkl_is_the_cpu_wheel() -> None:
    build = ezkl_build()
    assert build.distribution == "ezkl"
    assert build.version == "23.0.5"
    assert build.library is not None and build.library.is_file()
    assert build.gpu is False and build.env_switch is None


def test_gpu_markers_are_found_in_a_library(tmp_path: Path) -> None:
    lib = tmp_path / "ezkl.abi3.so"
    lib.write_bytes(b"\0" * 4096 + b"ICICLE_BACKEND_INSTALL_DIR\0icicle-runtime" + b"\0" * 4096)
    assert _markers_in(lib) == {b"icicle", b"ICICLE_BACKEND_INSTALL_DIR"}
    lib.write_bytes(b"\0" * 4096 + b"halo2_proofs")
    assert _markers_in(lib) == set()


def test_the_cpu_wheel_carries_no_gpu_marker() -> None:
    lib = ezkl_build().library
    assert lib is not None and _markers_in(lib) == set()


@cpu_only
def test_auto_falls_back_to_cpu_with_a_notice() -> None:
    choice = select_backend("auto")
    assert isinstance(choice.backend, CpuBackend) and choice.backend.name == "cpu"
    assert choice.notice is not None and choice.notice.startswith("proving on the CPU:")
    assert "\n" not in choice.notice


@cpu_only
def test_gpu_refused_with_a_hint() -> None:
    with pytest.raises(BackendUnavailableError) as e:
        select_backend("gpu")
    assert e.value.hint and "--device cpu" in e.value.hint
    assert e.value.data["backend"] == "gpu"
    assert e.value.data["reason"] == GpuBackend().unavailable_reason()


def test_cpu_is_chosen_without_notice() -> None:
    backend, notice = select_backend("cpu")
    assert backend.name == "cpu" and backend.available() and notice is None


def test_unknown_device_refused() -> None:
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        select_backend("tpu")


def test_float_providers_end_with_cpu() -> None:
    providers = float_providers()
    assert providers[-1] == "CPUExecutionProvider"
    if cuda_devices() == 0:
        assert providers == ["CPUExecutionProvider"]


def _with_ezkl_version(circuit: Circuit, dst: Path, version: str) -> Circuit:
    shutil.copytree(circuit.path, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["ezkl"] = version
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return Circuit.open(dst)


def test_check_build_accepts_the_circuits_release(tiny_circuit) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    check_build(circuit)


def test_check_build_refuses_another_release(tiny_circuit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    other = _with_ezkl_version(circuit, tmp_path / "c", "16.1.0")
    with pytest.raises(ProverError, match="set up with ezkl 16.1.0") as e:
        check_build(other)
    assert e.value.hint and "ezkl==16.1.0" in e.value.hint
    # the backend refuses before touching ezkl: no proof appears
    w = witness(circuit, d / "input.json", out=tmp_path / "w.json")
    assert w["outputs"]
    with pytest.raises(ProverError, match="set up with ezkl 16.1.0"):
        prove_witness(other, tmp_path / "w.json", tmp_path / "proof.json", backend=CpuBackend())
    assert not (tmp_path / "proof.json").exists()


def test_serial_inference_refuses_another_release(tiny_circuit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``prove`` (what ``zkgrad prove`` runs with the serial pool) makes its proof through
    ``prove_witness`` too: the build pin holds there, and nothing is left behind."""
    d, circuit = tiny_circuit
    other = _with_ezkl_version(circuit, tmp_path / "c", "16.1.0")
    with pytest.raises(ProverError, match="set up with ezkl 16.1.0"):
        prove(other, d / "input.json", out=tmp_path / "out" / "proof.json")
    assert list((tmp_path / "out").iterdir()) == []


def test_serial_step_refuses_another_release(tiny_workspace, tiny_dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``prove_step`` (the serial training path) refuses a step circuit set up with another ezkl;
    no step folder, staging folder or proof appears."""
    circuits = tiny_workspace.circuits()
    other = replace(circuits, step=_with_ezkl_version(circuits.step, tmp_path / "step", "16.1.0"))
    x, y = batch(tiny_dataset, tiny_workspace.spec.batch_size, 0, 0)
    (tmp_path / "steps").mkdir()
    with pytest.raises(ProverError, match="set up with ezkl 16.1.0") as e:
        prove_step(other, tiny_workspace.genesis(), x, y, folder=tmp_path / "steps" / "000001")
    assert e.value.hint and "ezkl==16.1.0" in e.value.hint
    assert list((tmp_path / "steps").iterdir()) == []


def test_a_proof_ezkl_wrote_damaged_never_lands(tiny_circuit, tiny_proof, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """``prove_witness`` reads what ezkl wrote before renaming it onto ``out``: two encodings that
    disagree are a ProverError, and no proof appears."""
    from zkgrad import engine

    from .helpers import flip_hex_nibble

    d, circuit = tiny_circuit
    witness(circuit, d / "input.json", out=tmp_path / "w.json")
    monkeypatch.setattr(engine, "prove", lambda *, proof, **_: flip_hex_nibble(tiny_proof.path, proof))
    with pytest.raises(ProverError, match="wrote a damaged proof: .* encodings disagree"):
        prove_witness(circuit, tmp_path / "w.json", tmp_path / "out" / "proof.json")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.proof
def test_cpu_backend_proves_a_witness(tiny_circuit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    witness(circuit, d / "input.json", out=tmp_path / "w.json")
    prove_witness(circuit, tmp_path / "w.json", tmp_path / "proof.json", backend=CpuBackend())
    assert verify(tmp_path / "proof.json", circuit)


@pytest.mark.gpu
@needs_gpu
def test_auto_picks_the_gpu() -> None:
    backend, notice = select_backend("auto")
    assert backend.name == "gpu" and notice is None


@pytest.mark.gpu
@pytest.mark.proof
@needs_gpu
def test_gpu_proof_verifies_with_the_same_keys(tiny_circuit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    witness(circuit, d / "input.json", out=tmp_path / "w.json")
    prove_witness(circuit, tmp_path / "w.json", tmp_path / "proof.json", backend=GpuBackend())
    assert verify(tmp_path / "proof.json", circuit)
