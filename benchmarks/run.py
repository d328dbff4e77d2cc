"""Benchmarks of zkgrad's reference circuits against plain ezkl; writes BENCHMARKS.md.

    python -m benchmarks.run --quick                      # small MLP, 1 repetition
    python -m benchmarks.run --repeat 3                   # digits MLP 64-16-10 batch 8: both sections
    python -m benchmarks.run --only inference --repeat 1  # one section; the other keeps its last results
    python -m benchmarks.run --only gpt-step --repeat 1   # the language-model demo's step (opt-in)

Every stage whose memory is reported runs in its own process (``benchmarks.child``). zkgrad and
plain ezkl calls alternate within a run, so machine load hits both alike. Results accumulate in
``--results`` (JSON, one entry per section with its command and machine) and BENCHMARKS.md is
re-rendered from all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

SECTIONS = ("step", "inference")
OPT_IN = ("gpt-step",)
REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="digits MLP 64-4-10 batch 2 (small circuits), 1 repetition")
    p.add_argument("--repeat", "-r", type=int, default=None, help="repetitions of each headline prove (median); default 3, quick 1")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections among {', '.join(SECTIONS + OPT_IN)}")
    p.add_argument("--home", type=Path, default=Path(os.environ.get("ZKGRAD_HOME", "/tmp/bench-home")),
                   help="private ZKGRAD_HOME (SRS cache, circuits, work files)")
    p.add_argument("--results", type=Path, default=None, help="results JSON (default benchmarks/results/bench.json, kept in the repository; --quick: HOME/bench/results-quick.json)")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown file to write (default: BENCHMARKS.md in the repository; --quick: HOME/bench/BENCHMARKS-quick.md)")
    p.add_argument("--render-only", action="store_true", help="only re-render --out from --results")
    p.add_argument("--regas", action="store_true",
                   help="only measure verification gas again for the proofs of the recorded step and inference sections")
    a = p.parse_args(argv)
    a.only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [s for s in a.only if s not in SECTIONS + OPT_IN]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose among {', '.join(SECTIONS + OPT_IN)}")
    if a.repeat is None:
        a.repeat = 1 if a.quick else 3
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    if a.results is None:
        a.results = a.home / "bench" / "results-quick.json" if a.quick else REPO / "benchmarks" / "results" / "bench.json"
    if a.out is None:
        a.out = a.home / "bench" / "BENCHMARKS-quick.md" if a.quick else REPO / "BENCHMARKS.md"
    return a


# --- the reference model ------------------------------------------------------------------------
def reference(quick: bool, scale: int = 12) -> SimpleNamespace:
    from zkgrad.model import data
    from zkgrad.model.checkpoint import genesis
    from zkgrad.model.spec import ModelSpec

    hidden, bs = (4, 2) if quick else (16, 8)
    spec = ModelSpec(factory="zkgrad.models:digits_mlp", factory_kwargs={"hidden": hidden}, loss="cross_entropy",
                     lr=0.5, batch_size=bs, input_shape=(64,), target_shape=(10,), scale=scale, seed=0)
    ds = data.digits()
    x, y = data.batch(ds, bs, 0, 0)
    return SimpleNamespace(spec=spec, genesis=genesis(spec), x=x, y=y,
                           label=f"digits MLP 64-{hidden}-10, batch {bs}, cross-entropy, SGD lr 0.5")


def gpt_reference() -> SimpleNamespace:
    """The language-model demo's step (``zkgrad demo --lm``) on its first batch of windows, its
    circuit calibrated along the demo's planned run."""
    from zkgrad.model import data
    from zkgrad.model.checkpoint import genesis
    from zkgrad.model.dataset import load_for
    from zkgrad.train.lm_demo import LmDemoConfig

    cfg = LmDemoConfig()
    spec, steps = cfg.spec(), cfg.plan().steps
    x, y = data.batch(load_for(spec, "corpus:train"), spec.batch_size, 0, spec.seed)
    kw = spec.factory_kwargs
    return SimpleNamespace(spec=spec, genesis=genesis(spec), x=x, y=y, calibration={"source": "corpus:train", "steps": steps},
                           label=f"the language-model demo's GPT (d {kw['dim']}, MLP {kw['mlp']}, context "
                                 f"{kw['context']}, vocabulary {kw['vocab']}), batch {spec.batch_size}, next-token "
                                 f"cross-entropy, SGD lr {spec.lr:g}, calibrated along {steps} planned steps as the demo is")


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _size(path: Path | str) -> int:
    return Path(path).stat().st_size


