"""One measured stage in its own process, so its peak memory is its own.

The parent (``benchmarks.run``) starts ``python -m benchmarks.child STAGE ARGS.json OUT.json`` and
reads the child's peak RSS from ``os.wait4``; the child writes the seconds of the measured calls
(imports excluded) to OUT.json. Stages named ``plain_*`` call ezkl directly, never zkgrad.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable


def run_child(stage: str, args: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run ``stage`` in a fresh Python; returns its result plus ``peak_rss_bytes`` and ``wall_s``."""
    work.mkdir(parents=True, exist_ok=True)
    args_path, out_path = work / f"{stage}.args.json", work / f"{stage}.out.json"
    args_path.write_text(json.dumps(args))
    out_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.child", stage, str(args_path), str(out_path)],
                            cwd=Path(__file__).resolve().parent.parent, stderr=subprocess.PIPE)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix every child so far)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out_path.is_file():
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"stage {stage} failed (exit {proc.returncode}): " + " | ".join(tail))
    result: dict[str, Any] = json.loads(out_path.read_text())
    result["peak_rss_bytes"] = int(usage.ru_maxrss) * 1024  # Linux reports KiB
    result["wall_s"] = round(wall, 3)
    return result


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - t0, 3)


# --- zkgrad stages ---------------------------------------------------------------------------
def zk_compile(a: dict[str, Any]) -> dict[str, Any]:
    """``compile_model`` (settings .. setup .. verifier) with a given config."""
    from zkgrad.circuits.compile import compile_model
    from zkgrad.circuits.config import CircuitConfig
    from zkgrad.verifier.solidity import build_verifier

    (circuit, reused), secs = _timed(lambda: compile_model(a["onnx"], a["sample"], out=a["out"],
                                                           config=CircuitConfig.from_dict(a["config"]),
                                                           verifier=build_verifier))
    return {"seconds": secs, "reused": reused, "path": str(circuit.path), "timings": circuit.manifest["timings"]}


def zk_compile_circuits(a: dict[str, Any]) -> dict[str, Any]:
    """``compile_circuits``: the step and answer circuits of a spec, as ``zkgrad`` builds them."""
    import numpy as np

    from zkgrad.circuits.model_circuits import compile_circuits
    from zkgrad.model.checkpoint import Checkpoint
    from zkgrad.model.spec import ModelSpec
    from zkgrad.verifier.solidity import build_verifier

    spec = ModelSpec.from_dict(a["spec"])
    with np.load(a["batch"]) as z:
        data = (z["x"], z["y"])
    plan = None
    if a.get("source"):  # calibrated as the workspace does: along the planned run on the named data
        from zkgrad.circuits.config import CalibrationPlan
        from zkgrad.model.dataset import load_for

        data, plan = load_for(spec, a["source"]), CalibrationPlan(steps=a["steps"], seed=spec.seed)
    (mc, reused), secs = _timed(lambda: compile_circuits(spec, Checkpoint.load(a["checkpoint"]), data, out=Path(a["out"]),
                                                              plan=plan, verifier=build_verifier))
    return {"seconds": secs, "reused": reused, "step_timings": mc.step.manifest["timings"],
            "answer_timings": mc.answer.manifest["timings"]}


def zk_prove_step(a: dict[str, Any]) -> dict[str, Any]:
    """``prove_step``: witness, checkpoint hashing, fidelity and proof, as a zkgrad user runs it."""
    import numpy as np

    from zkgrad.circuits.artifacts import Circuit
    from zkgrad.circuits.model_circuits import ModelCircuits
    from zkgrad.model.checkpoint import Checkpoint
    from zkgrad.model.spec import ModelSpec
    from zkgrad.prover.step import prove_step

    spec = ModelSpec.from_dict(a["spec"])
    step = Circuit.open(a["circuit"])
    before = Checkpoint.load(a["checkpoint"])
    with np.load(a["batch"]) as z:
        x, y = z["x"], z["y"]
    sp, secs = _timed(lambda: prove_step(ModelCircuits(spec, step, step), before, x, y, folder=Path(a["folder"])))
    return {"seconds": secs, "summary": sp.summary.to_dict(), "proof": str(sp.proof.path)}


