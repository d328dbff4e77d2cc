"""The same training run proven serially, on a local process pool and on a local Ray cluster gives
identical accepted results on chain (slow tier: it proves the same steps three times)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zkgrad.node import connect
from zkgrad.train.register import ensure_registry, register

from .helpers import copy_workspace, run_cli

pytestmark = [pytest.mark.proof, pytest.mark.chain, pytest.mark.ray, pytest.mark.slow]


def test_serial_local_and_ray_pools_accept_the_same_lineage(tiny_workspace, tiny_dataset, anvil, tmp_path: Path,
                                                             capsys) -> None:  # type: ignore[no-untyped-def]
    np.savez(tmp_path / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    reg = ensure_registry(connect(anvil.rpc_url))
    lineages = {}
    for pool in ("serial", "local:2", "ray:local:2"):
        ws = copy_workspace(tiny_workspace, tmp_path / pool.replace(":", "-"))
        mid = register(ws, reg)["model_id"]
        code, out, err = run_cli(["train", ws.root, "--steps", 2, "--data", tmp_path / "data.npz", "--rpc",
                                  anvil.rpc_url, "--pool", pool, "--json"], capsys)
        assert code == 0, err
        assert json.loads(out)["version"] == 2
        lineages[pool] = [(r.version, r.before, r.after, r.batch) for r in reg.history(mid)]
    assert lineages["serial"] == lineages["local:2"] == lineages["ray:local:2"]
