"""A local anvil node on loopback: a long-lived one (``LocalChain``) and a private one
for a test or a demo (``anvil_node``).

Readiness is polled with ``eth_chainId``, never slept for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from .. import fsio
from ..errors import ChainError, ToolchainError
from ..fsio import zkgrad_home
from ..toolchain import find_anvil

LOCAL_CHAIN_ID = 31337
HOST = "127.0.0.1"
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05
_children: dict[int, subprocess.Popen[bytes]] = {}  # started here; kept for reaping


@dataclass(frozen=True)
class ChainInfo:
    rpc_url: str
    chain_id: int
    pid: int
    port: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rpc_chain_id(rpc_url: str, timeout: float = 1.0) -> int | None:
    """The node's chain id, or None when nothing answers at ``rpc_url``."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _start(
    port: int | None, chain_id: int, code_size_limit: int | None, log: Path | None, detach: bool
) -> ChainInfo:
    if port is not None:
        if port_in_use(port):
            raise ChainError(
                f"port {port} on {HOST} is in use", hint="pick another port", port=port
            )
        return _launch(port, chain_id, code_size_limit, log, detach)
    for attempt in range(3):  # a free port can be taken between our check and anvil's bind
        try:
            return _launch(free_port(), chain_id, code_size_limit, log, detach)
        except _ExitedEarly:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _ExitedEarly(ChainError):
    pass


def _launch(
    chosen: int, chain_id: int, code_size_limit: int | None, log: Path | None, detach: bool
) -> ChainInfo:
    anvil = find_anvil()
    cmd = [str(anvil), "--host", HOST, "--port", str(chosen), "--chain-id", str(chain_id)]
    cmd.append("--silent")
    if code_size_limit is not None:
        cmd += ["--code-size-limit", str(code_size_limit)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=detach
        )
    except OSError as exc:
        raise ToolchainError(f"cannot start {anvil}: {exc}", hint="run scripts/bootstrap") from exc
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    _children[proc.pid] = proc
    info = ChainInfo(f"http://{HOST}:{chosen}", chain_id, proc.pid, chosen)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise _ExitedEarly(
                f"anvil exited with {proc.returncode} before answering on port {chosen}",
                hint="is the port taken? try another one" + (f"; see {log}" if log else ""),
                port=chosen,
            )
        if rpc_chain_id(info.rpc_url, timeout=0.5) == chain_id:
            return info
        time.sleep(_POLL_S)
    _stop(proc.pid)
    raise ChainError(f"anvil did not answer on {info.rpc_url} within {_READY_TIMEOUT_S:.0f} s")


def _alive(pid: int) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        return proc.poll() is None
    return psutil.pid_exists(pid)


def _is_anvil(pid: int) -> bool:
    try:
        return b"anvil" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop(pid: int) -> None:
    """SIGTERM, wait, then SIGKILL; only ever a pid that runs anvil."""
    if pid not in _children and not _is_anvil(pid):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _alive(pid):
                _children.pop(pid, None)
                return
            time.sleep(_POLL_S)
    raise ChainError(f"anvil (pid {pid}) did not stop", pid=pid)


@contextlib.contextmanager
def anvil_node(
    port: int | None = None, *, chain_id: int = LOCAL_CHAIN_ID, code_size_limit: int | None = None
) -> Iterator[ChainInfo]:
    """A private anvil for the length of the block; stopped on exit, errors included."""
    info = _start(port, chain_id, code_size_limit, log=None, detach=False)
    try:
        yield info
    finally:
        _stop(info.pid)


class LocalChain:
    """The long-lived local anvil behind ``zkgrad chain up/down/status``.

    Its state (pid, port, rpc url, chain id) is kept in ``<home>/chain.json``.
    """

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or zkgrad_home()
        self.state_file = self.home / "chain.json"
        self.log_file = self.home / "anvil.log"

    def status(self) -> ChainInfo | None:
        """The running chain, or None; a state file left by a dead node is removed."""
        info = self._read()
        if info is None:
            return None
        if _alive(info.pid) and rpc_chain_id(info.rpc_url) == info.chain_id:
            return info
        self.state_file.unlink(missing_ok=True)
        return None

    def up(self, port: int | None = None, *, code_size_limit: int | None = None) -> ChainInfo:
        """Start a detached anvil (a free port when none is given); the running one if up."""
        running = self.status()
        if running is not None:
            return running
        self.home.mkdir(parents=True, exist_ok=True)
        info = _start(port, LOCAL_CHAIN_ID, code_size_limit, log=self.log_file, detach=True)
        fsio.write_json(self.state_file, asdict(info))
        return info

    def down(self) -> ChainInfo | None:
        """Stop the chain; returns what was stopped, None when nothing ran."""
        info = self._read()
        if info is None:
            return None
        if _alive(info.pid):
            _stop(info.pid)
        self.state_file.unlink(missing_ok=True)
        return info

    def _read(self) -> ChainInfo | None:
        if not self.state_file.is_file():
            return None
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
            return ChainInfo(
                rpc_url=str(data["rpc_url"]),
                chain_id=int(data["chain_id"]),
                pid=int(data["pid"]),
                port=int(data["port"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            self.state_file.unlink(missing_ok=True)
            return None
