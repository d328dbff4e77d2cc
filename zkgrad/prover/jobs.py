"""Prove jobs and the interface every pool offers: a job carries its circuit's content key and
path and the input data; its proof comes back as data (never written by a worker), so the caller
writes it atomically where it wants. ``run_job`` is what each worker runs, on any pool."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from .. import errors, fsio
from ..circuits.artifacts import Circuit
from ..errors import CircuitError, InputError, ProverError, ZkgradError
from ..progress import Timings
from .backends import select_backend
from .proof import Proof
from .prove import prove_witness
from .prove import witness as make_witness

JobKind = Literal["step", "inference"]


@dataclass(frozen=True)
class ProveJob:
    """One proof to make. Picklable: it travels to worker processes and Ray workers."""

    circuit_key: str
    """The circuit's content key (``Circuit.key``); workers refuse a circuit with another key."""
    circuit_path: str
    """The circuit folder on the machine that submits the job."""
    data: dict[str, Any] = field(hash=False, repr=False)
    """The input, as ``zkgrad prove`` reads it from an input JSON file."""
    output: str
    """Where the caller means to write the proof (a name or path; the worker does not write it)."""
    kind: JobKind = "inference"
    """A label: a training ``step`` or an ``inference`` answer."""
    device: str = "cpu"
    """``cpu``, ``gpu`` or ``auto``: chosen on the worker; ``gpu`` jobs ask Ray for a GPU."""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Unique per pool: results are delivered once per job id."""
    label: str = ""
    """What the proof is, for errors (e.g. ``step 4``); default: the kind."""

    @classmethod
    def for_circuit(cls, circuit: Circuit, data: dict[str, Any], output: str | Path, *, kind: JobKind = "inference",
                    device: str = "cpu", job_id: str | None = None, label: str = "") -> "ProveJob":
        extra = {"job_id": job_id} if job_id else {}
        return cls(circuit_key=circuit.key, circuit_path=str(Path(circuit.path).resolve()), data=data,
                   output=str(output), kind=kind, device=device, label=label, **extra)


@dataclass(frozen=True)
class JobResult:
    """A finished job: the proof and witness as data, the time each stage took, who proved it."""

    job_id: str
    proof_json: dict[str, Any] = field(repr=False)
    witness: dict[str, Any] = field(repr=False)
    timings: dict[str, float]
    worker: str
    """``host:pid`` of the process that made the proof."""
    backend: str = "cpu"
    notice: str | None = None
    """Why the job ran on the CPU when it asked for ``auto`` (the one-line fallback notice)."""
    gpu_ids: tuple[str, ...] = ()
    """The GPUs the pool assigned to the job (Ray's ``get_gpu_ids()`` on the worker)."""

    def write(self, path: Path | str) -> Proof:
        """Write the proof atomically to ``path`` and load it back."""
        fsio.write_json(Path(path), self.proof_json)
        return Proof.load(path)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(job: ProveJob, circuit: Circuit | None = None, *, gpu_ids: tuple[str, ...] = ()) -> JobResult:
    """Prove one job in this process: witness, then the backend's proof (``prove_witness``), in a private temp dir."""
    circuit = circuit or Circuit.open(job.circuit_path)
    if circuit.key != job.circuit_key:
        raise CircuitError(f"circuit at {circuit.path} has key {circuit.key[:16]}, the job asks for {job.circuit_key[:16]}",
                           hint="submit the job with the circuit it was made for", job_id=job.job_id)
    backend, notice = select_backend(job.device)
    timings = Timings()
    what = job.label or f"the {job.kind} proof"
    with tempfile.TemporaryDirectory(prefix=f"zkgrad-job-{job.job_id[:12]}-") as tmp:
        wpath, ppath = Path(tmp) / "witness.json", Path(tmp) / "proof.json"
        with timings.stage("witness"):
            w = make_witness(circuit, job.data, out=wpath, what=what)
        proof = prove_witness(circuit, wpath, ppath, what=what, backend=backend, timings=timings).data
    return JobResult(job.job_id, proof, w, dict(timings), worker_id(), backend.name, notice, gpu_ids)


# --- errors across process boundaries ----------------------------------------------------
@dataclass(frozen=True)
class JobFailure:
    """A zkgrad error raised on a worker, sent back as plain data (hints survive pickling)."""

    job_id: str
    error_type: str
    message: str
    hint: str | None
    data: dict[str, Any]
    worker: str

    @classmethod
    def of(cls, job: ProveJob, err: ZkgradError) -> "JobFailure":
        data = {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in err.data.items()}
        return cls(job.job_id, type(err).__name__, err.message, err.hint, data, worker_id())

    def error(self) -> ZkgradError:
        cls = getattr(errors, self.error_type, None)
        data = {k: v for k, v in self.data.items() if k not in ("hint", "message", "job_id", "worker")}
        if isinstance(cls, type) and issubclass(cls, ZkgradError) and cls.__init__ is ZkgradError.__init__:
            return cls(self.message, hint=self.hint, job_id=self.job_id, worker=self.worker, **data)
        return ProverError(self.message, hint=self.hint, job_id=self.job_id, worker=self.worker, **data)


def run_job_safely(job: ProveJob, circuit: Circuit | None = None, *,
                   gpu_ids: tuple[str, ...] = ()) -> JobResult | JobFailure:
    """``run_job`` for worker processes: zkgrad errors come back as data, the rest raise."""
    try:
        return run_job(job, circuit, gpu_ids=gpu_ids)
    except ZkgradError as e:
        return JobFailure.of(job, e)


def unwrap(out: JobResult | JobFailure) -> JobResult:
    if isinstance(out, JobFailure):
        raise out.error()
    return out


# --- the interface -------------------------------------------------------------------------
class JobHandle:
    """A submitted job; ``result()`` waits for it. Each handle delivers its result once."""

    def __init__(self, job: ProveJob, wait: Callable[[float | None], JobResult]) -> None:
        self.job = job
        self._wait = wait

    @property
    def job_id(self) -> str:
        return self.job.job_id

    def result(self, timeout: float | None = None) -> JobResult:
        return self._wait(timeout)


class ProvingPool(ABC):
    """Submit prove jobs; collect their results in submission order."""

    spec: str = ""

    def __init__(self) -> None:
        self._submitted: set[str] = set()
        self._delivered: set[str] = set()

    def submit(self, job: ProveJob) -> JobHandle:
        if job.job_id in self._submitted:
            raise InputError(f"job {job.job_id} was already submitted to this pool",
                             hint="give each job its own job_id", job_id=job.job_id)
        self._submitted.add(job.job_id)
        wait = self._submit(job)
        return JobHandle(job, lambda timeout: self._deliver(job, wait, timeout))

    def _deliver(self, job: ProveJob, wait: Callable[[float | None], JobResult], timeout: float | None) -> JobResult:
        if job.job_id in self._delivered:
            raise InputError(f"the result of job {job.job_id} was already delivered",
                             hint="collect each result once", job_id=job.job_id)
        result = wait(timeout)
        if result.job_id != job.job_id:
            raise ProverError(f"pool returned job {result.job_id} for job {job.job_id}", hint="report this bug")
        self._delivered.add(job.job_id)
        return result

    @abstractmethod
    def _submit(self, job: ProveJob) -> Callable[[float | None], JobResult]:
        """Start the job; return a function that waits for its result."""

    def map_ordered(self, jobs: Iterable[ProveJob]) -> Iterator[JobResult]:
        """Submit every job, then yield their results in submission order."""
        handles = [self.submit(job) for job in jobs]
        for handle in handles:
            yield handle.result()

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> "ProvingPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
