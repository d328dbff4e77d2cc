"""A real anvil: the private node for tests (anvil_node) and the long-lived LocalChain."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from zkgrad.chain.anvil import (
    LOCAL_CHAIN_ID,
    LocalChain,
    anvil_node,
    free_port,
    rpc_chain_id,
)
from zkgrad.errors import ChainError

pytestmark = pytest.mark.chain


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_anvil_node_answers_then_stops() -> None:
    with anvil_node() as info:
        assert info.chain_id == LOCAL_CHAIN_ID
        assert info.rpc_url == f"http://127.0.0.1:{info.port}"
        assert rpc_chain_id(info.rpc_url) == LOCAL_CHAIN_ID
        assert not pid_gone(info.pid)
    assert pid_gone(info.pid)
    assert rpc_chain_id(info.rpc_url) is None


def test_anvil_node_stops_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with anvil_node(chain_id=5) as info:
            assert rpc_chain_id(info.rpc_url) == 5
            raise RuntimeError("boom")
    assert pid_gone(info.pid)


def test_anvil_node_on_a_port_in_use_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ChainError, match=f"port {port}"):
            with anvil_node(port):
                pass


def test_local_chain_up_status_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path))
    chain = LocalChain()
    assert chain.status() is None
    port = free_port()
    info = chain.up(port)
    try:
        assert info.port == port and info.chain_id == LOCAL_CHAIN_ID
        state = json.loads((tmp_path / "chain.json").read_text())
        assert state == {"rpc_url": info.rpc_url, "chain_id": 31337, "pid": info.pid, "port": port}
        assert rpc_chain_id(info.rpc_url) == LOCAL_CHAIN_ID
        assert LocalChain().status() == info  # another handle reads the same state
        assert chain.up() == info  # idempotent: no second node
    finally:
        stopped = chain.down()
    assert stopped == info
    assert pid_gone(info.pid)
    assert not (tmp_path / "chain.json").exists()
    assert chain.status() is None
    assert chain.down() is None


def test_stale_state_file_is_cleaned(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path)
    with anvil_node() as info:
        pass  # a node that has since stopped: its pid is dead
    (tmp_path / "chain.json").write_text(json.dumps(
        {"rpc_url": info.rpc_url, "chain_id": 31337, "pid": info.pid, "port": info.port}
    ))
    assert chain.status() is None
    assert not (tmp_path / "chain.json").exists()


def test_corrupt_state_file_is_cleaned(tmp_path: Path) -> None:
    (tmp_path / "chain.json").write_text("{not json")
    assert LocalChain(tmp_path).status() is None
    assert not (tmp_path / "chain.json").exists()
