"""The proving pool: serial, local processes and a local Ray cluster prove the same accepted results."""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from zkgrad.circuits.artifacts import Circuit, sha256_bytes
from zkgrad.errors import BackendUnavailableError, CircuitError, InputError, ProverError
from zkgrad.prover.backends import GpuBackend
from zkgrad.prover.jobs import JobFailure, ProveJob
from zkgrad.prover.pool import LocalPool, SerialPool, open_pool
from zkgrad.prover.prove import prove
from zkgrad.prover.ray_pool import (
    CACHE_TABLE,
    RayPool,
    gpus_for,
    make_bundle,
    materialize,
)
from zkgrad.verifier.offchain import verify


def _inputs(n: int, seed: int = 11) -> list[dict[str, Any]]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return [{"input_data": [torch.randn(4, generator=g).double().tolist()]} for _ in range(n)]


@pytest.fixture(scope="module")
def four_inputs() -> list[dict[str, Any]]:
    return _inputs(4)


@pytest.fixture(scope="module")
def serial_instances(tiny_circuit, four_inputs, tmp_path_factory):  # type: ignore[no-untyped-def]
    """``serial(n)``: public instances of the serial path (``prove``) for the first n inputs (memoized)."""
    _, circuit = tiny_circuit
    d = tmp_path_factory.mktemp("serial")
    done: list[list[int]] = []

    def serial(n: int) -> list[list[int]]:
        while len(done) < n:
            i = len(done)
            done.append(prove(circuit, four_inputs[i], out=d / f"p{i}.json").proof.instances)
        return done[:n]

    return serial


def _jobs(circuit: Circuit, inputs: list[dict[str, Any]], tag: str) -> list[ProveJob]:
    return [ProveJob.for_circuit(circuit, x, f"{tag}-{i}.proof.json", kind="step" if i % 2 else "inference")
            for i, x in enumerate(inputs)]


def _check_accepted(results, jobs, circuit, expected, out: Path) -> None:  # type: ignore[no-untyped-def]
    assert len({tuple(x) for x in expected}) == len(expected)  # distinct inputs: a swap would show
    assert [r.job_id for r in results] == [j.job_id for j in jobs]  # submission order, each once
    for r, job, want in zip(results, jobs, expected):
        proof = r.write(out / job.output)
        assert verify(proof, circuit), f"job {job.job_id} refused"
        assert proof.instances == want
        assert r.witness["outputs"] and set(r.timings) == {"witness", "prove"}


# --- without a cluster -----------------------------------------------------------------------
def test_job_is_picklable_and_keyed(tiny_circuit) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    job = ProveJob.for_circuit(circuit, {"input_data": [[0.0, 1.0, 2.0, 3.0]]}, "a.json", kind="step")
    back = pickle.loads(pickle.dumps(job))
    assert back == job and back.circuit_key == circuit.key and Path(back.circuit_path).is_absolute()
    assert ProveJob.for_circuit(circuit, {}, "a.json").job_id != job.job_id


@pytest.mark.parametrize("spec,kind", [("serial", SerialPool), ("local:1", LocalPool)])
def test_open_pool_specs(spec: str, kind: type) -> None:
    pool = open_pool(spec)
    try:
        assert isinstance(pool, kind) and pool.spec == spec
    finally:
        pool.close()


@pytest.mark.parametrize("spec", ["local:0", "local:x", "threads:2", "ray:local:0", ""])
def test_open_pool_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(InputError):
        open_pool(spec)


@pytest.mark.ray
def test_ray_address_unreachable_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = pytest.importorskip("ray.util.client.worker")
    monkeypatch.setattr(worker, "INITIAL_TIMEOUT_SEC", 1)  # Ray's client waits 5 + 10 + 15 s by default
    monkeypatch.setattr(worker, "MAX_TIMEOUT_SEC", 1)
    with pytest.raises(BackendUnavailableError, match="cannot join the Ray cluster") as e:
        open_pool("ray://127.0.0.1:9")
    assert e.value.hint and "ray start --head" in e.value.hint


def test_failure_travels_as_data_with_its_hint() -> None:
    job = ProveJob("k" * 64, "/nowhere", {}, "x.json", job_id="j1")
    err = JobFailure.of(job, CircuitError("bad circuit", hint="recompile", path="/p"))
    back = pickle.loads(pickle.dumps(err)).error()
    assert isinstance(back, CircuitError) and back.hint == "recompile"
    assert back.data["job_id"] == "j1" and back.data["path"] == "/p"


