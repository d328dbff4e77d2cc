"""A model with nn.LayerNorm trains by proven, exactly chained steps (zkgrad.circuits.rewrites
traces it as mean, variance and rsqrt: ezkl 23 cannot lay out ONNX LayerNormalization). Slow."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkgrad.model import data
from zkgrad.model.spec import ModelSpec
from zkgrad.prover.step import prove_step
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

pytestmark = [pytest.mark.proof, pytest.mark.slow]


def test_a_layer_norm_model_proves_two_chained_steps(tmp_path: Path) -> None:
    spec = ModelSpec(factory="zkgrad.models:digits_ln_mlp", factory_kwargs={"hidden": 8}, loss="cross_entropy",
                     lr=0.5, batch_size=4, input_shape=(64,), target_shape=(10,), scale=12, seed=0)
    ds = data.named("digits:train:0", spec.input_shape, 10)
    ws = Workspace.create(tmp_path / "ln", spec)
    circuits, _ = ws.compile(ds)
    ck = ws.genesis()
    for t in range(2):
        x, y = data.batch(ds, spec.batch_size, t, 0)
        sp = prove_step(circuits, ck, x, y, folder=ws.step_dir(t + 1))
        inst = sp.proof.instances
        assert circuits.step_layout.before_commitment(inst) == ck.commitment
        assert circuits.step_layout.after_commitment(inst) == sp.after.commitment
        assert verify(sp.proof, circuits.step)
        assert sp.summary.max_abs_param_diff <= 2e-3, sp.summary
        ck = sp.after
