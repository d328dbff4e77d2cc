"""Run a child process and stop it when it stops making progress.

Progress is CPU time: a prover that computes uses one core or more; one that waits forever
(ezkl 23 on a witness outside its lookup tables) only wakes to poll, about 1.5 % of one core,
measured. A child that gains less than 10 % of one core's time over ``stall_s`` seconds is
killed. On a loaded machine a working prover still gains CPU time, only more slowly, so load
alone does not trip it unless it leaves the prover under a tenth of a core for the whole period.
"""

from __future__ import annotations

import subprocess
import time
from typing import IO, Mapping, NamedTuple, Sequence

import psutil

PROGRESS = 0.1
"""The least CPU time, as a fraction of the stall period, that counts as progress (the hung
ezkl's polling, ~0.015, must stay well under it)."""


class Stalled(Exception):
    """The child used (almost) no CPU for ``stall_s`` seconds and was killed."""

    def __init__(self, stall_s: float) -> None:
        super().__init__(f"no progress for {stall_s} s")
        self.stall_s = stall_s


class Sample(NamedTuple):
    """One look at the child."""

    cpu_s: float | None
    """User + system CPU seconds so far (final once it has exited); None when unreadable."""
    exited: bool
    """The child has exited: a zombie not yet reaped, or gone. It is not stalled."""


def sample(proc: psutil.Process) -> Sample:
    """The child's CPU time and whether it has exited. A child may exit between two polls: a
    zombie answers with its final CPU time on Linux and with ZombieProcess elsewhere, a reaped
    one with NoSuchProcess; either way it has exited, which is never a stall."""
    try:
        with proc.oneshot():
            t = proc.cpu_times()
            exited = proc.status() == psutil.STATUS_ZOMBIE
        return Sample(float(t.user + t.system), exited)
    except psutil.NoSuchProcess:  # ZombieProcess included
        return Sample(None, True)
    except psutil.Error:  # AccessDenied: nothing learnt this time
        return Sample(None, False)


def run_watched(cmd: Sequence[str], *, stall_s: float, env: Mapping[str, str] | None = None,
                stderr: IO[bytes] | None = None) -> int:
    """Run ``cmd`` to its end and return its exit code; raise :class:`Stalled` (after killing it)
    when it stops making progress. Whatever stops the caller (Ctrl-C) stops the child too.
    ``stderr``: where the child's stderr goes (default: this process's)."""
    if stall_s <= 0:
        raise ValueError(f"stall_s must be positive, not {stall_s}")
    child = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stderr=stderr,
                             env=dict(env) if env is not None else None)
    return watch(child, stall_s=stall_s)


def watch(child: subprocess.Popen[bytes], *, stall_s: float) -> int:
    """Wait for ``child`` (see :func:`run_watched`); it is killed and reaped when this raises."""
    try:
        try:
            watched = psutil.Process(child.pid)
        except psutil.NoSuchProcess:  # already exited: its exit code is all there is
            return child.wait()
        used, since = 0.0, time.monotonic()
        while True:
            try:
                return child.wait(timeout=min(1.0, stall_s / 4))
            except subprocess.TimeoutExpired:
                pass
            now = sample(watched)
            if now.exited:  # it exited after that wait gave up: collect it, never call it stalled
                return child.wait()
            if now.cpu_s is None:
                continue
            if now.cpu_s - used >= PROGRESS * stall_s:
                used, since = now.cpu_s, time.monotonic()
            elif time.monotonic() - since >= stall_s:
                raise Stalled(stall_s)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
