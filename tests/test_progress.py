"""A run a user can follow: each step's proof has a live line (step, elapsed, estimate from the
earlier steps) and a plain line in a log; ezkl's own tables and notices reach stderr only with --debug."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from zkgrad.cli.output import StageReporter
from zkgrad.progress import StepEstimate, clock

from .helpers import copy_workspace, run_cli

EZKL_TEXT = ("Numerical Fidelity Report", "experimental", "+---", "ezkl info", "ezkl warning")


def _no_ezkl_text(err: str) -> None:
    for text in EZKL_TEXT:
        assert text not in err, f"{text!r} reached stderr:\n{err}"


def test_clock() -> None:
    assert [clock(s) for s in (0, 4.4, 59.6, 61, 3599, 3600, 3725, -3)] == \
        ["0:00", "0:04", "1:00", "1:01", "59:59", "1:00:00", "1:02:05", "0:00"]


def test_step_estimate_from_earlier_steps() -> None:
    est = StepEstimate(total=5)
    assert est.left(1) is None
    assert est.live(1, 12.0) == "step 1/5 proving 0:12 · estimate after the first step"
    assert est.finished(1, 50.0) == "step 1/5 proven in 0:50 · ~3:20 left"  # 4 more steps of 50 s
    assert est.live(2, 5.0) == "step 2/5 proving 0:05 · estimate after the first step"  # not recorded yet
    est.record(50.0)
    assert est.finished(2, 70.0) == "step 2/5 proven in 1:10 · ~3:00 left"  # mean 60 s, 3 more
    est.record(70.0)
    # while step 3 proves: what the mean says is left of it, plus the steps after it
    assert est.live(3, 20.0) == "step 3/5 proving 0:20 · ~1:00 per step, ~2:40 left"
    assert est.live(3, 90.0) == "step 3/5 proving 1:30 · ~1:00 per step, ~2:00 left"  # overdue: never negative
    assert est.finished(3, 60.0) == "step 3/5 proven in 1:00 · ~2:00 left"
    for s in (60.0, 60.0, 60.0):
        est.record(s)
    assert est.finished(5, 60.0) == "step 5/5 proven in 1:00"  # the last: nothing left to estimate
    assert est.proven == [50.0, 70.0, 60.0, 60.0, 60.0]


def test_stage_lines_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal: no spinner, only the stages' record lines, plain; --json: nothing."""
    log = StageReporter(live=False)
    log.start("step 1/2", lambda s: f"proving {s}")
    log.done("step 1/2", 3.0, "step 1/2 proven in 0:03 · ~0:03 left")
    log.start("witness")
    log.done("witness", 1.0)
    StageReporter(live=False, lines=False).done("step 2/2", 3.0, "step 2/2 proven in 0:03")
    out, err = capsys.readouterr()
    assert out == "" and err == "step 1/2 proven in 0:03 · ~0:03 left\n"


def test_compile_keeps_ezkl_tables_off_stderr(tiny_circuit, tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    """ezkl logs its calibration table through Python logging (pyo3-log): not shown without --debug."""
    d, circuit = tiny_circuit
    code, out, err = run_cli(["compile", d / "net.onnx", "--sample", d / "input.json", "--out", tmp_path / "c"], capfd)
    assert code == 0, err
    assert "(compiled)" in out and "development SRS" in err  # calibrated anew; zkgrad's own lines stay
    _no_ezkl_text(err)
    code, out, err = run_cli(["verify", tmp_path / "none.json", "--circuit", circuit.path], capfd)
    assert code != 0 and len(err.strip().splitlines()) == 1, err  # an error is still one line


def test_debug_shows_ezkl_messages(tiny_circuit, tiny_proof, capfd) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    code, _, err = run_cli(["verify", tiny_proof.path, "--circuit", circuit.path], capfd)
    assert code == 0 and "ezkl" not in err, err
    code, _, err = run_cli(["verify", tiny_proof.path, "--circuit", circuit.path, "--debug"], capfd)
    assert code == 0 and "ezkl info: verified: true" in err, err


def test_reusable_verifier_notice_only_with_debug(tiny_circuit, tmp_path: Path, capfd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """ezkl warns "Reusable verifier support is experimental" (once a process): not on stderr."""
    from zkgrad import engine

    _, c = tiny_circuit
    monkeypatch.delenv("ZKGRAD_DEBUG", raising=False)
    for debug in (False, True):
        if debug:
            monkeypatch.setenv("ZKGRAD_DEBUG", "1")
        engine.create_evm_verifier(vk=c.vk, settings=c.settings, sol=tmp_path / f"v{debug}.sol",
                                   abi=tmp_path / f"v{debug}.abi", srs=c.srs, reusable=True)
        _, err = capfd.readouterr()
        assert ("ezkl info: loaded verification key" in err) is debug, err
        if not debug:
            _no_ezkl_text(err)


@pytest.mark.proof
@pytest.mark.chain
def test_train_shows_each_step_in_a_log(tiny_workspace, tiny_dataset, anvil, tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    """stderr not a terminal: one plain line per proven step with its time and what is left, then the
    accepted line; no spinner frames, no ezkl text."""
    from zkgrad.node import connect
    from zkgrad.train.register import ensure_registry, register

    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    np.savez(tmp_path / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    register(ws, ensure_registry(connect(anvil.rpc_url)))
    code, out, err = run_cli(["train", ws.root, "--steps", 2, "--data", tmp_path / "data.npz",
                              "--rpc", anvil.rpc_url], capfd)
    assert code == 0, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith(("step", "✓"))]
    assert len(lines) == 4, err
    assert re.fullmatch(r"step 1/2 proven in \d+:\d\d · ~\d+:\d\d left", lines[0]), err
    assert re.fullmatch(r"step 2/2 proven in \d+:\d\d", lines[2]), err
    assert lines[1].startswith("✓ step 1 accepted on chain") and lines[3].startswith("✓ step 2 accepted"), err
    assert not re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|\x1b\[", err), err  # no spinner, no terminal codes
    _no_ezkl_text(err)
    code, out, err = run_cli(["train", ws.root, "--steps", 3, "--data", tmp_path / "data.npz",
                              "--rpc", anvil.rpc_url, "--json"], capfd)
    assert code == 0 and json.loads(out)["version"] == 3
    assert "proven in" not in err, err  # --json: no progress lines


def test_prover_child_stderr_is_kept_for_the_error(tiny_circuit, tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    """The prove child's stderr does not reach the terminal; a failure is still one ProverError."""
    import sys

    from zkgrad import engine
    from zkgrad.errors import ProverError
    from zkgrad.watchdog import run_watched

    with open(tmp_path / "child.txt", "wb") as sink:
        rc = run_watched([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"], stall_s=30,
                         stderr=sink)
    assert rc == 3 and (tmp_path / "child.txt").read_text() == "boom\n"
    _, c = tiny_circuit
    with pytest.raises(ProverError, match="ezkl prove of the proof failed"):
        engine.prove(witness=tmp_path / "missing.json", compiled=c.compiled, pk=c.pk, proof=tmp_path / "p.json", srs=c.srs)
    assert capfd.readouterr().err == ""
