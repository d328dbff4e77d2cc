"""No command destroys what zkgrad did not make: an output folder is written only when it is missing,
empty or a zkgrad folder of the same kind, and then replaced as a whole; a failed command leaves
nothing half-written (no workspace without a genesis, no witness beside an older step)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from zkgrad import fsio
from zkgrad.errors import OutputExistsError

from .helpers import run_cli


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err and "report it" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in err, err


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _users_folder(parent: Path, name: str = "work") -> tuple[Path, dict[str, bytes]]:
    d = parent / name
    (d / "notes").mkdir(parents=True)
    (d / "thesis.tex").write_text("three years of work\n")
    (d / "notes" / "ideas.md").write_text("keep\n")
    (d / "manifest.json").write_text('{"mine": true}\n')  # a common name: not a circuit for that
    return d, _snapshot(parent)


# --- the folder primitive ------------------------------------------------------------------
def test_staged_dir_replaces_only_its_own_kind_as_a_whole(tmp_path: Path) -> None:
    user, before = _users_folder(tmp_path)
    with pytest.raises(OutputExistsError) as e:
        with fsio.staged_dir(user, "circuit") as tmp:
            (tmp / "x").write_text("never")
    assert e.value.data == {"path": str(user), "kind": "circuit"}
    assert _snapshot(tmp_path) == before  # untouched, and no staging folder left beside it

    out = tmp_path / "circuit"
    with fsio.staged_dir(out, "circuit") as tmp:
        (tmp / "old-only").write_text("1")
    assert fsio.artifact_kind(out) == "circuit"
    with fsio.staged_dir(out, "circuit") as tmp:
        (tmp / "new").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [fsio.MARKER, "new"]  # the old folder is gone whole
    with pytest.raises(OutputExistsError, match="a zkgrad circuit folder, not a step folder"):
        fsio.check_target(out, "step")

    with pytest.raises(RuntimeError):  # a failure while building leaves the old folder as it was
        with fsio.staged_dir(out, "circuit") as tmp:
            (tmp / "half").write_text("3")
            raise RuntimeError("killed")
    assert sorted(p.name for p in out.iterdir()) == [fsio.MARKER, "new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circuit", "work"]

    empty = tmp_path / "empty"
    empty.mkdir()
    with fsio.staged_dir(empty, "report") as tmp:
        (tmp / "r").write_text("4")
    assert fsio.artifact_kind(empty) == "report"
    (tmp_path / "file").write_text("a file")
    with pytest.raises(OutputExistsError):
        fsio.check_target(tmp_path / "file", "report")


# --- compile --out --------------------------------------------------------------------------
def test_a_killed_builds_leftovers_are_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    final = tmp_path / "circuit"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f".circuit.{int(dead.stdout)}.abc.partial"  # a builder killed mid-build
    live = tmp_path / f".circuit.{os.getppid()}.def.partial"  # a build still running elsewhere
    users = tmp_path / ".circuit.notes.partial"  # no pid in the name: never ours to judge
    for d in (gone, live, users):
        (d / "keys").mkdir(parents=True)
    with fsio.staged_dir(final, "circuit") as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert not gone.exists() and live.is_dir() and users.is_dir()
    assert (final / "manifest.json").is_file()


def test_compile_onto_a_users_folder_is_refused(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, _ = tiny_circuit
    user, before = _users_folder(tmp_path)
    code, _, err = run_cli(["compile", d / "net.onnx", "--sample", d / "input.json", "--out", user], capsys)
    _one_line_error(code, err, str(user), "not a zkgrad circuit folder", "--out")
    assert _snapshot(tmp_path) == before


def test_compile_onto_its_own_circuit_folder_reuses_it(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    shutil.copytree(circuit.path, tmp_path / "c")
    before = _snapshot(tmp_path)
    code, out, err = run_cli(["compile", d / "net.onnx", "--sample", d / "input.json", "--out", tmp_path / "c",
                              "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["reused"] is True
    assert _snapshot(tmp_path) == before


# --- model init ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, needle", [
    (["--kwargs", '{"nope": 3}'], "does not take {'nope': 3}"),
    (["--factory", "no_such_module:net"], "cannot import model module 'no_such_module'"),
    (["--factory", "zkgrad.models:no_such_factory"], "'no_such_factory' is not a callable"),
    (["--commitment", "poseidon"], "unknown commitment 'poseidon'"),
], ids=["kwargs", "module", "factory", "commitment"])
def test_model_init_failure_leaves_no_workspace(bad: list[str], needle: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    code, _, err = run_cli(["model", "init", ws, *bad], capsys)
    _one_line_error(code, err, needle)
    assert list(tmp_path.iterdir()) == []  # no ws/, no staging folder
    code, out, err = run_cli(["model", "init", ws, "--kwargs", '{"hidden": 4}', "--json"], capsys)
    assert code == 0, err  # the corrected command works
    assert json.loads(out)["genesis"].startswith("0x")
    assert (ws / "spec.json").is_file() and (ws / "genesis" / "checkpoint.json").is_file()
    assert fsio.artifact_kind(ws) == "workspace"


def test_model_init_commitment_hashed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The hint for a model too big for a transaction names this option: it must make a hashed model."""
    code, out, err = run_cli(["model", "init", tmp_path / "ws", "--kwargs", '{"hidden": 4}', "--commitment", "hashed",
                              "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["spec"]["commitment"] == "hashed"
    genesis = json.loads((tmp_path / "ws" / "genesis" / "checkpoint.json").read_text())
    assert genesis["commitment_scheme"] == "hashed" and len(genesis["hashes"]) == 4  # one Poseidon hash per tensor


@pytest.mark.chain
def test_a_hashed_model_is_not_registered(tmp_path: Path, anvil, capsys) -> None:  # type: ignore[no-untyped-def]
    """Its claim word would be a Poseidon hash the registry cannot check, and its weights would not be published."""
    code, _, err = run_cli(["model", "init", tmp_path / "ws", "--kwargs", '{"hidden": 4}', "--commitment", "hashed"],
                           capsys)
    assert code == 0, err
    code, _, err = run_cli(["register", tmp_path / "ws", "--rpc", anvil.rpc_url], capsys)
    _one_line_error(code, err, "Poseidon", "cannot be trained on chain")
    assert not (tmp_path / "ws" / "chain.json").exists()


def test_model_init_onto_a_users_folder_is_refused_and_an_empty_one_used(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    user, before = _users_folder(tmp_path)
    code, _, err = run_cli(["model", "init", user, "--kwargs", '{"hidden": 4}'], capsys)
    _one_line_error(code, err, str(user), "not a zkgrad workspace folder")
    assert _snapshot(tmp_path) == before
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["model", "init", tmp_path / "empty", "--kwargs", '{"hidden": 4}'], capsys)
    assert code == 0, err
    assert (tmp_path / "empty" / "spec.json").is_file()


# --- prove --------------------------------------------------------------------------------
@pytest.mark.proof
def test_failed_prove_leaves_no_witness(tiny_circuit, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from zkgrad import engine
    from zkgrad.errors import ProverError

    d, circuit = tiny_circuit

    def failing_prove(**kwargs):  # type: ignore[no-untyped-def]
        assert Path(kwargs["witness"]).is_file()  # the real witness was made first
        raise ProverError("prover killed")

    monkeypatch.setattr(engine, "prove", failing_prove)
    code, _, err = run_cli(["prove", "circuit", circuit.path, "--input", d / "input.json", "--out",
                            tmp_path / "proof.json"], capsys)
    _one_line_error(code, err, "prover killed")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    code, _, err = run_cli(["prove", "circuit", circuit.path, "--input", d / "input.json", "--out",
                            tmp_path / "proof.json"], capsys)
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["proof.json"]  # the witness was an intermediate


@pytest.mark.proof
def test_prove_step_out_refuses_a_users_folder_and_replaces_an_older_step_whole(  # type: ignore[no-untyped-def]
        tiny_workspace, tiny_dataset, tmp_path: Path, monkeypatch, capsys) -> None:
    from zkgrad import engine
    from zkgrad.errors import ProverError
    from zkgrad.model.data import batch

    spec = tiny_workspace.spec
    x, y = batch(tiny_dataset, spec.batch_size, 0, 0)
    np.savez(tmp_path / "batch.npz", x=x, y=y)
    base = ["prove", "step", "--model", tiny_workspace.root, "--checkpoint", tiny_workspace.genesis_dir,
            "--batch", tmp_path / "batch.npz", "--out"]

    user, before = _users_folder(tmp_path / "u")
    code, _, err = run_cli([*base, user], capsys)
    _one_line_error(code, err, str(user), "not a zkgrad step folder")
    assert _snapshot(tmp_path / "u") == before

    old = tmp_path / "steps" / "000001"  # an older step, with a record the new one will not have
    old.mkdir(parents=True)
    fsio.write_json(old / fsio.MARKER, {"artifact": "step"})
    fsio.write_json(old / "step.json", {"version": 1, "before": "0x00", "after": "0x01"})
    fsio.write_json(old / "submitted.json", {"tx_hash": "0xold"})
    older = _snapshot(tmp_path / "steps")

    monkeypatch.setattr(engine, "prove", lambda **kw: (_ for _ in ()).throw(ProverError("prover killed")))
    code, _, err = run_cli([*base, old], capsys)
    _one_line_error(code, err, "prover killed")
    assert _snapshot(tmp_path / "steps") == older  # no witness beside the older step, no staging left
    monkeypatch.undo()

    code, out, err = run_cli([*base, old, "--json"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in old.iterdir()) == sorted([fsio.MARKER, "checkpoint", "proof.json", "step.json",
                                                            "witness.json"])
    assert json.loads((old / "step.json").read_text())["after"] == json.loads(out)["after"]
    assert [p.name for p in (tmp_path / "steps").iterdir()] == ["000001"]


# --- report --------------------------------------------------------------------------------
def test_report_out_onto_a_users_folder_is_refused(tiny_workspace, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    user, before = _users_folder(tmp_path)
    code, _, err = run_cli(["report", tiny_workspace.root, "--out", user], capsys)
    _one_line_error(code, err, str(user), "not a zkgrad report folder")
    assert _snapshot(tmp_path) == before
    code, _, err = run_cli(["demo", "--steps", 1, "--workdir", tmp_path / "demo", "--report", user], capsys)
    _one_line_error(code, err, "--report")  # refused at once, not after the run
    assert _snapshot(tmp_path) == before


# --- files written by export and prove ---------------------------------------------------------
def test_export_overwrites_only_its_own_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    onnx_out, sample_out = tmp_path / "net.onnx", tmp_path / "input.json"
    args = ["export", "zkgrad.models:tiny_mlp", "--input-shape", "1,4", "--out", onnx_out, "--sample-out", sample_out]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    code, _, err = run_cli(args + ["--seed", "1"], capsys)  # its own files: replaced
    assert code == 0, err
    (tmp_path / "mine.onnx").write_bytes(b"a user's model")
    (tmp_path / "mine.json").write_text('{"notes": 1}')
    before = _snapshot(tmp_path)
    for extra in (["--out", tmp_path / "mine.onnx"], ["--sample-out", tmp_path / "mine.json"]):
        code, _, err = run_cli(args + extra, capsys)
        _one_line_error(code, err, "already exists", "mine.")
        assert _snapshot(tmp_path) == before


def test_prove_out_onto_a_users_file_is_refused(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, _ = tiny_circuit
    mine = tmp_path / "proof.json"
    mine.write_text('{"my": "notes"}')
    code, _, err = run_cli(["prove", d / "circuit", "--input", d / "input.json", "--out", mine], capsys)
    _one_line_error(code, err, "already exists", "proof.json")
    assert mine.read_text() == '{"my": "notes"}' and sorted(p.name for p in tmp_path.iterdir()) == ["proof.json"]
    mine.unlink()
    for _ in range(2):  # a proof it wrote is replaced by the next
        code, _, err = run_cli(["prove", d / "circuit", "--input", d / "input.json", "--out", mine], capsys)
        assert code == 0, err
