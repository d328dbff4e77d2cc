"""How the training loop gets its proofs: in process, or from a proving pool (local processes, Ray)."""

from __future__ import annotations

from typing import Iterator

from ..circuits.model_circuits import ModelCircuits
from ..prover.step import PendingStep, StepProof, finish_step
from .loop import Prover, serial_prover


def make_prover(pool: str = "serial", device: str = "auto") -> tuple[Prover, str | None]:
    """(prover, a one-line notice or None). ``serial`` on the CPU proves in this process."""
    from ..prover.backends import select_backend

    backend, notice = select_backend(device)
    if pool == "serial" and backend.name == "cpu":
        return (lambda c, ps: serial_prover(c, ps)), notice
    from ..prover.pool import open_pool

    opened = open_pool(pool)
    dev = backend.name

    def prove(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
        from ..prover.pool import ProveJob

        jobs = [ProveJob.for_circuit(circuits.step, p.input_data, p.proof_path, kind="step", device=dev)
                for p in pendings]
        for p, result in zip(pendings, opened.map_ordered(jobs)):
            proof = result.write(p.proof_path)
            yield finish_step(circuits, p, proof, {**result.timings, "worker": result.worker})  # type: ignore[dict-item]

    return prove, notice
