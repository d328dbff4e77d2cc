"""`zkgrad train` killed with SIGKILL after its first accepted step continues from the chain head:
no step lost, none submitted twice, the lineage audits clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zkgrad.node import connect
from zkgrad.train.register import ensure_registry, register

from .helpers import copy_workspace, run_cli

pytestmark = [pytest.mark.proof, pytest.mark.chain]


def _zkgrad(*args: object) -> list[str]:
    return [sys.executable, "-m", "zkgrad", *map(str, args)]


def test_killed_run_resumes_from_chain_head(tiny_workspace, tiny_dataset, anvil, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    np.savez(tmp_path / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    w3 = connect(anvil.rpc_url)
    reg = ensure_registry(w3)
    mid = register(ws, reg)["model_id"]
    args = ["train", ws.root, "--steps", 3, "--data", tmp_path / "data.npz", "--rpc", anvil.rpc_url]

    proc = subprocess.Popen(_zkgrad(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 600
        while reg.version(mid) < 1:  # poll the chain: the first step is accepted
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no step accepted in time"
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert reg.version(mid) in (1, 2)  # killed mid-run, before the end

    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["version"] == 3
    history = reg.history(mid)
    assert [r.version for r in history] == [1, 2, 3]  # nothing lost, nothing twice
    assert len({r.after for r in history}) == 3
    # the step folders are whole: nothing half-built by the killed run is left beside them
    assert sorted(d.name for d in ws.steps_dir.iterdir()) == ["000001", "000002", "000003"]
    code, out, err = run_cli(["audit", mid, "--rpc", anvil.rpc_url, "--registry", reg.address, "--json"], capsys)
    assert code == 0 and json.loads(out)["ok"], err
    # a finished run does nothing more
    code, out, _ = run_cli([*args, "--json"], capsys)
    assert code == 0 and json.loads(out)["accepted"] == [] and reg.version(mid) == 3
