"""What pipelined proving buys: the same short training run (tiny 4-8-3 MLP, 4 steps, fresh local
chain each time) with witnesses computed one step ahead or several, proved serially or by a pool.

    python -m benchmarks.pipeline [--steps 4] [--out benchmarks/results/pipeline.json]

Each configuration trains from genesis on its own anvil; wall time covers witness, prove, submit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from zkgrad import fsio
from zkgrad.chain.anvil import anvil_node
from zkgrad.model.data import Dataset, batch
from zkgrad.model.spec import ModelSpec
from zkgrad.node import connect
from zkgrad.train.loop import train
from zkgrad.train.provers import make_prover
from zkgrad.train.register import ensure_registry, register
from zkgrad.train.workspace import Workspace

SPEC = ModelSpec(factory="zkgrad.models:tiny_mlp", loss="mse", lr=0.25, batch_size=2, input_shape=(4,),
                 target_shape=(3,), scale=12, seed=3)
CONFIGS = [("serial", 1), ("serial", 4), ("local:2", 2), ("local:2", 4)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(32, 4))
    ds = Dataset(x, np.tanh(x[:, :3] * 0.5 + 0.1), None)
    root = Path(tempfile.mkdtemp(prefix="zkgrad-pipeline-"))
    base = Workspace.create(root / "base", SPEC)
    base.compile(batch(ds, SPEC.batch_size, 0, 0))
    rows = []
    for pool, depth in CONFIGS:
        ws_root = root / f"{pool.replace(':', '-')}-d{depth}"
        shutil.copytree(base.root, ws_root, ignore=shutil.ignore_patterns("steps", "chain.json", "deployments.json"))
        ws = Workspace(ws_root)
        with anvil_node() as info, make_prover(pool, "cpu") as (prover, _):
            reg = ensure_registry(connect(info.rpc_url))
            mid = int(register(ws, reg)["model_id"])
            t0 = time.perf_counter()
            acc = train(ws, ds, reg, mid, steps=args.steps, seed=0, depth=depth, prover=prover)
            wall = time.perf_counter() - t0
        rows.append({"pool": pool, "depth": depth, "steps": len(acc), "wall_s": round(wall, 1),
                     "per_step_s": round(wall / max(1, len(acc)), 1)})
        print(json.dumps(rows[-1]), flush=True)
    fsio.write_json(args.out, {"steps": args.steps, "rows": rows})
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
