"""A real two-node Ray cluster on this machine, started with the commands docs/PROVING_POOL.md gives:
a head with no GPU, and a worker node that declares one GPU (Ray's GPUs are logical resources:
the node's prover then finds out whether a CUDA device and a GPU ezkl stand behind it)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator


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


@contextmanager
def two_node_cluster(home: Path, *, timeout: float = 180) -> Iterator[RayCluster]:
    gcs, client = _free_port(), _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**clean_env(), **auth, "RAY_USAGE_STATS_ENABLED": "0", "ZKGRAD_HOME": str(home)}
    logs = home / "ray-logs"
    logs.mkdir(parents=True, exist_ok=True)
    common = ["--block", "--num-cpus=1", "--disable-usage-stats"]
    with ExitStack() as stack:
        procs: list[subprocess.Popen[bytes]] = []

        def start(name: str, args: list[str]) -> None:
            log = stack.enter_context(open(logs / f"{name}.log", "wb"))
            procs.append(subprocess.Popen([_ray(), "start", *args, *common], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

        try:
            start("head", ["--head", f"--port={gcs}", f"--ray-client-server-port={client}", "--num-gpus=0",
                           "--include-dashboard=false"])
            _wait(f"127.0.0.1:{gcs}", env, procs, timeout, lambda: start(
                "gpu-worker", [f"--address=127.0.0.1:{gcs}", "--num-gpus=1"]))
            yield RayCluster(f"ray://127.0.0.1:{client}", f"127.0.0.1:{gcs}", auth)
        finally:
            for p in reversed(procs):  # SIGTERM to `ray start --block` stops that node's processes
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


def _wait(gcs: str, env: dict[str, str], procs: list[subprocess.Popen[bytes]], timeout: float,
          start_worker: Callable[[], None], want: str = "1.0 GPU") -> None:
    """Wait for the head, start the worker node, wait until the cluster shows its GPU."""
    deadline = time.monotonic() + timeout
    worker_started = False
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a ray node exited early (logs under {env['ZKGRAD_HOME']}/ray-logs)")
        out = subprocess.run([_ray(), "status", f"--address={gcs}"], env=env, capture_output=True, text=True,
                             timeout=60, check=False).stdout
        if "Resources" in out:
            if not worker_started:
                start_worker()
                worker_started = True
            elif want in out:
                return
        time.sleep(1)
    raise TimeoutError(f"the Ray cluster at {gcs} did not show {want} within {timeout} s")

