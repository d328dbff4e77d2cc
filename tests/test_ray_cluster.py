"""A real multi-node Ray cluster (a head, and a node declaring one GPU, started with `ray start` and
token authentication as docs/PROVING_POOL.md says), used the way a user does: the `zkgrad` command
in its own process, `--pool ray://HOST:PORT`. Proofs and a training run match the serial path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from zkgrad.node import connect
from zkgrad.prover.backends import GpuBackend
from zkgrad.prover.proof import Proof
from zkgrad.prover.prove import prove
from zkgrad.train.register import ensure_registry, register
from zkgrad.verifier.offchain import verify

from .helpers import copy_workspace, run_cli
from .ray_cluster import RayCluster, clean_env, two_node_cluster

pytestmark = [pytest.mark.ray, pytest.mark.proof]
GPU_HERE = GpuBackend().available()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    pytest.importorskip("ray")
    with two_node_cluster(tmp_path_factory.mktemp("ray-nodes")) as c:
        yield c


def zkgrad(cluster: RayCluster, *args: object) -> subprocess.CompletedProcess[str]:
    """The installed `zkgrad` command, as a user on the driver machine runs it."""
    exe = Path(sys.executable).with_name("zkgrad")
    return subprocess.run([str(exe), *map(str, args)], env={**clean_env(), **cluster.env}, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.slow  # the default set routes GPU jobs on a local Ray (test_pool.py::test_ray_auto_and_gpu_jobs_...)
def test_prove_on_the_cluster_uses_the_gpu_node_and_matches_serial(cluster, tiny_circuit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    serial = prove(circuit, d / "input.json", out=tmp_path / "serial.json").proof
    for device, gpu_ids in (("auto", ["0"]), ("cpu", [])):
        out = tmp_path / f"{device}.json"
        r = zkgrad(cluster, "prove", d / "circuit", "--input", d / "input.json", "--out", out,
                   "--pool", cluster.client_address, "--device", device, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        who = doc["prover"]
        assert who["gpu_ids"] == gpu_ids  # auto: Ray placed the job on the GPU node; cpu: never
        assert who["pool"] == cluster.client_address and who["backend"] == ("gpu" if GPU_HERE and gpu_ids else "cpu")
        proof = Proof.load(out)
        assert verify(proof, circuit) and proof.instances == serial.instances
        if device == "auto" and not GPU_HERE:  # the worker's fallback notice reaches the user
            assert doc["notice"].startswith("proving on the CPU")
        assert "INFO" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(GPU_HERE, reason="a GPU prover is available here")
def test_gpu_job_without_a_gpu_prover_is_one_line_and_writes_nothing(cluster, tiny_circuit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d, _ = tiny_circuit
    out = tmp_path / "gpu.json"
    r = zkgrad(cluster, "prove", d / "circuit", "--input", d / "input.json", "--out", out,
               "--pool", cluster.client_address, "--device", "gpu")
    assert r.returncode != 0 and "GPU prover is not available" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.chain
def test_training_on_the_cluster_accepts_the_serial_lineage(cluster, tiny_workspace, tiny_dataset, anvil,
                                                            tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    np.savez(tmp_path / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    reg = ensure_registry(connect(anvil.rpc_url))
    lineages = {}
    for name in ("serial", "ray"):
        ws = copy_workspace(tiny_workspace, tmp_path / name)
        mid = register(ws, reg)["model_id"]
        args = ["train", ws.root, "--steps", 2, "--data", tmp_path / "data.npz", "--rpc", anvil.rpc_url]
        if name == "serial":
            code, out, err = run_cli([*args, "--json"], capsys)
            assert code == 0, err
            assert json.loads(out)["version"] == 2
        else:  # as a person runs it: progress and notices on the terminal
            r = zkgrad(cluster, *args, "--pool", cluster.client_address, "--device", "auto")
            assert r.returncode == 0, r.stderr
            if not GPU_HERE:  # the GPU node's fallback notice, shown once for the run
                assert r.stderr.count("proving on the CPU") == 1, r.stderr
        lineages[name] = [(r.version, r.before, r.after, r.batch) for r in reg.history(mid)]
    assert len(lineages["serial"]) == 2 and lineages["serial"] == lineages["ray"]
