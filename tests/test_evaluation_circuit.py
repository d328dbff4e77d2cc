"""The evaluation circuit: held-out accuracy of committed weights, proven and verified off-chain.

The demo's softmax regression (scale 11, batch 8, lr 0.5) on the first 100 held-out digits: the
proven count equals the float64 reference on the same weights, rises with training, is refused
when a weight or the count is changed, and is bound to its held-out set by the verifying key."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkgrad.circuits.artifacts import Circuit
from zkgrad.circuits.evaluation import (
    compile_evaluation,
    count_correct,
    evaluation_input,
    held_out_commitment,
)
from zkgrad.circuits.model_circuits import ModelCircuits
from zkgrad.circuits.training import float_step
from zkgrad.errors import InputError
from zkgrad.layout import EvalLayout
from zkgrad.model import data
from zkgrad.model.checkpoint import Checkpoint, genesis
from zkgrad.model.data import Dataset
from zkgrad.model.quant import quantize
from zkgrad.model.spec import ModelSpec
from zkgrad.prover.prove import prove
from zkgrad.verifier.offchain import verify
from zkgrad.verifier.solidity import build_verifier

from .helpers import change_instance

SPEC = ModelSpec(factory="zkgrad.models:digits_linear", loss="cross_entropy", lr=0.5, batch_size=8,
                 input_shape=(64,), target_shape=(10,), scale=11)
TRAINED_STEPS = 20


def _part(ds: Dataset, start: int, stop: int) -> Dataset:
    return Dataset(ds.x[start:stop], ds.labels[start:stop], ds.num_classes)


@pytest.fixture(scope="module")
def sets() -> dict[str, Dataset]:
    return {"train": data.named("digits:train:0", SPEC.input_shape, 10),
            "held_out": data.named("digits:test:0", SPEC.input_shape, 10)}


@pytest.fixture(scope="module")
def checkpoints(sets: dict[str, Dataset]) -> dict[str, Checkpoint]:
    """Genesis, and the weights after a few float32 SGD steps from it, quantized."""
    g = genesis(SPEC)
    state = g.float_state()
    for t in range(TRAINED_STEPS):
        state, _ = float_step(SPEC, state, *data.batch(sets["train"], SPEC.batch_size, t, 0))
    return {"genesis": g, "trained": g.child([quantize(t, SPEC.scale) for t in state])}


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory, sets: dict[str, Dataset]) -> Circuit:
    circuit, reused = compile_evaluation(SPEC, genesis(SPEC), sets["train"], sets["held_out"],
                                         out=tmp_path_factory.mktemp("eval") / "evaluation", verifier=build_verifier)
    assert not reused
    return circuit


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory, evaluation: Circuit,
           checkpoints: dict[str, Checkpoint]) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("eval-proofs")
    return {name: prove(evaluation, evaluation_input(c), out=d / f"{name}.json") for name, c in checkpoints.items()}


def _layout(circuit: Circuit) -> EvalLayout:
    return EvalLayout(**circuit.manifest["config"]["extra"]["layout"])


@pytest.mark.proof
def test_circuit_states_its_held_out_set(evaluation: Circuit, sets: dict[str, Dataset]) -> None:
    extra = evaluation.manifest["config"]["extra"]
    assert _layout(evaluation) == EvalLayout(64 * 10 + 10, 100, 1)
    assert extra["held_out"] == {"size": 100, "commitment": "0x" + held_out_commitment(SPEC, sets["held_out"]).hex()}
    assert evaluation.manifest["config"]["param_visibility"] == "fixed"  # the set is in the verifying key
    assert evaluation.manifest["scales"]["output"] == [0]


@pytest.mark.proof
@pytest.mark.parametrize("name", ["genesis", "trained"])
def test_proven_count_is_the_reference_count(proofs: dict[str, Any], evaluation: Circuit,
                                             checkpoints: dict[str, Checkpoint], sets: dict[str, Dataset],
                                             name: str) -> None:
    result, checkpoint, layout = proofs[name], checkpoints[name], _layout(evaluation)
    assert verify(result.path, evaluation)
    instances = result.proof.instances
    assert instances[layout.weights] == checkpoint.words(checkpoint.n_params)
    assert layout.weights_commitment(instances) == checkpoint.weights_commitment
    # rebase multiplier 2: the logits are exact, so the count is the exact reference's
    assert evaluation.manifest["config"]["scale_rebase_multiplier"] == 2
    assert layout.count(instances) == count_correct(SPEC, checkpoint, sets["held_out"])
    assert result.outputs == [[float(layout.count(instances))]]


@pytest.mark.proof
def test_training_raises_the_proven_count(proofs: dict[str, Any], evaluation: Circuit) -> None:
    layout = _layout(evaluation)
    before, after = (layout.count(proofs[n].proof.instances) for n in ("genesis", "trained"))
    assert before < 30 < 60 < after, (before, after)


@pytest.mark.proof
@pytest.mark.parametrize("index", [0, 649, -1], ids=["first-weight", "last-weight", "count"])
def test_changed_public_value_is_refused(proofs: dict[str, Any], evaluation: Circuit, tmp_path: Path,
                                         index: int) -> None:
    bad = change_instance(proofs["trained"].path, tmp_path / "bad.json", index=index)
    assert not verify(bad, evaluation)


@pytest.mark.proof
def test_another_held_out_set_is_another_verifier(tmp_path: Path, evaluation: Circuit, sets: dict[str, Dataset],
                                                  checkpoints: dict[str, Checkpoint]) -> None:
    other_set = _part(sets["held_out"], 100, 200)
    other, _ = compile_evaluation(SPEC, checkpoints["genesis"], sets["train"], other_set, out=tmp_path / "other",
                                  verifier=build_verifier)
    assert other.vk.read_bytes() != evaluation.vk.read_bytes()
    mine, theirs = (json.loads(c.verifier_json.read_text()) for c in (evaluation, other))
    assert mine["kind"] == theirs["kind"]
    # a single verifier has the key in its code; a reusable one is deployed with it (the VKA)
    part = "bytecode" if mine["kind"] == "single" else "vka_digest"
    assert mine[part] != theirs[part]
    assert other.manifest["config"]["extra"]["held_out"]["commitment"] != \
        evaluation.manifest["config"]["extra"]["held_out"]["commitment"]
    proof = prove(other, evaluation_input(checkpoints["trained"]), out=tmp_path / "other.json")
    assert verify(proof.path, other)
    assert _layout(other).length == len(proof.proof.instances)  # same shape of public values ...
    assert not verify(proof.path, evaluation)  # ... but not a proof about this circuit's set


@pytest.mark.proof
def test_model_circuits_open_the_evaluation(tmp_path: Path, evaluation: Circuit) -> None:
    for part in ("step", "answer"):
        (tmp_path / part).mkdir()
        (tmp_path / part / "manifest.json").write_bytes(evaluation.manifest_path.read_bytes())
    without = ModelCircuits.open(SPEC, tmp_path)
    assert without.evaluation is None
    with pytest.raises(InputError, match="no evaluation circuit"):
        without.evaluation_layout  # noqa: B018
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "manifest.json").write_bytes(evaluation.manifest_path.read_bytes())
    assert ModelCircuits.open(SPEC, tmp_path).evaluation_layout == _layout(evaluation)


@pytest.mark.proof
@pytest.mark.slow
def test_logits_too_wide_for_scale_2s_fall_back_to_scale_s(tmp_path: Path, sets: dict[str, Dataset]) -> None:
    """At scale 13 a relu input at scale 26 must stay under about 4 logits: the run outgrows that,
    so the circuit rescales the logits to scale 13 (logrows 16) and still counts right."""
    spec = replace(SPEC, scale=13)
    g = genesis(spec)
    circuit, _ = compile_evaluation(spec, g, sets["train"], sets["held_out"], out=tmp_path / "e13")
    assert circuit.manifest["config"]["scale_rebase_multiplier"] == 1
    result = prove(circuit, evaluation_input(g), out=tmp_path / "p.json")
    assert verify(result.path, circuit)
    assert _layout(circuit).count(result.proof.instances) == count_correct(spec, g, sets["held_out"])


def test_only_classifiers_and_enough_samples(sets: dict[str, Dataset], tmp_path: Path) -> None:
    mse = replace(SPEC, loss="mse")
    with pytest.raises(InputError, match="no classes") as e:
        compile_evaluation(mse, genesis(mse), sets["train"], sets["held_out"], out=tmp_path / "e")
    assert "cross_entropy" in (e.value.hint or "")
    with pytest.raises(InputError, match="has 50 samples"):
        held_out_commitment(SPEC, _part(sets["held_out"], 0, 50))
    with pytest.raises(InputError, match="too small"):
        held_out_commitment(SPEC, sets["held_out"], size=20)
    assert not (tmp_path / "e").exists()


def test_held_out_commitment_names_the_samples(sets: dict[str, Dataset]) -> None:
    ho = sets["held_out"]
    assert held_out_commitment(SPEC, ho) == held_out_commitment(SPEC, _part(ho, 0, 150))  # the first 100
    assert held_out_commitment(SPEC, ho) != held_out_commitment(SPEC, _part(ho, 1, 101))
    relabeled = Dataset(ho.x, np.roll(ho.labels, 1), ho.num_classes)
    assert held_out_commitment(SPEC, ho) != held_out_commitment(SPEC, relabeled)
