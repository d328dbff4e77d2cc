"""Witness and proof for a compiled circuit.

:func:`prove_witness` is the one way zkgrad turns a witness into a proof: the serial path
(:func:`prove`, ``zkgrad.prover.step``), the proving pools' workers and every backend go through it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import engine, fsio
from ..circuits.artifacts import Circuit
from ..circuits.onnx_model import OnnxInterface, TensorSpec, normalize_sample
from ..circuits.ranges import check_witness
from ..errors import BackendUnavailableError, InputError, ProverError
from ..layout import felt
from ..progress import Reporter, Timings
from .backends import Backend, CpuBackend, check_build
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


def prove_witness(circuit: Circuit, witness_path: Path, out: Path, *, what: str = "the proof",
                  backend: Backend | None = None, timings: Timings | None = None) -> Proof:
    """The one way a proof is made. Refuses a circuit set up with another ezkl release than the
    one loaded (:func:`~zkgrad.prover.backends.check_build`) and a backend this machine lacks, proves
    ``witness_path`` with ``backend`` (the CPU by default), checks what ezkl wrote
    (:meth:`Proof.load`: one proof, one encoding) and only then renames it onto ``out``; the seconds
    it took are added to ``timings["prove"]``. Errors name ``what``."""
    backend = backend or CpuBackend()
    if not backend.available():
        raise BackendUnavailableError(f"the {backend.name} prover is not available: {backend.unavailable_reason()}",
                                      hint="use --device cpu", backend=backend.name)
    check_build(circuit)
    circuit.check_complete()
    out = Path(out)
    with (timings if timings is not None else Timings()).stage("prove"):
        with backend.device(), fsio.temp_path(out) as tmp:
            engine.prove(witness=Path(witness_path), compiled=circuit.compiled, pk=circuit.pk, proof=tmp,
                         srs=circuit.srs, what=what)
            if not tmp.is_file():
                raise ProverError(f"ezkl prove of {what} wrote no proof", hint="re-run with --debug",
                                  backend=backend.name)
            try:  # a proof ezkl wrote damaged never lands at ``out``
                made = Proof.load(tmp)
            except InputError as e:
                raise ProverError(f"ezkl prove of {what} wrote a damaged proof: {e.message}",
                                  hint="re-run with --debug; report it if it persists", backend=backend.name) from None
    return Proof(out, made.data)


def prove(
    circuit: Circuit,
    data: Path | dict[str, Any],
    *,
    out: Path,
    witness_out: Path | None = None,
    reporter: Reporter | None = None,
) -> ProofResult:
    """Witness then proof (:func:`prove_witness`, on the CPU); the proof lands at ``out`` only when complete."""
    circuit.check_complete()
    out = Path(out)
    timings = Timings(reporter)
    wpath = Path(witness_out) if witness_out else out.with_name(f".{out.stem}.witness.{os.getpid()}.json")
    try:
        with timings.stage("witness"):
            w = witness(circuit, data, out=wpath)
        proof = prove_witness(circuit, wpath, out, timings=timings)
    finally:
        if witness_out is None:  # an intermediate file: gone whether the proof succeeded or not
            wpath.unlink(missing_ok=True)
    return ProofResult(
        proof=proof,
        outputs=rescaled_outputs(w),
        output_felts=[[felt(v) for v in t] for t in w.get("outputs", [])],
        witness=w,
        timings=dict(timings),
    )


def rescaled_outputs(w: dict[str, Any]) -> list[list[float]]:
    pretty = w.get("pretty_elements") or {}
    return [[float(v) for v in t] for t in pretty.get("rescaled_outputs", [])]
