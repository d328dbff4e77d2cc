"""One proof, made in process or by a proving pool, with the same result either way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import fsio
from ..circuits.artifacts import Circuit
from ..circuits.onnx_model import normalize_sample
from ..layout import felt
from ..progress import Reporter
from .backends import select_backend
from .proof import Proof, ProofResult
from .prove import interface_of, prove, rescaled_outputs


def in_process(pool: str, device: str) -> tuple[bool, str | None]:
    """Whether proofs are made in this process (the serial pool on the CPU), and the one-line device
    notice to show. Other pools let each worker choose its device."""
    if pool != "serial":
        return False, None
    backend, notice = select_backend(device)
    return backend.name == "cpu", notice


def prove_pooled(circuit: Circuit, data: Path | dict[str, Any], *, out: Path, pool: str = "serial",
                 device: str = "auto", reporter: Reporter | None = None) -> tuple[ProofResult, str | None]:
    """(result, a one-line device notice or None: this process's, or the worker's that proved it)."""
    from .jobs import ProveJob, worker_id
    from .pool import open_pool

    local, notice = in_process(pool, device)
    if local:
        r = prove(circuit, data, out=out, reporter=reporter)
        return replace(r, prover={"pool": "serial", "backend": "cpu", "worker": worker_id(), "gpu_ids": []}), notice

    raw = data if isinstance(data, dict) else fsio.read_json(Path(data), "input")
    job = ProveJob.for_circuit(circuit, normalize_sample(raw, interface_of(circuit)), out, device=device)
    with open_pool(pool) as opened:
        (result,) = list(opened.map_ordered([job]))
    proof: Proof = result.write(out)
    w = result.witness
    return ProofResult(proof, rescaled_outputs(w), [[felt(v) for v in t] for t in w.get("outputs", [])], w,
                       {**result.timings}, {"pool": pool, "backend": result.backend, "worker": result.worker,
                                            "gpu_ids": list(result.gpu_ids)}), notice or result.notice