def zk_prove(a: dict[str, Any]) -> dict[str, Any]:
    """``zkgrad.prover.prove.prove`` (witness then proof) on any circuit folder."""
    from zkgrad.circuits.artifacts import Circuit
    from zkgrad.prover.prove import prove

    res, secs = _timed(lambda: prove(Circuit.open(a["circuit"]), Path(a["data"]), out=Path(a["proof"]),
                                     witness_out=Path(a["witness"])))
    return {"seconds": secs, "timings": res.timings, "proof": str(res.path)}


# --- plain ezkl stages -------------------------------------------------------------------------
def plain_setup(a: dict[str, Any]) -> dict[str, Any]:
    """gen_settings, calibrate_settings, compile_circuit, setup: ezkl's own calls, nothing else."""
    import ezkl

    d = Path(a["dir"])
    d.mkdir(parents=True, exist_ok=True)
    onnx, data = a["onnx"], a["data"]
    settings, compiled = str(d / "settings.json"), str(d / "model.compiled")
    ra = ezkl.PyRunArgs()
    for k, v in a["run_args"].items():
        setattr(ra, k, v)
    t: dict[str, float] = {}
    _, t["gen_settings"] = _timed(lambda: ezkl.gen_settings(onnx, settings, py_run_args=ra))
    _, t["calibrate"] = _timed(lambda: ezkl.calibrate_settings(
        data, onnx, settings, a["target"], a["margin"], a["scales"], a["rebase"], a["max_logrows"]))
    mine = json.loads(Path(settings).read_text())
    ref = json.loads(Path(a["reference_settings"]).read_text())
    a_, b_ = _settings_core(mine), _settings_core(ref)
    same = a_ == b_
    diff = sorted(k for k in set(a_) | set(b_) if a_.get(k) != b_.get(k))
    # compile from zkgrad's settings file byte for byte: ezkl writes some lists in hash-map order,
    # and that order shapes the circuit (and its verification key) even when the content is equal
    shutil.copyfile(a["reference_settings"], settings)
    _, t["compile"] = _timed(lambda: ezkl.compile_circuit(onnx, compiled, settings))
    _, t["setup"] = _timed(lambda: ezkl.setup(compiled, str(d / "vk.key"), str(d / "pk.key"), a["srs"], None, False))
    return {"timings": t, "settings_identical": same, "settings_diff": diff, "logrows": mine["run_args"]["logrows"]}


def _settings_core(s: dict[str, Any]) -> Any:
    """Settings without the timestamp; unordered lists sorted (ezkl writes them in hash-map order)."""
    core = {k: v for k, v in s.items() if k != "timestamp"}
    for key in ("required_lookups", "required_range_checks"):  # also hash-set order
        if isinstance(core.get(key), list):
            core[key] = sorted(json.dumps(v, sort_keys=True) for v in core[key])
    eq = (core.get("einsum_params") or {}).get("equations")
    if isinstance(eq, list):
        core["einsum_params"] = {**core["einsum_params"],
                                 "equations": sorted(json.dumps(e, sort_keys=True) for e in eq)}
    return core


def plain_prove(a: dict[str, Any]) -> dict[str, Any]:
    """gen_witness then prove, straight through ezkl."""
    import ezkl

    d = Path(a["dir"])
    wit, proof = str(d / "witness.json"), str(d / "proof.json")
    t: dict[str, float] = {}
    _, t["witness"] = _timed(lambda: ezkl.gen_witness(a["data"], str(d / "model.compiled"), wit, None, None))
    _, t["prove"] = _timed(lambda: ezkl.prove(wit, str(d / "model.compiled"), str(d / "pk.key"), proof, a["srs"]))
    return {"timings": t, "proof": proof}


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "zk_compile": zk_compile, "zk_compile_circuits": zk_compile_circuits, "zk_prove_step": zk_prove_step, "zk_prove": zk_prove,
    "plain_setup": plain_setup, "plain_prove": plain_prove,
}


def main(argv: list[str]) -> int:
    stage, args_path, out_path = argv
    args = json.loads(Path(args_path).read_text())
    # ezkl prints calibration tables on stdout: keep them out of the parent's output
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    result = STAGES[stage](args)
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
