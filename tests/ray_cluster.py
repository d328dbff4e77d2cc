"""A real two-node Ray cluster on this machine, started with the commands docs/PROVING_POOL.md gives:
a head with no GPU, and a worker node that declares one GPU (Ray's GPUs are logical resources:
the node's prover then finds out whether a CUDA device and a GPU ezkl stand behind it)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from zkgrad.prover.ray_start import startup_env


@dataclass(frozen=True)
class RayCluster:
    client_address: str
    """``ray://127.0.0.1:PORT``: what ``--pool`` takes."""
    gcs_address: str
    env: dict[str, str]
    """What a driver needs in its environment (token authentication)."""


def clean_env() -> dict[str, str]:
    """This environment as a user's shell has it: without what importing Ray here put into it
    (RAY_CLIENT_MODE=0 breaks the Ray client of any process that inherits it) nor pytest's variables."""
    return {k: v for k, v in os.environ.items() if k != "RAY_CLIENT_MODE" and not k.startswith("PYTEST_")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.is_file() else (shutil.which("ray") or "ray")


START_S = 480.0
"""How long the cluster may take to show both nodes: minutes, on a busy two-core machine."""


@dataclass
class _Node:
    name: str
    args: list[str]
    env: dict[str, str]
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        """(Re)start this node with ``ray start --block`` in its own session, its log appended to."""
        self.stop()
        with open(self.logs / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen([_ray(), "start", *self.args], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        """SIGTERM to ``ray start --block`` stops that node's processes; what is left of its session
        (a node that failed to start) is killed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


@contextmanager
def two_node_cluster(home: Path, *, timeout: float = START_S) -> Iterator[RayCluster]:
    gcs, client = _free_port(), _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**clean_env(), **auth, "RAY_USAGE_STATS_ENABLED": "0", "ZKGRAD_HOME": str(home),
           **startup_env(timeout)}  # Ray's own startup waits (zkgrad.prover.ray_start), as long as ours
    logs = home / "ray-logs"
    logs.mkdir(parents=True, exist_ok=True)
    common = ["--block", "--num-cpus=1", "--disable-usage-stats"]
    head = _Node("head", ["--head", f"--port={gcs}", f"--ray-client-server-port={client}", "--num-gpus=0",
                          "--include-dashboard=false", *common], env, logs)
    worker = _Node("gpu-worker", [f"--address=127.0.0.1:{gcs}", "--num-gpus=1", *common], env, logs)
    try:
        head.start()
        _wait(f"127.0.0.1:{gcs}", env, head, worker, time.monotonic() + timeout)
        yield RayCluster(f"ray://127.0.0.1:{client}", f"127.0.0.1:{gcs}", auth)
    finally:
        worker.stop()
        head.stop()


def _status(gcs: str, env: dict[str, str], deadline: float) -> str:
    """``ray status``; empty when it fails or does not answer in time (a busy machine: try again)."""
    try:
        return subprocess.run([_ray(), "status", f"--address={gcs}"], env=env, capture_output=True, text=True,
                              timeout=max(5.0, min(120.0, deadline - time.monotonic())), check=False).stdout
    except subprocess.TimeoutExpired:
        return ""


def _wait(gcs: str, env: dict[str, str], head: _Node, worker: _Node, deadline: float,
          want: str = "1.0 GPU") -> None:
    """Poll until the head answers, then start the worker node and poll until the cluster shows its
    GPU. A node whose ``ray start`` gave up (Ray's fixed 30 s wait for its raylet to register can
    pass on a busy machine) is started again, the worker with it when the head was; all before
    ``deadline``."""
    while time.monotonic() < deadline:
        if head.exited():
            head.start()
            if worker.proc is not None:
                worker.stop()
        elif worker.exited():
            worker.start()
        out = _status(gcs, env, deadline)
        if "Resources" in out:
            if worker.proc is None:
                worker.start()
            elif want in out:
                return
        time.sleep(1)
    raise TimeoutError(f"the Ray cluster at {gcs} did not show {want} in time ({head.starts} head and "
                       f"{worker.starts} worker starts; logs under {env['ZKGRAD_HOME']}/ray-logs)")
