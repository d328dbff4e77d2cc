"""zkgrad weights: a checkpoint as safetensors that torch loads into the spec's module.

The chain side (``--model-id``: a stranger's weights from the published calldata, a lying node
refused) is in tests/test_shared_model.py, on the lineage that test builds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from zkgrad.errors import InputError, OutputExistsError
from zkgrad.model.checkpoint import genesis
from zkgrad.model.spec import ModelSpec
from zkgrad.model.weights import save_weights, written_by_zkgrad

from .conftest import TINY_SPEC
from .helpers import run_cli


def _outputs(module: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return module(x).numpy()


def test_torch_loads_the_weights_and_reproduces_the_checkpoints_outputs(tmp_path: Path) -> None:
    spec = ModelSpec(**{**TINY_SPEC, "momentum": 0.9})  # type: ignore[arg-type]
    ckpt = genesis(spec)
    path = save_weights(ckpt, tmp_path / "m.safetensors")
    tensors = load_file(path)
    names = ckpt.names[: ckpt.n_params]
    assert list(tensors) == sorted(names) and len(ckpt.names) == 2 * len(names)  # the momentum is no weight
    module = spec.build_module()
    module.load_state_dict(tensors, strict=True)
    exact = spec.build_module().double()
    with torch.no_grad():
        for p, q in zip(exact.parameters(), ckpt.float_state()):
            p.copy_(torch.from_numpy(q))
    x = torch.randn(5, *spec.input_shape)
    assert np.allclose(_outputs(module, x), _outputs(exact, x.double()), atol=1e-6)
    for name, q in zip(names, ckpt.state()):  # the proven integers over 2**scale, exactly
        assert np.array_equal(tensors[name].double().numpy() * 2**spec.scale, q)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["zkgrad_version"] == "0" and meta["zkgrad_scale"] == str(spec.scale)
    assert meta["zkgrad_weights_commitment"] == "0x" + ckpt.weights_commitment.hex() and meta["zkgrad_exact"] == "true"


def test_a_file_zkgrad_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    ckpt = genesis(ModelSpec(**TINY_SPEC))  # type: ignore[arg-type]
    foreign = tmp_path / "model.safetensors"
    foreign.write_bytes(b"someone else's weights")
    with pytest.raises(OutputExistsError):
        save_weights(ckpt, foreign)
    assert foreign.read_bytes() == b"someone else's weights" and not written_by_zkgrad(foreign)
    ours = save_weights(ckpt, tmp_path / "ours.safetensors")
    assert written_by_zkgrad(ours) and save_weights(ckpt, ours) == ours  # its own file: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "ours.safetensors"]


def test_the_command_writes_a_workspaces_latest_weights_and_refuses_what_it_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "model"
    code, _, err = run_cli(["model", "init", ws, "--factory", TINY_SPEC["factory"], "--input-shape", "4",
                            "--target-shape", "3", "--loss", "mse", "--batch-size", "2", "--seed", "3"], capsys)
    assert code == 0, err
    out = tmp_path / "w.safetensors"
    code, text, err = run_cli(["weights", ws, "--out", out, "--json"], capsys)
    assert code == 0, err
    res = json.loads(text)
    assert res["version"] == 0 and res["parameters"] == 4 * 8 + 8 + 8 * 3 + 3 and Path(res["path"]) == out
    assert set(load_file(out)) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for args, needle in [(["weights", ws, "--version", "2", "--out", tmp_path / "v2.safetensors"],
                          "holds no proven step 2 (proven: none)"),
                         (["weights", "--out", tmp_path / "x.safetensors"], "no model to read weights from")]:
        code, text, err = run_cli(args, capsys)
        assert code == 1 and text == "" and needle in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "w.safetensors"]  # nothing half-written
    with pytest.raises(InputError):
        from zkgrad.train.weights import workspace_checkpoint
        from zkgrad.train.workspace import Workspace

        workspace_checkpoint(Workspace.open(ws), 1)
