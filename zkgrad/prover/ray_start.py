"""Starting or joining a Ray cluster on a busy machine.

Ray bounds a node's startup with short waits of its own, each of which a machine whose cores are
busy (a proof in progress) can outlast:

- 30 s for the GCS to write its port and answer (``RAY_gcs_server_port_wait_time_s``,
  ``ray/_private/node.py``);
- 60 s for a worker process to register with its raylet (``RAY_worker_register_timeout_seconds``);
- 30 s for the client server to open a driver's channel (``RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S``,
  ``ray/util/client/server/proxier.py``; read by the head node's client server);
- a fixed 30 s, not configurable, for the raylet to register with the GCS
  ("The current node timed out during startup").

zkgrad starts again, until its own bound ``ZKGRAD_RAY_START_S`` (default :data:`RAY_START_S`), a
start that ran out of one of them (:func:`start_until`), and raises the configurable ones where
the environment does not set them (:func:`startup_env`): a worker's registration to the whole
bound (nothing starts it again), the two waits on a process that may never answer (a GCS or a
per-driver client server that died while starting, seen on a loaded machine) to
:data:`TRY_S`, so that a dead start is given up and started again well before the bound.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import psutil

from ..errors import InputError

RAY_START_S = 300.0
"""How long zkgrad waits, in all, for a Ray node to start or a cluster to answer."""

TRY_S = 60.0
"""The longest Ray waits, in one try, for a process that may have died starting (the GCS, a client
server's per-driver server) before zkgrad starts again."""

T = TypeVar("T")


def ray_start_s() -> float:
    """The bound in force: ``ZKGRAD_RAY_START_S`` when set, else :data:`RAY_START_S`."""
    text = os.environ.get("ZKGRAD_RAY_START_S", "")
    try:
        seconds = float(text) if text else RAY_START_S
    except ValueError:
        seconds = -1.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"ZKGRAD_RAY_START_S={text!r} is not a positive number of seconds", hint="e.g. 300")
    return seconds


def startup_env(seconds: float) -> dict[str, str]:
    """Ray's configurable startup waits, as the environment variables Ray reads, for a bound of
    ``seconds`` in all: a worker's registration gets all of it, a wait on a process that may have
    died at most :data:`TRY_S` (then the start is tried again)."""
    whole, one_try = (str(max(1, math.ceil(v))) for v in (seconds, min(seconds, TRY_S)))
    return {"RAY_gcs_server_port_wait_time_s": one_try, "RAY_worker_register_timeout_seconds": whole,
            "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": one_try}


@contextlib.contextmanager
def raised_waits(seconds: float) -> Iterator[None]:
    """:func:`startup_env` in this process's environment (so the Ray processes started meanwhile
    inherit it), for the variables the user has not set; restored afterwards."""
    added = {k: v for k, v in startup_env(seconds).items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def is_startup_timeout(e: BaseException) -> bool:
    """Whether ``e`` is Ray giving up on a start that may succeed when tried again: one of its
    startup waits ran out (its fixed raylet wait raises a plain Exception), or a cluster's client
    server could not start the server for this driver ("Initialization failure from server")."""
    text = str(e).lower()
    return isinstance(e, TimeoutError) or "timed out" in text or "timeout" in text or \
        "initialization failure from server" in text


def start_until(start: Callable[[], T], *, seconds: float, undo: Callable[[], None],
                again: Callable[[BaseException], bool] = is_startup_timeout, pause_s: float = 2.0) -> T:
    """``start()``; after a failure for which ``again(e)`` holds, ``undo()`` and start again while
    less than ``seconds`` have passed since the first try. Any other failure, or the last, raises."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return start()
        except Exception as e:  # noqa: BLE001 - Ray's startup timeout is a plain Exception
            undo()
            if not again(e) or time.monotonic() + pause_s >= deadline:
                raise
        time.sleep(pause_s)


def ray_children() -> set[int]:
    """The pids of this process's Ray children (GCS, raylet, agents, workers, reaper): processes
    run from Ray's package folder, as ``-m ray.…`` modules, or named ``ray::…``."""
    spec = importlib.util.find_spec("ray")
    folders = [str(Path(f)) + os.sep for f in (spec.submodule_search_locations or [])] if spec else []
    found = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(child.cmdline())
            if cmd.startswith("ray::") or " -m ray." in cmd or any(f in cmd for f in folders):
                found.add(child.pid)
    return found


def stop_children_since(before: set[int]) -> None:
    """Stop the Ray children this process started after ``before`` was taken: what a local start
    that failed inside Ray leaves running (``ray.shutdown()`` cannot see a node that never started)."""
    procs = []
    for pid in ray_children() - before:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def listening(address: str, timeout: float = 5.0) -> bool:
    """Whether something accepts TCP connections at ``ray://HOST:PORT`` (or ``HOST:PORT``)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False