def _proof_bytes(proof_json: Path | str) -> int:
    from zkgrad.prover.proof import Proof

    return len(Proof.load(proof_json).proof_bytes)


def _plain_run_args(cfg: Any) -> dict[str, Any]:
    ra = {"input_visibility": cfg.input_visibility, "output_visibility": cfg.output_visibility,
          "param_visibility": cfg.param_visibility, "num_inner_cols": cfg.num_inner_cols}
    if cfg.scale is not None:
        ra.update(input_scale=cfg.scale, param_scale=cfg.scale)
    if cfg.scale_rebase_multiplier is not None:
        ra["scale_rebase_multiplier"] = cfg.scale_rebase_multiplier
    return ra


def _plain_setup_args(circuit: Any, srs: Path, folder: Path) -> dict[str, Any]:
    cfg = circuit.config
    calibrated_on = circuit.path / "calibration.json"  # a model's circuits: states along the planned run
    return {"dir": str(folder), "onnx": str(circuit.onnx),
            "data": str(calibrated_on if calibrated_on.is_file() else circuit.sample),
            "run_args": _plain_run_args(cfg), "target": cfg.calibration_target, "margin": cfg.lookup_safety_margin,
            "scales": [cfg.scale] if cfg.scale is not None else None,
            "rebase": [cfg.scale_rebase_multiplier] if cfg.scale_rebase_multiplier else [1, 2, 10],
            "max_logrows": cfg.max_logrows, "reference_settings": str(circuit.settings), "srs": str(srs)}


def _gas(circuit: Any, proofs: dict[str, Path]) -> dict[str, Any]:
    """Deploy the circuit's verifier as zkgrad does (a single verifier, or ezkl's reusable verifier
    plus a VKA adapter when the single one is over EIP-170) on a private anvil, and estimate
    ``verifyProof(bytes,uint256[])`` for each proof."""
    from zkgrad.chain.anvil import anvil_node
    from zkgrad.chain.deployments import deploy_verifier, verify_onchain
    from zkgrad.node import connect
    from zkgrad.prover.proof import Proof

    v = circuit.verifier()
    out: dict[str, Any] = {"kind": v.get("kind", "single"), "runtime_size": v["runtime_size"],
                           "over_eip170": not v.get("within_eip170", True)}
    with anvil_node() as node:
        w3 = connect(node.rpc_url)
        d = deploy_verifier(w3, circuit, force=True)
        out["deploy_gas"] = d.gas_used
        for name, path in proofs.items():
            proof = Proof.load(path)
            verdict, gas = verify_onchain(w3, d.address, proof)
            out[f"verify_gas_{name}"] = gas if verdict else None
            out[f"accepted_{name}"] = bool(verdict)
            out["public_values"] = len(proof.instances)
    return out


def regas(results: dict[str, Any], args: argparse.Namespace, command: str) -> None:
    """Measure verification gas again for the proofs the step and inference sections left on disk."""
    from zkgrad.circuits.artifacts import Circuit

    work = args.home / "bench" / ("work-quick" if args.quick else "work")
    base = args.home / "circuits"
    step = results["sections"].get("step")
    if step:
        d = step["data"]
        r = d["repeat"] - 1
        proofs = d.get("proofs") or {"zkgrad": str(work / f"zk-step-{r}" / "proof.json"),
                                     "plain": str(work / "plain-step" / "proof.json")}
        circuit = Circuit.open(d.get("circuit") or base / ("step-quick" if args.quick else "step") / "step")
        d["gas"] = _gas(circuit, {k: Path(v) for k, v in proofs.items()}) | {"command": command}
    inf = results["sections"].get("inference")
    if inf:
        r = inf["data"]["repeat"] - 1
        for name, c in inf["data"]["circuits"].items():
            proofs = c.get("proofs") or {"zkgrad": str(work / f"zk-{name}-{r}.proof.json"),
                                         "plain": str(work / f"plain-{name}" / "proof.json")}
            path = c.get("circuit") or (base / ("step-quick" if args.quick else "step") / "answer" if name == "answer"
                                        else base / ("mlp-inference-quick" if args.quick else "mlp-inference"))
            c["gas"] = _gas(Circuit.open(path), {k: Path(v) for k, v in proofs.items()}) | {"command": command}


