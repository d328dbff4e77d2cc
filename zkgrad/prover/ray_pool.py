"""The proving pool on a Ray cluster.

Jobs run as Ray tasks (``max_retries``: a task whose worker process or node dies is run again
elsewhere; ``retry_exceptions`` off: a job that fails cleanly is not retried). ``gpu`` jobs, and
``auto`` jobs on a cluster with GPUs, ask Ray for ``num_gpus=1`` (:func:`gpus_for`), so they land
only on nodes started with ``--num-gpus``; the worker then picks its backend.

Circuit artifacts travel by content hash: the driver puts each file of a circuit folder (and its
SRS) into Ray's object store once per circuit key; a worker fetches them only when its cache
``$ZKGRAD_HOME/worker-cache/<key>/`` lacks them, checks every file's sha256 (the SRS against the
circuit manifest), and later jobs of that circuit on that node reuse the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import fsio
from ..circuits.artifacts import Circuit, sha256_bytes
from ..errors import BackendUnavailableError, CircuitError, InputError, ProverError
from ..fsio import zkgrad_home
from .jobs import JobFailure, JobResult, ProveJob, ProvingPool, run_job_safely, unwrap
from .ray_start import (
    is_startup_timeout,
    listening,
    raised_waits,
    ray_children,
    ray_start_s,
    start_until,
    stop_children_since,
)

# what a worker needs to prove (the ONNX model and Solidity verifier stay home)
SHIPPED = ("manifest.json", "settings.json", "model.compiled", "pk.key", "vk.key", "verifier.json", "sample.json")
CACHE_TABLE = "worker-files.json"


@dataclass(frozen=True)
class ShippedFile:
    name: str
    sha256: str
    size: int
    ref: Any  # a ray.ObjectRef holding the bytes (nested in the argument: fetched only on a cache miss)


@dataclass(frozen=True)
class Bundle:
    """A circuit's files in the object store, with the hashes a worker checks them against."""

    key: str
    files: tuple[ShippedFile, ...]
    srs: ShippedFile


def worker_cache() -> Path:
    return zkgrad_home() / "worker-cache"


# --- driver side ---------------------------------------------------------------------------
def make_bundle(circuit: Circuit, put: Callable[[bytes], Any]) -> Bundle:
    circuit.check_complete()
    files = []
    for name in SHIPPED:
        path = circuit.path / name
        if path.is_file():
            data = path.read_bytes()
            files.append(ShippedFile(name, sha256_bytes(data), len(data), put(data)))
    srs_data = circuit.srs.read_bytes()  # circuit.srs refuses a file whose sha256 is not the recorded one
    srs_sha = str(circuit.manifest["srs"]["sha256"])  # the worker checks the bytes it gets against it
    return Bundle(circuit.key, tuple(files), ShippedFile("srs", srs_sha, len(srs_data), put(srs_data)))


# --- worker side ---------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fetch(item: ShippedFile, get: Callable[[Any], bytes]) -> bytes:
    data = get(item.ref)
    if len(data) != item.size or sha256_bytes(data) != item.sha256:
        raise CircuitError(f"circuit file {item.name} arrived corrupted (sha256 mismatch)",
                           hint="re-run the job; if it persists, check the driver's circuit folder", file=item.name)
    return data


def _cached(folder: Path, bundle: Bundle) -> bool:
    """A complete cache entry whose files have the sizes and hashes of this bundle."""
    table = folder / CACHE_TABLE
    if not table.is_file():
        return False
    recorded = json.loads(table.read_text())
    want = {f.name: f.sha256 for f in bundle.files}
    if recorded.get("files") != want or recorded.get("srs") != bundle.srs.sha256:
        return False
    srs = Path(recorded["srs_path"])
    sizes: dict[str, int] = recorded.get("sizes", {})
    return all((folder / n).is_file() and (folder / n).stat().st_size == sizes.get(n) for n in want) and \
        srs.is_file() and srs.stat().st_size == bundle.srs.size


