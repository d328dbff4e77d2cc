"""The SRS a circuit was set up on is part of its identity (sha256), development or ceremony: a
regenerated or replaced SRS file is never used with keys set up on another one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zkgrad.circuits import artifacts
from zkgrad.circuits.artifacts import Circuit, sha256_file
from zkgrad.circuits.compile import compile_model
from zkgrad.circuits.export import export_module, sample_json
from zkgrad.circuits.srs import dev_srs
from zkgrad.errors import CircuitError, SrsError
from zkgrad.prover.prove import prove

from .helpers import run_cli


def test_the_hash_is_remembered_by_path_size_inode_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(artifacts, "_hashed", {})
    f = tmp_path / "big.srs"
    f.write_bytes(b"a" * 1000)
    real = sha256_file(f)
    table = tmp_path / "home" / "sha256.json"
    known = json.loads(table.read_text())
    known[str(f.resolve())][-1] = "remembered"  # what another process computed for these stamps
    table.write_text(json.dumps(known))
    monkeypatch.setattr(artifacts, "_hashed", {})
    assert sha256_file(f) == "remembered"  # read from the table, not from the file
    f.write_bytes(b"b" * 1000)  # same size, new mtime: hashed again
    assert sha256_file(f) not in (real, "remembered")


@pytest.mark.proof
def test_a_changed_srs_is_refused_and_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                   tiny_model, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path / "home"))  # a private development SRS
    net, x = tiny_model
    export_module(net, x, tmp_path / "net.onnx")
    sample = tmp_path / "input.json"
    sample.write_text(json.dumps(sample_json(x)))
    folder = tmp_path / "circuit"
    first, reused = compile_model(tmp_path / "net.onnx", sample, out=folder)
    assert not reused
    first_key, srs_path = first.key, Path(first.manifest["srs"]["path"])
    assert first.manifest["srs"]["sha256"] == sha256_file(srs_path)
    assert compile_model(tmp_path / "net.onnx", sample, out=folder)[1]  # unchanged SRS: reused
    # compiled without the verifier stage's builder: keys only, and deploying says how to get one
    assert not first.verifier_json.exists() and first.manifest["verifier"] is None
    with pytest.raises(CircuitError, match="compiled without a Solidity verifier"):
        first.verifier()

    # the development SRS is generated again: same logrows and size, another tau
    old_sha = sha256_file(srs_path)
    srs_path.unlink()
    regenerated = dev_srs(first.logrows)
    assert regenerated.path == srs_path and regenerated.sha256 != old_sha

    with pytest.raises(SrsError, match="is not the one circuit") as info:
        prove(first, sample, out=tmp_path / "proof.json")
    assert "\n" not in str(info.value) and "compile the circuit again" in str(info.value)
    code, out, err = run_cli(["prove", folder, "--input", sample, "--out", tmp_path / "cli.json"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "proof.json").exists() and not (tmp_path / "cli.json").exists()

    second, reused = compile_model(tmp_path / "net.onnx", sample, out=folder)
    assert not reused and second.key != first_key
    assert second.manifest["srs"]["sha256"] == regenerated.sha256 and second.srs == srs_path

    # a ceremony SRS (any valid SRS file passed by path) is identified the same way, by its bytes
    ceremony = tmp_path / "ceremony.srs"
    shutil.copyfile(srs_path, ceremony)
    same, reused = compile_model(tmp_path / "net.onnx", sample, out=folder, srs=ceremony)
    assert reused and same.key == second.key  # the very SRS the circuit was set up on
    shutil.copyfile(dev_srs(first.logrows, cache_dir=tmp_path / "other").path, ceremony)
    third, reused = compile_model(tmp_path / "net.onnx", sample, out=folder, srs=ceremony)
    assert not reused and third.key not in (first_key, second.key) and not third.dev_srs
    shutil.copyfile(srs_path, ceremony)  # replaced in place
    with pytest.raises(SrsError, match="is not the one circuit"):
        Circuit.open(folder).srs  # noqa: B018
