"""How the training loop gets its proofs: in process, or from a proving pool (local processes, Ray)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from ..circuits.model_circuits import ModelCircuits
from ..prover.step import PendingStep, StepProof, finish_step
from .loop import Prover, serial_prover


@contextmanager
def make_prover(pool: str = "serial", device: str = "auto", *,
                on_notice: Callable[[str], None] | None = None) -> Iterator[tuple[Prover, str | None]]:
    """(prover, a one-line notice or None), for the length of the block (a pool is closed after it).
    ``serial`` on the CPU proves in this process; other pools let their workers pick the device,
    and each distinct fallback notice of theirs goes to ``on_notice`` once."""
    from ..prover.pooled import in_process

    local, notice = in_process(pool, device)
    if local:
        yield (lambda c, ps: serial_prover(c, ps)), notice
        return
    from ..prover.jobs import ProveJob
    from ..prover.pool import open_pool

    seen: set[str] = set()
    with open_pool(pool) as opened:

        def prove(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
            jobs = [ProveJob.for_circuit(circuits.step, p.input_data, p.proof_path, kind="step", device=device,
                                         label=f"step {p.after.version}") for p in pendings]
            for p, result in zip(pendings, opened.map_ordered(jobs)):
                if result.notice and on_notice is not None and result.notice not in seen:
                    seen.add(result.notice)
                    on_notice(result.notice)
                yield finish_step(circuits, p, result.write(p.proof_path), dict(result.timings))

        yield prove, notice