def materialize(bundle: Bundle, get: Callable[[Any], bytes], root: Path | None = None) -> tuple[Circuit, bool]:
    """The circuit folder for ``bundle`` in this node's cache: (circuit, fetched_now)."""
    root = root or worker_cache()
    folder = root / bundle.key
    if _cached(folder, bundle):
        return Circuit(folder), False
    with _locked(root / f".{bundle.key}.lock"):
        if _cached(folder, bundle):  # another worker on this node filled it meanwhile
            return Circuit(folder), False
        srs_path = root / "srs" / f"{bundle.srs.sha256}.srs"
        if not (srs_path.is_file() and srs_path.stat().st_size == bundle.srs.size):
            fsio.write_bytes(srs_path, _fetch(bundle.srs, get))
        with fsio.staged_dir(folder, "circuit") as tmp:
            for item in bundle.files:
                data = _fetch(item, get)
                if item.name == "manifest.json":  # point the manifest at this node's copy of the SRS
                    manifest = json.loads(data)
                    if manifest.get("key") != bundle.key:
                        raise CircuitError("shipped manifest has another circuit key", hint="report this bug")
                    manifest["srs"] = {**manifest["srs"], "path": str(srs_path.resolve())}
                    fsio.write_json(tmp / item.name, manifest)
                else:
                    fsio.write_bytes(tmp / item.name, data)
            fsio.write_json(tmp / CACHE_TABLE, {
                "files": {f.name: f.sha256 for f in bundle.files},  # as shipped (the manifest is then rewritten)
                "sizes": {f.name: (tmp / f.name).stat().st_size for f in bundle.files},  # as cached here
                "srs": bundle.srs.sha256, "srs_path": str(srs_path.resolve())})
    return Circuit(folder), True


def _prove_on_worker(job: ProveJob, boxed: list[Bundle]) -> JobResult | JobFailure:
    import ray

    try:
        circuit, _ = materialize(boxed[0], ray.get)
    except CircuitError as e:
        return JobFailure.of(job, e)
    return run_job_safely(job, circuit, gpu_ids=tuple(str(g) for g in ray.get_gpu_ids()))


def gpus_for(device: str, cluster_gpus: float) -> int:
    """The GPUs a job asks Ray for: ``gpu`` one (refused at once on a cluster with none, where it
    would wait forever), ``auto`` one when the cluster has any (it waits for a free GPU rather
    than proving on a CPU slot), ``cpu`` none."""
    if device == "cpu":
        return 0
    if cluster_gpus >= 1:
        return 1
    if device == "gpu":
        raise BackendUnavailableError(
            "the Ray cluster has no GPU: a --device gpu job would wait forever",
            hint="start GPU nodes with 'ray start --address=HEAD:6379 --num-gpus=1', or use --device auto or cpu",
            cluster_gpus=cluster_gpus)
    return 0


def _quiet_ray_client() -> None:
    """The Ray client prints the cluster's own INFO/WARNING log lines on the driver's stderr;
    zkgrad reports what matters itself (errors still pass)."""
    logging.getLogger("ray.client_builder").setLevel(logging.WARNING)
    stream = logging.getLogger("ray.util.client.logsclient")  # its level is reset at connect: filter instead
    if not any(isinstance(f, _ErrorsOnly) for f in stream.filters):
        stream.addFilter(_ErrorsOnly())


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