@pytest.mark.proof
def test_serial_pool_refuses_duplicates_and_wrong_key(tiny_circuit, four_inputs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    pool = SerialPool()
    job = ProveJob.for_circuit(circuit, four_inputs[0], "p.json")
    handle = pool.submit(job)
    assert verify(handle.result().write(tmp_path / "p.json"), circuit)
    with pytest.raises(InputError, match="already delivered"):
        handle.result()
    with pytest.raises(InputError, match="already submitted"):
        pool.submit(job)
    wrong = ProveJob(circuit_key="0" * 64, circuit_path=str(circuit.path), data=four_inputs[0], output="q.json")
    with pytest.raises(CircuitError, match="the job asks for 0000"):
        pool.submit(wrong)


@pytest.mark.proof
def test_local_pool_proves_two_jobs(tiny_circuit, four_inputs, serial_instances, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    jobs = _jobs(circuit, four_inputs[:2], "local")
    with LocalPool(2) as pool:
        results = list(pool.map_ordered(jobs))
    _check_accepted(results, jobs, circuit, serial_instances(2), tmp_path)
    assert all(int(r.worker.rsplit(":", 1)[1]) != os.getpid() for r in results)


# --- worker cache (content-addressed shipping), without Ray: the store is a dict ----------------
def test_worker_cache_fetches_once_and_checks_hashes(tiny_circuit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    store: dict[int, bytes] = {}
    fetched: list[int] = []

    def put(data: bytes) -> int:
        store[len(store)] = data
        return len(store) - 1

    def get(ref: int) -> bytes:
        fetched.append(ref)
        return store[ref]

    bundle = make_bundle(circuit, put)
    cached, fresh = materialize(bundle, get, root=tmp_path / "cache")
    assert fresh and cached.key == circuit.key and cached.path == tmp_path / "cache" / circuit.key
    assert cached.srs.read_bytes() == circuit.srs.read_bytes() and cached.srs != circuit.srs
    assert sha256_bytes(cached.pk.read_bytes()) == sha256_bytes(circuit.pk.read_bytes())
    assert (cached.path / CACHE_TABLE).is_file()
    n = len(fetched)
    again, fresh = materialize(bundle, get, root=tmp_path / "cache")
    assert not fresh and again.path == cached.path and len(fetched) == n  # reused, nothing fetched

    store[bundle.files[0].ref] = b"tampered"
    with pytest.raises(CircuitError, match="arrived corrupted"):
        materialize(bundle, get, root=tmp_path / "other")
    assert not (tmp_path / "other" / circuit.key).exists()


# --- starting Ray on a busy machine (zkgrad.prover.ray_start), without a cluster ---------------------
RAY_STARTUP_TIMEOUT = ("The current node timed out during startup. This could happen because some of the raylet "
                       "failed to startup or the GCS has become overloaded.")  # Ray 2.60, _private/node.py


@pytest.mark.ray
def test_ray_local_pool_starts_again_after_rays_startup_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray waits a fixed 30 s for its raylet, and raises a plain Exception past it (seen on a busy
    two-core machine): the pool starts again, with Ray's configurable waits raised meanwhile."""
    ray = pytest.importorskip("ray")
    for var in ("RAY_gcs_server_port_wait_time_s", "RAY_worker_register_timeout_seconds"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ZKGRAD_RAY_START_S", raising=False)
    seen: list[dict[str, Any]] = []

    def init(**kw: Any) -> None:
        seen.append({**kw, "env": (os.environ.get("RAY_gcs_server_port_wait_time_s"),
                                   os.environ.get("RAY_worker_register_timeout_seconds"))})
        if len(seen) == 1:
            raise Exception(RAY_STARTUP_TIMEOUT)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    pool = RayPool(local_cpus=2, local_gpus=1)
    assert [c["num_cpus"] for c in seen] == [2, 2] and [c["env"] for c in seen] == [("60", "300")] * 2
    assert "RAY_gcs_server_port_wait_time_s" not in os.environ  # raised for Ray's start only
    pool.close()


@pytest.mark.ray
def test_ray_local_pool_gives_up_at_zkgrads_bound_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("ZKGRAD_RAY_START_S", "3")
    calls: list[float] = []

    def init(**kw: Any) -> None:
        calls.append(time.monotonic())
        raise Exception(RAY_STARTUP_TIMEOUT)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(BackendUnavailableError, match="cannot start a local Ray cluster: The current node timed out") as e:
        RayPool(local_cpus=1)
    assert len(calls) >= 2 and calls[-1] - calls[0] < 3
    assert e.value.hint and "ZKGRAD_RAY_START_S (now 3 s)" in e.value.hint


@pytest.mark.ray
def test_ray_local_pool_does_not_retry_other_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    calls: list[int] = []

    def init(**kw: Any) -> None:
        calls.append(1)
        raise ValueError("num_gpus must be a number")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(BackendUnavailableError, match="num_gpus must be a number"):
        RayPool(local_cpus=1)
    assert calls == [1]


def test_ray_start_bound_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from zkgrad.prover.ray_start import ray_start_s, startup_env

    monkeypatch.setenv("ZKGRAD_RAY_START_S", "soon")
    with pytest.raises(InputError, match="ZKGRAD_RAY_START_S='soon'"):
        ray_start_s()
    monkeypatch.setenv("ZKGRAD_RAY_START_S", "90.5")
    assert ray_start_s() == 90.5
    assert startup_env(90.5) == {"RAY_gcs_server_port_wait_time_s": "60", "RAY_worker_register_timeout_seconds": "91",
                                 "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "60"}


@pytest.mark.ray
def test_ray_join_starts_again_when_the_clusters_client_server_fails_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen on a loaded machine: the head's client server answers, but the server it starts for
    this driver dies, and Ray's client raises "Initialization failure from server". The cluster is
    there (its port accepts connections): the pool connects again."""
    import socket

    ray = pytest.importorskip("ray")
    calls: list[str] = []

    def init(address: str, **kw: Any) -> None:
        calls.append(address)
        if len(calls) == 1:
            raise ConnectionAbortedError("Initialization failure from server:\nTraceback ...")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"ray://127.0.0.1:{server.getsockname()[1]}"
        RayPool(address).close()
    assert calls == [address, address]


# --- a local Ray cluster with two workers -------------------------------------------------------
@pytest.fixture(scope="module")
def ray_pool():  # type: ignore[no-untyped-def]
    """Two CPU slots and one GPU slot: Ray's GPU is a logical resource, so routing is tested
    here too; whether a real device sits behind it is the worker's backend's business."""
    pytest.importorskip("ray")
    pool = RayPool(local_cpus=2, local_gpus=1)
    yield pool
    pool.close()


def _prove_processes() -> list[Any]:
    import psutil

    procs = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::_prove_on_worker") or cmd.startswith("ray::zkgrad-prove"):
            procs.append(p)
    return procs


@pytest.mark.ray
@pytest.mark.proof
def test_ray_pool_proves_four_jobs_like_the_serial_path(ray_pool, tiny_circuit, four_inputs, serial_instances,
                                                         tmp_path, zkgrad_home) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    jobs = _jobs(circuit, four_inputs, "ray")
    results = list(ray_pool.map_ordered(jobs))
    _check_accepted(results, jobs, circuit, serial_instances(4), tmp_path)
    assert len({r.worker for r in results}) >= 1 and all(r.backend == "cpu" for r in results)
    # the circuit travelled by content key into the workers' cache
    table = json.loads((Path(zkgrad_home) / "worker-cache" / circuit.key / CACHE_TABLE).read_text())
    assert table["srs"] == circuit.manifest["srs"]["sha256"]


@pytest.mark.ray
@pytest.mark.proof
def test_ray_worker_killed_mid_job_completes_once(ray_pool, tiny_circuit, four_inputs, serial_instances,
                                                  tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    jobs = _jobs(circuit, four_inputs[:3], "kill")
    killed: list[int] = []

    def killer() -> None:  # SIGKILL the first worker seen proving
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            procs = _prove_processes()
            if procs:
                killed.append(procs[0].pid)
                os.kill(procs[0].pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    results = list(ray_pool.map_ordered(jobs))
    t.join()
    assert killed, "no proving worker was seen to kill"
    assert all(not r.worker.endswith(f":{killed[0]}") for r in results)  # its job was proven again elsewhere
    _check_accepted(results, jobs, circuit, serial_instances(3), tmp_path)
    assert len({r.job_id for r in results}) == len(jobs)


@pytest.mark.ray
def test_ray_pool_reports_a_job_error_without_retrying(ray_pool, tiny_circuit) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    bad = ProveJob.for_circuit(circuit, {"input_data": [[1.0, 2.0]]}, "bad.json")  # wrong shape
    with pytest.raises((InputError, ProverError)) as e:
        next(ray_pool.map_ordered([bad]))
    assert e.value.data.get("job_id") == bad.job_id


def test_gpus_for_routes_by_device_and_cluster() -> None:
    assert [gpus_for(d, 2) for d in ("cpu", "auto", "gpu")] == [0, 1, 1]
    assert [gpus_for(d, 0) for d in ("cpu", "auto")] == [0, 0]
    with pytest.raises(BackendUnavailableError, match="has no GPU"):
        gpus_for("gpu", 0)  # refused at once: Ray would keep it pending forever


@pytest.mark.ray
@pytest.mark.proof
def test_ray_auto_and_gpu_jobs_take_the_gpu_slot(ray_pool, tiny_circuit, four_inputs, serial_instances,
                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    cpu_job = ProveJob.for_circuit(circuit, four_inputs[0], "cpu.json", device="cpu")
    auto_job = ProveJob.for_circuit(circuit, four_inputs[1], "auto.json", device="auto")
    results = list(ray_pool.map_ordered([cpu_job, auto_job]))
    assert results[0].gpu_ids == () and results[0].backend == "cpu" and results[0].notice is None
    assert results[1].gpu_ids == ("0",)  # Ray scheduled the auto job on the cluster's GPU
    if GpuBackend().available():
        assert results[1].backend == "gpu"
    else:  # no CUDA device or GPU ezkl behind the slot: the worker said so and proved on the CPU
        assert results[1].backend == "cpu" and results[1].notice and results[1].notice.startswith("proving on the CPU")
    _check_accepted(results, [cpu_job, auto_job], circuit, serial_instances(2), tmp_path)
    if not GpuBackend().available():
        gpu_job = ProveJob.for_circuit(circuit, four_inputs[2], "gpu.json", device="gpu")
        with pytest.raises(BackendUnavailableError, match="GPU prover is not available") as e:
            next(ray_pool.map_ordered([gpu_job]))
        assert e.value.data.get("job_id") == gpu_job.job_id
