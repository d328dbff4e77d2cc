"""Circuits that last a training run, and no hang ever.

ezkl 23's prover waits forever, its threads only polling, on a witness outside the circuit's lookup
table. zkgrad calibrates step circuits along the planned run, refuses such a witness before
proving it, and stops a prover that makes no progress. No test here can hang: each call that
could is run under a guard thread that fails the test and kills the prover child after a bound.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import psutil
import pytest
import torch

from zkgrad import engine
from zkgrad.circuits.compile import compile_model
from zkgrad.circuits.config import CalibrationPlan, CircuitConfig
from zkgrad.circuits.export import export_module, sample_json
from zkgrad.errors import InputError, ProverError
from zkgrad.watchdog import Sample, Stalled, run_watched, sample, watch

from .helpers import run_cli

GUARD_S = 240.0  # far beyond any stall period used here: reaching it means the watchdog failed


def guarded(fn: Callable[[], Any], limit_s: float = GUARD_S) -> tuple[Any, BaseException | None, float]:
    """(result, exception, seconds) of ``fn`` run in a thread; the test fails, and the prover
    children of this process are killed, when it has not returned after ``limit_s``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["v"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["e"] = e

    t0 = time.monotonic()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(limit_s)
    if th.is_alive():
        for child in provers():
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        pytest.fail(f"still running after {limit_s} s: the call hung")
    return out.get("v"), out.get("e"), time.monotonic() - t0


def provers() -> list[psutil.Process]:
    """This process's running prove children. A child that exits while it is listed (a zombie
    answers no cmdline) is not running."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "zkgrad.engine" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:  # ZombieProcess included
            pass
    return found


# --- the watchdog on plain processes -------------------------------------------------------
def test_watchdog_kills_a_child_that_waits_forever() -> None:
    _, err, secs = guarded(lambda: run_watched([sys.executable, "-c", "import time; time.sleep(600)"], stall_s=2))
    assert isinstance(err, Stalled) and err.stall_s == 2
    assert secs < 60


def _zombie(child: subprocess.Popen[bytes], limit_s: float = 60) -> psutil.Process:
    """``child`` once it has exited and is not yet reaped (a real zombie)."""
    proc = psutil.Process(child.pid)
    deadline = time.monotonic() + limit_s
    while proc.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.02)
    return proc


def test_watchdog_sample_of_a_child_that_has_exited() -> None:
    """The race, made certain: the child has exited, unreaped, when the watchdog looks at it."""
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
    try:
        proc = _zombie(child)
        first, again = sample(proc), sample(proc)
        assert first.exited and again.exited  # exited: never counted as stalled
        assert first.cpu_s is None or first.cpu_s == again.cpu_s  # its CPU time is final (Linux reads it)
    finally:
        assert child.wait(timeout=60) == 5
    assert sample(proc) == Sample(None, True)  # reaped: gone, and still simply exited


class _ExitsBetweenPolls(subprocess.Popen):  # type: ignore[type-arg]
    """A child each of whose timed waits gives up just before it exits: every poll of the
    watchdog then finds it exited and unreaped."""

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            return super().wait()
        _zombie(self)
        raise subprocess.TimeoutExpired(self.args, timeout)


def test_watchdog_collects_a_child_that_exits_between_two_polls() -> None:
    """Its exit code comes back: a child that has exited is not stalled (the old loop kept polling
    the zombie's final CPU time and, after stall_s, raised Stalled for a child that had finished)."""
    child = _ExitsBetweenPolls([sys.executable, "-c", "raise SystemExit(5)"])
    rc, err, secs = guarded(lambda: watch(child, stall_s=1))
    assert err is None and rc == 5, err
    assert child.returncode == 5 and secs < 60


def test_watchdog_kills_a_child_that_only_wakes_to_poll() -> None:
    """The hung ezkl's profile, measured: two threads wake every few ms of each half second
    (~1.5 % of one core). With a 1 % threshold this gained 'progress' and ran for minutes."""
    poll = ("import time\nwhile True:\n    t = time.process_time()\n"
            "    while time.process_time() - t < 0.01: pass\n    time.sleep(0.5)")
    _, err, secs = guarded(lambda: run_watched([sys.executable, "-c", poll], stall_s=2))
    assert isinstance(err, Stalled) and err.stall_s == 2
    assert secs < 60


def test_watchdog_lets_a_busy_child_finish() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 3: pass\nraise SystemExit(7)"
    rc, err, _ = guarded(lambda: run_watched([sys.executable, "-c", burn], stall_s=1))
    assert err is None and rc == 7


# --- a circuit with a lookup (tanh), calibrated on a small input ------------------------------
@pytest.fixture(scope="module")
def tanh_circuit(tmp_path_factory: pytest.TempPathFactory, zkgrad_home: Any) -> Any:
    """y = tanh(Wx + b), 2 -> 2, lookup range from x = (0.1, -0.1) with no margin (scale 7: small keys)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
    d = tmp_path_factory.mktemp("tanh")
    x = torch.tensor([[0.1, -0.1]])
    export_module(net, x, d / "net.onnx")
    (d / "input.json").write_text(json.dumps(sample_json(x)))
    circuit, _ = compile_model(d / "net.onnx", d / "input.json", out=d / "circuit",
                               config=CircuitConfig(scale=7, scale_rebase_multiplier=1, lookup_safety_margin=1.0))
    return circuit


OUTSIDE = {"input_data": [[30.0, -30.0]]}
INSIDE = {"input_data": [[0.1, -0.1]]}


def test_witness_outside_the_lookup_range_is_refused_as_mock_refuses_it(tanh_circuit: Any, tmp_path: Path) -> None:
    from zkgrad.circuits.ranges import lookup_range
    from zkgrad.prover.prove import witness

    lo, hi = lookup_range(tanh_circuit)
    with pytest.raises(ProverError) as info:
        witness(tanh_circuit, OUTSIDE, out=tmp_path / "w.json", what="step 4")
    msg = str(info.value)
    assert msg.startswith("step 4 leaves the circuit's lookup range") and f"[{lo:,}, {hi:,}]" in msg
    assert info.value.data["value"] < lo and "compile the circuit again" in msg and "\n" not in msg
    # ezkl's full check agrees on both witnesses
    engine.gen_witness(data=_write(tmp_path / "out.json", OUTSIDE), compiled=tanh_circuit.compiled, out=tmp_path / "wo.json")
    ok, why = engine.mock(witness=tmp_path / "wo.json", compiled=tanh_circuit.compiled)
    assert not ok and "Lookup" in why
    w = witness(tanh_circuit, INSIDE, out=tmp_path / "wi.json", what="step 1")
    assert lo <= w["min_lookup_inputs"] <= w["max_lookup_inputs"] <= hi
    assert engine.mock(witness=tmp_path / "wi.json", compiled=tanh_circuit.compiled) == (True, "")


@pytest.mark.proof
def test_a_prover_that_hangs_is_stopped_and_reported(tanh_circuit: Any, tmp_path: Path) -> None:
    """The witness ezkl 23 hangs on (its threads only wake to poll, forever): stopped after the stall period."""
    engine.gen_witness(data=_write(tmp_path / "in.json", OUTSIDE), compiled=tanh_circuit.compiled, out=tmp_path / "w.json")
    proof = tmp_path / "proof.json"
    _, err, secs = guarded(lambda: engine.prove(witness=tmp_path / "w.json", compiled=tanh_circuit.compiled,
                                                pk=tanh_circuit.pk, proof=proof, srs=tanh_circuit.srs,
                                                what="step 4", stall_s=3))
    assert isinstance(err, ProverError), err
    assert str(err).startswith("ezkl prove of step 4 stopped making progress (no CPU time for 3 s)")
    assert err.data["what"] == "step 4" and not proof.exists()
    assert secs < 120
    assert not provers(), "the stalled prover was left running"
    # the same circuit still proves a witness inside its range under the same watchdog
    engine.gen_witness(data=_write(tmp_path / "ok.json", INSIDE), compiled=tanh_circuit.compiled, out=tmp_path / "wi.json")
    _, err, _ = guarded(lambda: engine.prove(witness=tmp_path / "wi.json", compiled=tanh_circuit.compiled,
                                             pk=tanh_circuit.pk, proof=proof, srs=tanh_circuit.srs, stall_s=30))
    assert err is None and proof.is_file()


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


# --- calibration along the planned run -------------------------------------------------------
def test_planned_run_measures_the_states_where_tensors_peak(tmp_path: Path) -> None:
    from zkgrad.circuits.ranges import planned_run
    from zkgrad.circuits.training import export_training_step
    from zkgrad.model.checkpoint import genesis

    spec, ds = _tanh_model(scale=12)
    graph = export_training_step(spec, tmp_path / "step.onnx")
    runs, chosen = planned_run(graph.onnx_path, spec, genesis(spec).float_state(), ds, CalibrationPlan(steps=30))
    assert len(runs) == 30 and chosen[0] == 0 and chosen == sorted(set(chosen)) and len(chosen) > 1
    assert [r.step for r in runs] == list(range(30))
    # the run follows the batch schedule and starts from genesis
    from zkgrad.model.data import batch

    x1, _ = batch(ds, spec.batch_size, 1, 0)
    assert np.allclose(runs[1].x, x1, atol=2 ** -12)
    assert all(np.array_equal(a, b) for a, b in zip(runs[0].state, genesis(spec).float_state()))
    with pytest.raises(InputError, match="planned steps"):
        CalibrationPlan(steps=0)


def _tanh_model(scale: int) -> tuple[Any, Any]:
    """The issue's tanh MLP: iris (4 features, 3 classes, 120 rows), cross-entropy, lr 0.5, batch 8."""
    from sklearn.datasets import load_iris

    from zkgrad.model.data import Dataset
    from zkgrad.model.spec import ModelSpec

    iris = load_iris()
    idx = np.random.default_rng(0).permutation(150)[:120]
    spec = ModelSpec(factory="zkgrad.models:tanh_mlp", loss="cross_entropy", lr=0.5, batch_size=8, input_shape=(4,),
                     target_shape=(3,), scale=scale)
    return spec, Dataset(iris.data[idx], iris.target[idx], 3)


@pytest.mark.slow
@pytest.mark.proof
def test_a_model_that_outgrows_its_first_batch_trains_its_planned_steps(tmp_path: Path, capsys: Any) -> None:
    """First-batch calibration (no margin): some step leaves the range and is refused in seconds,
    naming the step, with nothing written. Calibrated for the planned run: every planned step
    stays inside, and the step the old circuit refused proves."""
    from zkgrad.circuits.ranges import lookup_range
    from zkgrad.model.data import batch
    from zkgrad.prover.step import prove_pending, witness_step
    from zkgrad.train.workspace import Workspace

    spec, ds = _tanh_model(scale=8)
    steps = 12
    old = Workspace.create(tmp_path / "first-batch", spec)
    old_c, _ = old.compile(ds, plan=CalibrationPlan(steps=1, margin=1.0))
    ck, refused = old.genesis(), None
    for t in range(steps):
        x, y = batch(ds, spec.batch_size, t, 0)
        try:
            ck = witness_step(old_c, ck, x, y, folder=old.step_dir(t + 1)).after
        except ProverError as e:
            refused = (t, str(e))
            break
    assert refused is not None, "the first batch's range lasted the run: the test model does not outgrow it"
    t_bad, msg = refused
    assert msg.startswith(f"step {t_bad + 1} leaves the circuit's lookup range") and "\n" not in msg
    assert "this circuit: 1 steps, margin 1.0): zkgrad model compile WORKSPACE --steps N --margin M" in msg
    assert not old.step_dir(t_bad + 1).exists()
    # the same step through the CLI: exit 1, one line on stderr, nothing written
    ck.save(tmp_path / "before")
    x, y = batch(ds, spec.batch_size, t_bad, 0)
    np.savez(tmp_path / "batch.npz", x=x, y=y.argmax(axis=1))
    code, _, err = run_cli(["prove", "step", "--model", old.root, "--checkpoint", tmp_path / "before",
                            "--batch", tmp_path / "batch.npz", "--out", tmp_path / "step-out"], capsys)
    assert code == 1 and f"step {t_bad + 1} leaves the circuit's lookup range" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "step-out").exists()

    new = Workspace.create(tmp_path / "planned", spec)
    new_c, _ = new.compile(ds, plan=CalibrationPlan(steps=steps, margin=2.0))  # its quantized run strays
    assert new_c.step.manifest["config"]["extra"]["calibration"]["steps"] == steps
    lo, hi = lookup_range(new_c.step)
    ck, pending = new.genesis(), None
    for t in range(steps):
        x, y = batch(ds, spec.batch_size, t, 0)
        p = witness_step(new_c, ck, x, y, folder=new.step_dir(t + 1))
        w = json.loads(p.witness_path.read_text())
        assert lo <= w["min_lookup_inputs"] and w["max_lookup_inputs"] <= hi
        if t == t_bad:
            pending = p
        else:
            p.discard()
        ck = p.after
    assert pending is not None
    proven, err, _ = guarded(lambda: prove_pending(new_c, pending), limit_s=900)
    assert err is None and proven.after.commitment == pending.after.commitment
