"""The same generic path on other architectures: a small conv net on 8x8 digits, and an MLP with
nn.LayerNorm (zkgrad.circuits.rewrites traces it as mean, variance and rsqrt: ezkl 23 cannot lay
out ONNX LayerNormalization). Proven, exactly chained steps with no code specific to the model.
Slow (the conv net is logrows 18): the slow tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkgrad.model import data
from zkgrad.model.spec import ModelSpec
from zkgrad.prover.step import prove_step
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

pytestmark = [pytest.mark.proof, pytest.mark.slow]

CNN = ModelSpec(factory="zkgrad.models:digits_cnn", factory_kwargs={"channels": 2}, loss="cross_entropy",
                lr=0.5, batch_size=4, input_shape=(1, 8, 8), target_shape=(10,), scale=12, seed=0)
LAYER_NORM = ModelSpec(factory="zkgrad.models:digits_ln_mlp", factory_kwargs={"hidden": 8}, loss="cross_entropy",
                       lr=0.5, batch_size=4, input_shape=(64,), target_shape=(10,), scale=12, seed=0)


@pytest.mark.parametrize("spec, steps, fidelity", [(CNN, 3, 5e-3), (LAYER_NORM, 2, 2e-3)], ids=["cnn", "layer-norm"])
def test_chained_proven_steps(spec: ModelSpec, steps: int, fidelity: float, tmp_path: Path) -> None:
    ds = data.named("digits:train:0", spec.input_shape, 10)
    ws = Workspace.create(tmp_path / "model", spec)
    circuits, _ = ws.compile(data.batch(ds, spec.batch_size, 0, 0) if spec is CNN else ds)
    ck = ws.genesis()
    for t in range(steps):
        x, y = data.batch(ds, spec.batch_size, t, 0)
        sp = prove_step(circuits, ck, x, y, folder=ws.step_dir(t + 1))
        inst = sp.proof.instances
        assert circuits.step_layout.before_commitment(inst) == ck.commitment
        assert circuits.step_layout.after_commitment(inst) == sp.after.commitment
        assert verify(sp.proof, circuits.step)
        assert sp.summary.max_abs_param_diff <= fidelity, sp.summary
        ck = sp.after