# --- the pool ------------------------------------------------------------------------------
class RayPool(ProvingPool):
    """Jobs on a Ray cluster: ``address`` is ``ray://HOST:PORT`` (Ray client), ``auto`` (a cluster
    this machine belongs to), or None with ``local_cpus=N`` to start a private local cluster."""

    def __init__(self, address: str | None = None, *, local_cpus: int | None = None, local_gpus: int | None = None,
                 max_retries: int = 3, cpus_per_job: float = 1, runtime_env: dict[str, Any] | None = None) -> None:
        super().__init__()
        try:
            import ray
        except ImportError as e:  # pragma: no cover - ray is a dependency
            raise BackendUnavailableError("ray is not installed", hint="pip install 'ray[default]'") from e
        self._ray = ray
        self.max_retries, self.cpus_per_job = max_retries, cpus_per_job
        self.spec = f"ray:local:{local_cpus}" if local_cpus else ("ray:auto" if address == "auto" else str(address))
        self._owns = not ray.is_initialized()
        if self._owns:
            self._start(address, local_cpus, local_gpus, runtime_env)
        self._task = ray.remote(_prove_on_worker)
        self._bundles: dict[str, Bundle] = {}

    def _start(self, address: str | None, local_cpus: int | None, local_gpus: int | None,
               runtime_env: dict[str, Any] | None) -> None:
        """Start the private cluster, or join ``address``, waiting as long as a busy machine needs
        (``zkgrad.prover.ray_start``): Ray's own startup waits raised to ``ZKGRAD_RAY_START_S``, and
        a start that timed out inside Ray tried again until then. A cluster address where nothing
        listens fails at once, after Ray's own first try."""
        ray, seconds = self._ray, ray_start_s()
        before = ray_children()

        def start() -> None:
            if local_cpus:
                ray.init(address="local", num_cpus=local_cpus, num_gpus=local_gpus, include_dashboard=False,
                         log_to_driver=False, runtime_env=runtime_env)
            else:
                _quiet_ray_client()
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)

        def undo() -> None:
            with contextlib.suppress(Exception):  # a failed start leaves Ray half set up
                ray.shutdown()
            if local_cpus:
                stop_children_since(before)

        def again(e: BaseException) -> bool:
            return is_startup_timeout(e) and (bool(local_cpus) or address == "auto" or listening(str(address)))

        try:
            with raised_waits(seconds):
                start_until(start, seconds=seconds, undo=undo, again=again)
        except Exception as e:  # noqa: BLE001 - Ray raises plain Exceptions on a failed start
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BackendUnavailableError(
                f"cannot {'start a local' if local_cpus else 'join the'} Ray cluster"
                f"{'' if local_cpus else f' at {address}'}: {first}",
                hint="start one with 'ray start --head' (client port 10001) or use --pool local:N; on a busy "
                     f"machine raise ZKGRAD_RAY_START_S (now {seconds:g} s)",
                address=str(address)) from e

    def bundle(self, circuit: Circuit) -> Bundle:
        """The circuit's files in the object store, put there once per circuit key."""
        if circuit.key not in self._bundles:
            self._bundles[circuit.key] = make_bundle(circuit, self._ray.put)
        return self._bundles[circuit.key]

    def _submit(self, job: ProveJob) -> Callable[[float | None], JobResult]:
        circuit = Circuit.open(job.circuit_path)
        if circuit.key != job.circuit_key:
            raise InputError(f"circuit at {job.circuit_path} has key {circuit.key[:16]}, the job asks for "
                             f"{job.circuit_key[:16]}", hint="submit the job with the circuit it was made for")
        gpus = gpus_for(job.device, self._ray.cluster_resources().get("GPU", 0))
        ref = self._task.options(
            num_cpus=self.cpus_per_job, num_gpus=gpus,
            max_retries=self.max_retries, retry_exceptions=False, name=f"zkgrad-prove-{job.kind}",
        ).remote(job, [self.bundle(circuit)])

        def wait(timeout: float | None) -> JobResult:
            ray = self._ray
            try:
                return unwrap(ray.get(ref, timeout=timeout))
            except ray.exceptions.GetTimeoutError as e:
                raise TimeoutError(f"job {job.job_id} is not done after {timeout} s") from e
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:
                raise ProverError(f"job {job.job_id}: its worker died {self.max_retries + 1} times",
                                  hint="check the workers' memory and logs ('ray logs')", job_id=job.job_id) from e
            except ray.exceptions.RayTaskError as e:
                raise ProverError(f"job {job.job_id} failed on a Ray worker: {str(e.cause or e).splitlines()[0]}",
                                  hint="check that every worker has the same zkgrad and ezkl", job_id=job.job_id) from e

        return wait

    def close(self) -> None:
        self._bundles.clear()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False