def _vk_same(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


# --- section: the training step, zkgrad against plain ezkl ---------------------------------------
def bench_step(args: argparse.Namespace, work: Path, log: Any, gpt: bool = False) -> dict[str, Any]:
    import numpy as np

    from benchmarks.child import run_child
    from zkgrad.circuits.artifacts import Circuit

    ref = gpt_reference() if gpt else reference(args.quick)
    mc_dir = args.home / "circuits" / ("step-gpt" if gpt else "step-quick" if args.quick else "step")
    work = work / "gpt" if gpt else work
    work.mkdir(parents=True, exist_ok=True)
    ckpt_dir = work / "genesis"
    ref.genesis.save(ckpt_dir)
    batch = work / "batch.npz"
    np.savez(batch, x=ref.x, y=ref.y)
    log("step: zkgrad compile_circuits (settings, calibrate, setup, verifier) of step and answer")
    zc = run_child("zk_compile_circuits", {"spec": ref.spec.to_dict(), "checkpoint": str(ckpt_dir),
                                           "batch": str(batch), "out": str(mc_dir), **getattr(ref, "calibration", {})},
                   work)
    step = Circuit.open(mc_dir / "step")
    srs = step.srs
    plain_dir = work / "plain-step"
    shutil.rmtree(plain_dir, ignore_errors=True)
    log("step: plain ezkl gen_settings, calibrate, compile, setup")
    ps = run_child("plain_setup", _plain_setup_args(step, srs, plain_dir), work)
    zk_runs, plain_runs = [], []
    for r in range(args.repeat):
        log(f"step: repetition {r + 1}/{args.repeat}: zkgrad prove_step")
        folder = work / f"zk-step-{r}"
        shutil.rmtree(folder, ignore_errors=True)
        zk_runs.append(run_child("zk_prove_step", {"spec": ref.spec.to_dict(), "circuit": str(step.path),
                                                   "checkpoint": str(ckpt_dir), "batch": str(batch),
                                                   "folder": str(folder)}, work))
        log(f"step: repetition {r + 1}/{args.repeat}: plain ezkl gen_witness, prove")
        plain_runs.append(run_child("plain_prove", {"dir": str(plain_dir), "data": str(step.sample),
                                                    "srs": str(srs)}, work))
    log("step: verification gas on anvil")
    gas = _gas(step, {"zkgrad": Path(zk_runs[-1]["proof"]), "plain": Path(plain_runs[-1]["proof"])})
    summ = zk_runs[-1]["summary"]
    zk_prove = _median([z["summary"]["timings"]["prove"] for z in zk_runs])
    pl_prove = _median([p["timings"]["prove"] for p in plain_runs])
    zk_setup = zc["step_timings"]["setup"]
    pl_setup = ps["timings"]["setup"]
    zk_peak = max(z["peak_rss_bytes"] for z in zk_runs)
    pl_peak = max(p["peak_rss_bytes"] for p in plain_runs)
    return {
        "model": ref.label, "logrows": step.logrows, "num_rows": step.manifest.get("num_rows"),
        "config": step.manifest["config"] | {"extra": "(spec)"}, "repeat": args.repeat,
        "reused_circuit": zc["reused"],
        "zkgrad": {"setup_s": zk_setup, "compile_total_s": zc["seconds"], "setup_peak_rss": zc["peak_rss_bytes"],
                   "witness_s": _median([z["summary"]["timings"]["witness"] for z in zk_runs]),
                   "prove_s": zk_prove, "prove_runs_s": [z["summary"]["timings"]["prove"] for z in zk_runs],
                   "prove_step_total_s": _median([z["seconds"] for z in zk_runs]), "prove_peak_rss": zk_peak,
                   "pk_bytes": _size(step.pk), "vk_bytes": _size(step.vk),
                   "proof_bytes": _proof_bytes(zk_runs[-1]["proof"]), "proof_json_bytes": _size(zk_runs[-1]["proof"])},
        "plain": {"setup_s": pl_setup, "calibrate_s": ps["timings"]["calibrate"], "setup_peak_rss": ps["peak_rss_bytes"],
                  "settings_identical": ps["settings_identical"], "settings_diff": ps.get("settings_diff"),
                  "witness_s": _median([p["timings"]["witness"] for p in plain_runs]),
                  "prove_s": pl_prove, "prove_runs_s": [p["timings"]["prove"] for p in plain_runs],
                  "prove_peak_rss": pl_peak, "pk_bytes": _size(plain_dir / "pk.key"),
                  "proof_bytes": _proof_bytes(plain_runs[-1]["proof"]),
                  "vk_identical": _vk_same(step.vk, plain_dir / "vk.key")},
        "ratio": {"setup": round(zk_setup / pl_setup, 3), "prove": round(zk_prove / pl_prove, 3),
                  "peak": round(zk_peak / pl_peak, 3)},
        "gas": gas,
        "fidelity": {k: summ[k] for k in ("loss", "float_loss", "max_abs_param_diff")},
        "answer_circuit": str(mc_dir / "answer"), "circuit": str(step.path),
        "proofs": {"zkgrad": zk_runs[-1]["proof"], "plain": plain_runs[-1]["proof"]},
    }


# --- section: inference circuits -------------------------------------------------------------------
def bench_inference(args: argparse.Namespace, work: Path, log: Any) -> dict[str, Any]:
    import torch

    from benchmarks.child import run_child
    from zkgrad.circuits.artifacts import Circuit
    from zkgrad.circuits.config import CircuitConfig
    from zkgrad.circuits.export import export_module, sample_json
    from zkgrad.model.quant import dequantize, quantize

    ref = reference(args.quick)
    mc_dir = args.home / "circuits" / ("step-quick" if args.quick else "step")
    rows: dict[str, Any] = {}
    # (1) answer: inference bound to committed weights (compiled with the step by compile_circuits)
    if not (mc_dir / "answer" / "manifest.json").is_file():
        import numpy as np

        ref.genesis.save(work / "genesis")
        np.savez(work / "batch.npz", x=ref.x, y=ref.y)
        log("inference: compile_circuits (step and answer)")
        run_child("zk_compile_circuits", {"spec": ref.spec.to_dict(), "checkpoint": str(work / "genesis"),
                                          "batch": str(work / "batch.npz"), "out": str(mc_dir)}, work)
    answer = Circuit.open(mc_dir / "answer")
    # (2) plain: the same MLP with its genesis weights inside the graph, public input and output
    module = ref.spec.build_module()
    with torch.no_grad():
        for (name, p), q in zip(module.named_parameters(), ref.genesis.float_state()):
            p.copy_(torch.tensor(q, dtype=p.dtype).reshape(p.shape))
    x1 = torch.tensor(dequantize(quantize(ref.x[:1], ref.spec.scale), ref.spec.scale), dtype=torch.float32)
    onnx = export_module(module, x1, work / "mlp-inference.onnx", input_names=["x"], output_names=["logits"])
    sample = work / "mlp-inference.sample.json"
    sample.write_text(json.dumps(sample_json(x1)))
    log("inference: compile plain-weights inference circuit")
    zc = run_child("zk_compile", {"onnx": str(onnx), "sample": str(sample), "out": str(args.home / "circuits" / (
        "mlp-inference-quick" if args.quick else "mlp-inference")),
        "config": CircuitConfig(kind="inference", scale=ref.spec.scale).to_dict()}, work)
    inference = Circuit.open(zc["path"])
    weights = f"weights as {answer.config.input_visibility} inputs (AnswerLayout, {ref.spec.commitment} commitment), batch 1"
    for name, circuit, what in (("answer", answer, weights),
                                ("inference", inference, "weights fixed in the circuit, input and output public, batch 1")):
        srs = circuit.srs
        plain_dir = work / f"plain-{name}"
        shutil.rmtree(plain_dir, ignore_errors=True)
        log(f"inference: {name}: plain ezkl setup")
        ps = run_child("plain_setup", _plain_setup_args(circuit, srs, plain_dir), work)
        zk_runs, plain_runs = [], []
        for r in range(args.repeat):
            log(f"inference: {name}: repetition {r + 1}/{args.repeat}")
            zk_runs.append(run_child("zk_prove", {"circuit": str(circuit.path), "data": str(circuit.sample),
                                                  "proof": str(work / f"zk-{name}-{r}.proof.json"),
                                                  "witness": str(work / f"zk-{name}-{r}.witness.json")}, work))
            plain_runs.append(run_child("plain_prove", {"dir": str(plain_dir), "data": str(circuit.sample),
                                                        "srs": str(srs)}, work))
        gas = _gas(circuit, {"zkgrad": Path(zk_runs[-1]["proof"]), "plain": Path(plain_runs[-1]["proof"])})
        zk_prove = _median([z["timings"]["prove"] for z in zk_runs])
        pl_prove = _median([p["timings"]["prove"] for p in plain_runs])
        zk_peak = max(z["peak_rss_bytes"] for z in zk_runs)
        pl_peak = max(p["peak_rss_bytes"] for p in plain_runs)
        rows[name] = {
            "what": what, "logrows": circuit.logrows, "num_instances": circuit.manifest.get("num_instances"),
            "zkgrad": {"setup_s": circuit.manifest["timings"].get("setup"), "prove_s": zk_prove,
                       "witness_s": _median([z["timings"]["witness"] for z in zk_runs]), "prove_peak_rss": zk_peak,
                       "pk_bytes": _size(circuit.pk), "proof_bytes": _proof_bytes(zk_runs[-1]["proof"])},
            "plain": {"setup_s": ps["timings"]["setup"], "prove_s": pl_prove, "prove_peak_rss": pl_peak,
                      "settings_identical": ps["settings_identical"], "vk_identical": _vk_same(circuit.vk, plain_dir / "vk.key"),
                      "witness_s": _median([p["timings"]["witness"] for p in plain_runs])},
            "ratio": {"prove": round(zk_prove / pl_prove, 3), "peak": round(zk_peak / pl_peak, 3)},
            "gas": gas, "circuit": str(circuit.path),
            "proofs": {"zkgrad": zk_runs[-1]["proof"], "plain": plain_runs[-1]["proof"]},
        }
    return {"model": ref.label.split(",")[0], "repeat": args.repeat, "circuits": rows}


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"sections": {}}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["ZKGRAD_HOME"] = str(args.home)
    sys.path.insert(0, str(REPO))
    from benchmarks.machine import command_line, machine
    from benchmarks.report import render
    from zkgrad import fsio

    results = load_results(args.results)
    args.command = command_line(list(argv) if argv is not None else None)
    if args.regas:
        regas(results, args, command_line(list(argv) if argv is not None else None))
        fsio.write_json(args.results, results)
    elif not args.render_only:
        work = args.home / "bench" / ("work-quick" if args.quick else "work")
        work.mkdir(parents=True, exist_ok=True)
        t_start = time.time()

        def log(msg: str) -> None:
            print(f"[{time.time() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

        benches = {"step": bench_step, "inference": bench_inference,
                   "gpt-step": lambda *a: bench_step(*a, gpt=True)}
        for section in [s for s in SECTIONS + OPT_IN if s in args.only]:
            m = machine()
            t0 = time.time()
            data = benches[section](args, work, log)
            m["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
            results = load_results(args.results)  # another run may have written meanwhile: merge, keep theirs
            results["sections"][section] = {"command": command_line(list(argv) if argv is not None else None),
                                            "machine": m, "wall_s": round(time.time() - t0, 1), "data": data}
            fsio.write_json(args.results, results)  # after each section: a partial run keeps what it measured
    fsio.write_text(args.out, render(results))
    print(f"wrote {args.out} (results in {args.results})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
