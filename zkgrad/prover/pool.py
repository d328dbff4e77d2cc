"""A proving pool: prove jobs serially, on local processes, or on a Ray cluster, behind one interface.

    pool = open_pool("local:2")            # or "serial", "ray://HEAD:10001", "ray:local:2"
    for result in pool.map_ordered(jobs):  # in submission order, each job id exactly once
        result.write(out_dir / job.output)
    pool.close()

Jobs and the pool interface are in ``zkgrad.prover.jobs``.
Each ezkl prove already uses every core of its machine: on one machine, ``local:N`` with N > 1
overlaps witness generation and proving but does not make N proofs N times faster.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from ..errors import InputError, ProverError
from .jobs import (
    JobFailure,
    JobResult,
    ProveJob,
    ProvingPool,
    run_job,
    run_job_safely,
    unwrap,
)


class SerialPool(ProvingPool):
    """In this process, one job at a time, at submission."""

    spec = "serial"

    def _submit(self, job: ProveJob) -> Callable[[float | None], JobResult]:
        result = run_job(job)
        return lambda timeout: result


class LocalPool(ProvingPool):
    """``n`` spawned processes on this machine. A process that dies takes the executor with it:
    its unfinished jobs are resubmitted on a fresh one, up to ``max_retries`` times each."""

    def __init__(self, n: int = 2, *, max_retries: int = 2) -> None:
        super().__init__()
        if n < 1:
            raise InputError(f"a local pool needs at least one worker, not {n}", hint="use local:N with N >= 1")
        self.n, self.max_retries, self.spec = n, max_retries, f"local:{n}"
        self._ctx = multiprocessing.get_context("spawn")
        self._executor: ProcessPoolExecutor | None = ProcessPoolExecutor(max_workers=n, mp_context=self._ctx)
        self._generation = 0

    def _pool(self, generation: int) -> tuple[ProcessPoolExecutor, int]:
        if self._executor is None:
            raise ProverError("the local pool is closed", hint="open a new pool")
        if generation < self._generation:  # already replaced since that future was made
            return self._executor, self._generation
        if generation == self._generation and getattr(self._executor, "_broken", False):
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = ProcessPoolExecutor(max_workers=self.n, mp_context=self._ctx)
            self._generation += 1
        return self._executor, self._generation

    def _submit(self, job: ProveJob) -> Callable[[float | None], JobResult]:
        state: dict[str, Any] = {"gen": self._generation, "tries": 0}
        state["fut"] = self._pool(state["gen"])[0].submit(run_job_safely, job)

        def wait(timeout: float | None) -> JobResult:
            while True:
                fut: Future[JobResult | JobFailure] = state["fut"]
                try:
                    return unwrap(fut.result(timeout))
                except BrokenProcessPool as e:
                    state["tries"] += 1
                    if state["tries"] > self.max_retries:
                        raise ProverError(f"job {job.job_id}: its worker process died {state['tries']} times",
                                          hint="check memory (a large proving key needs several GB per worker)",
                                          job_id=job.job_id) from e
                    executor, state["gen"] = self._pool(state["gen"])
                    state["fut"] = executor.submit(run_job_safely, job)

        return wait

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def open_pool(spec: str = "serial") -> ProvingPool:
    """``serial`` | ``local:N`` | ``ray://HOST:PORT`` | ``ray:auto`` | ``ray:local:N``."""
    spec = spec.strip()
    if spec == "serial":
        return SerialPool()
    if spec.startswith("local:"):
        return LocalPool(_count(spec, spec.removeprefix("local:")))
    if spec.startswith("ray://") or spec in ("ray", "ray:auto") or spec.startswith("ray:local:"):
        from .ray_pool import RayPool

        if spec.startswith("ray:local:"):
            return RayPool(local_cpus=_count(spec, spec.removeprefix("ray:local:")))
        return RayPool(address=spec if spec.startswith("ray://") else "auto")
    raise InputError(f"unknown pool '{spec}'", hint="use serial, local:N, ray://HOST:PORT, ray:auto or ray:local:N",
                     pool=spec)


def _count(spec: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"pool '{spec}' needs a worker count N >= 1", hint="e.g. local:2", pool=spec)
    return int(text)
