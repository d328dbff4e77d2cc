"""Gather a run's records (local step summaries joined with the chain) and write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import fsio
from ..model.dataset import load_for
from .shadow import accuracy, shadow_run
from .workspace import Workspace


def write_run_report(ws: Workspace, out: Path, *, rpc: str | None = None, meta: dict[str, Any] | None = None,
                     lineage: list[dict[str, Any]] | None = None,
                     evaluations: dict[int, float] | None = None) -> tuple[Path, Path]:
    """``lineage``/``evaluations``: what the chain recorded (accepted updates, proven accuracy by
    version), for a run whose chain is gone (the demo's private anvil)."""
    from .loop import step_records
    from .report_page import write_report

    fsio.check_target(Path(out), "report")  # refused before the shadow run and the plots
    meta = dict(meta or {})
    registry = model_id = None
    if rpc:
        from ..chain.registry import Registry
        from ..node import chain_id, connect

        w3 = connect(rpc)
        rec = ws.deployment(chain_id(w3))
        if rec:
            registry, model_id = Registry(w3, rec["registry"]), int(rec["model_id"])
            meta.update({"model id": model_id, "registry": rec["registry"], "chain id": chain_id(w3)})
    records = step_records(ws, registry, model_id)
    if lineage is not None and registry is None:  # chain already gone (demo): join with the lineage it read
        by_after = {r["after"]: r for r in lineage}
        for r in records:
            c = by_after.get(r["after"])
            r.update({"accepted": c is not None, "gas_used": c and c["gas_used"], "tx_hash": c and c["tx"],
                      "prover": c and c["prover"], "block": c and c["block"]})
    spec = ws.spec
    run = ws.run_info()
    train_ds = load_for(spec, run["data"])
    held = ws.dataset().held_out if ws.dataset_path.is_file() else None
    held_ds = load_for(spec, held.source) if held is not None and spec.loss == "cross_entropy" else None
    n = ws.genesis().n_params
    float_acc: list[float] = []
    shadow, _ = shadow_run(ws.circuits().step.onnx, spec, ws.genesis(), train_ds, steps=len(records),
                           seed=int(run["seed"]),
                           each=(lambda st: float_acc.append(accuracy(spec, st[:n], held_ds))) if held_ds else None,
                           ) if records else ([], [])
    if held_ds is not None:  # held-out accuracy of each accepted head (computed), the float run's, and proven ones
        proven = {e.version: e.accuracy for e in registry.evaluations(model_id)} if registry and model_id else \
            dict(evaluations or {})
        for i, r in enumerate(records):
            ck = ws.checkpoint_for(bytes.fromhex(str(r["after"])[2:]))
            r.update({"accuracy": accuracy(spec, ck.float_state()[:n], held_ds) if ck else None,
                      "shadow_accuracy": float_acc[i] if i < len(float_acc) else None,
                      "proven_accuracy": proven.get(int(r["version"]))})
    meta.update({"data": run["data"], "batch seed": run["seed"]})
    try:
        if ws.circuits().step.dev_srs:
            meta["SRS"] = "development SRS: NOT secure, for testing only"
    except Exception:  # noqa: BLE001 - circuits not compiled: nothing to say about the SRS
        pass
    with fsio.staged_dir(Path(out), "report") as tmp:
        png, html = write_report(records, shadow, tmp, title=f"zkgrad run: {ws.root.name}", meta=meta)
    return Path(out) / png.name, Path(out) / html.name
