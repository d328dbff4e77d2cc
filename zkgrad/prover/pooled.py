"""One proof, made in process or by a proving pool, with the same result either way."""

from __future__ import annotations

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


def prove_pooled(circuit: Circuit, data: Path | dict[str, Any], *, out: Path, pool: str = "serial",
                 device: str = "auto", reporter: Reporter | None = None) -> tuple[ProofResult, str | None]:
    """(result, a one-line device notice or None)."""
    if pool == "serial":
        backend, notice = select_backend(device)
        if backend.name == "cpu":
            return prove(circuit, data, out=out, reporter=reporter), notice
    from .pool import ProveJob, open_pool

    raw = data if isinstance(data, dict) else fsio.read_json(Path(data), "input")
    job = ProveJob.for_circuit(circuit, normalize_sample(raw, interface_of(circuit)), out, device=device)
    with open_pool(pool) as opened:
        (result,) = list(opened.map_ordered([job]))
    proof: Proof = result.write(out)
    w = result.witness
    return ProofResult(proof, rescaled_outputs(w), [[felt(v) for v in t] for t in w.get("outputs", [])], w,
                       {**result.timings}), None
