"""Witness and proof for a compiled circuit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import fsio
from ..circuits import engine
from ..circuits.artifacts import Circuit
from ..circuits.onnx_model import OnnxInterface, TensorSpec, normalize_sample
from ..circuits.ranges import check_witness
from ..errors import ProverError
from ..layout import felt
from ..progress import Reporter, Timings
from .proof import Proof, ProofResult


def interface_of(circuit: Circuit) -> OnnxInterface:
    m = circuit.manifest
    return OnnxInterface(
        tuple(TensorSpec(i["name"], tuple(i["shape"])) for i in m["inputs"]),
        tuple(TensorSpec(o["name"], tuple(o["shape"])) for o in m["outputs"]),
        frozenset(),
    )


def witness(circuit: Circuit, data: Path | dict[str, Any], *, out: Path, what: str = "the input") -> dict[str, Any]:
    """Quantized forward pass: the witness, written atomically to ``out``; refused (ProverError
    naming ``what``) when it leaves the circuit's lookup range, which no proof could cover."""
    raw = data if isinstance(data, dict) else fsio.read_json(Path(data), "input")
    norm = normalize_sample(raw, interface_of(circuit))
    out.parent.mkdir(parents=True, exist_ok=True)
    inp = out.with_name(f".{out.name}.input.{os.getpid()}.json")
    try:
        fsio.write_json(inp, norm)
        with fsio.temp_path(out) as tmp:
            engine.gen_witness(data=inp, compiled=circuit.compiled, out=tmp)
    finally:
        inp.unlink(missing_ok=True)
    w = fsio.read_json(out, "witness")  # the file has more than the return value (pretty_elements)
    check_witness(circuit, w, what=what)
    return w


def prove(
    circuit: Circuit,
    data: Path | dict[str, Any],
    *,
    out: Path,
    witness_out: Path | None = None,
    reporter: Reporter | None = None,
) -> ProofResult:
    """Witness then proof; the proof lands at ``out`` only when complete."""
    circuit.check_complete()
    out = Path(out)
    timings = Timings(reporter)
    wpath = Path(witness_out) if witness_out else out.with_name(f".{out.stem}.witness.{os.getpid()}.json")
    try:
        with timings.stage("witness"):
            w = witness(circuit, data, out=wpath)
        with timings.stage("prove"):
            with fsio.temp_path(out) as tmp:
                engine.prove(witness=wpath, compiled=circuit.compiled, pk=circuit.pk, proof=tmp, srs=circuit.srs)
                if not tmp.is_file():
                    raise ProverError("ezkl prove wrote no proof", hint="re-run with --debug")
    finally:
        if witness_out is None:  # an intermediate file: gone whether the proof succeeded or not
            wpath.unlink(missing_ok=True)
    return ProofResult(
        proof=Proof.load(out),
        outputs=rescaled_outputs(w),
        output_felts=[[felt(v) for v in t] for t in w.get("outputs", [])],
        witness=w,
        timings=dict(timings),
    )


def rescaled_outputs(w: dict[str, Any]) -> list[list[float]]:
    pretty = w.get("pretty_elements") or {}
    return [[float(v) for v in t] for t in pretty.get("rescaled_outputs", [])]
