"""The same generic path on a second architecture, a small conv net on 8x8 digits: three proven,
exactly chained steps with no code specific to the model. Slow (logrows 18): the slow tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkgrad.model import data
from zkgrad.model.spec import ModelSpec
from zkgrad.prover.step import prove_step
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

pytestmark = [pytest.mark.proof, pytest.mark.slow]


def test_conv_net_three_chained_steps(tmp_path: Path) -> None:
    spec = ModelSpec(factory="zkgrad.models:digits_cnn", factory_kwargs={"channels": 2}, loss="cross_entropy",
                     lr=0.5, batch_size=4, input_shape=(1, 8, 8), target_shape=(10,), scale=12, seed=0)
    ds = data.named("digits:train:0", spec.input_shape, 10)
    ws = Workspace.create(tmp_path / "cnn", spec)
    circuits, _ = ws.compile(data.batch(ds, spec.batch_size, 0, 0))
    ck = ws.genesis()
    for t in range(3):
        x, y = data.batch(ds, spec.batch_size, t, 0)
        sp = prove_step(circuits, ck, x, y, folder=ws.step_dir(t + 1))
        inst = sp.proof.instances
        assert circuits.step_layout.before_commitment(inst) == ck.commitment
        assert circuits.step_layout.after_commitment(inst) == sp.after.commitment
        assert verify(sp.proof, circuits.step)
        assert sp.summary.max_abs_param_diff < 5e-3
        ck = sp.after
