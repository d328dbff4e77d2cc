"""Checkpoints: genesis, atomic save/load, and words equal to what ezkl publishes (real witnesses):
the values themselves under the ``public`` commitment, Poseidon hashes under ``hashed``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import ezkl
import numpy as np
import pytest

from zkgrad import engine
from zkgrad.circuits.config import committed
from zkgrad.circuits.training import export_training_step, float_step
from zkgrad.errors import InputError
from zkgrad.layout import FIELD_MODULUS, StepLayout, commit, felt
from zkgrad.model import checkpoint as checkpoint_mod
from zkgrad.model.checkpoint import Checkpoint, batch_words, genesis, tensor_hash
from zkgrad.model.quant import int_to_felt, quantize
from zkgrad.model.spec import ModelSpec

TINY = ModelSpec(factory="zkgrad.models:tiny_mlp", loss="mse", lr=0.25, batch_size=2,
                 input_shape=(4,), target_shape=(3,), scale=12)
DIGITS = ModelSpec(factory="zkgrad.models:digits_mlp", loss="cross_entropy", lr=0.1, momentum=0.5,
                   batch_size=8, input_shape=(64,), target_shape=(10,), scale=12)
SCHEMES = ("public", "hashed")


def values(q: np.ndarray) -> list[int]:
    return [int_to_felt(int(v)) for v in q.reshape(-1)]


def test_genesis_is_seeded_and_quantized() -> None:
    a, b = genesis(DIGITS), genesis(DIGITS)
    other = genesis(ModelSpec.from_dict({**DIGITS.to_dict(), "seed": 1}))
    assert a.commitment == b.commitment and a.commitment != other.commitment
    assert a.version == 0 and a.parent is None and a.n_params == 4
    assert a.names == ["0.weight", "0.bias", "2.weight", "2.bias",
                       "momentum.0.weight", "momentum.0.bias", "momentum.2.weight", "momentum.2.bias"]
    assert all(v.dtype == np.int64 for v in a.state())
    assert not any(v.any() for v in a.state()[4:])  # momentum starts at zero
    w = DIGITS.build_module().state_dict()["0.weight"].numpy()
    assert np.abs(a.params["0.weight"] / 2**12 - w).max() <= 2**-13
    # public (the default): the words are the integers themselves, negatives as p - |v|
    assert a.commitment_scheme == "public" and a.hashes == ()
    assert a.words() == [w for q in a.state() for w in values(q)]
    assert any(w > FIELD_MODULUS // 2 for w in a.words())  # some weights are negative
    assert a.weights_commitment == commit(a.words(4)) == commit(a.words()[: sum(q.size for q in a.state()[:4])])
    assert a.weights_commitment != a.commitment
    h = genesis(replace(DIGITS, commitment="hashed"))
    assert h.commitment_scheme == "hashed" and h.state()[0].tolist() == a.state()[0].tolist()
    assert h.words() == list(h.hashes) == [tensor_hash(q) for q in h.state()]
    assert h.weights_commitment == commit(h.hashes[:4]) != h.commitment
    assert h.commitment != a.commitment


@pytest.mark.parametrize("scheme", SCHEMES)
def test_save_load_round_trip(tmp_path: Path, scheme: str) -> None:
    ck = genesis(replace(DIGITS, commitment=scheme))
    path = ck.save(tmp_path / "ck")
    back = Checkpoint.load(tmp_path / "ck")
    assert path == tmp_path / "ck" / "checkpoint.json"
    assert back.commitment_scheme == scheme and back.words() == ck.words()
    assert back.names == ck.names and back.hashes == ck.hashes and back.commitment == ck.commitment
    assert all(np.array_equal(p, q) for p, q in zip(back.state(), ck.state()))
    child = ck.child([v + 1 for v in ck.state()], loss=1.5, batch_commitment=b"\x01" * 32)
    child.save(tmp_path / "ck")
    again = Checkpoint.load(tmp_path / "ck")
    assert again.version == 1 and again.parent == ck.commitment and again.loss == 1.5
    assert again.batch_commitment == b"\x01" * 32
    assert len(list((tmp_path / "ck").glob("state-*.npz"))) == 1  # the old state file was removed


@pytest.mark.parametrize("fail_at", ["write_bytes", "write_json"])
def test_crash_mid_save_keeps_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str) -> None:
    ck = genesis(TINY)
    ck.save(tmp_path)
    old_state = next(tmp_path.glob("state-*.npz"))

    def crash(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_mod.fsio, fail_at, crash)
    with pytest.raises(OSError, match="disk full"):
        ck.child([v * 2 for v in ck.state()]).save(tmp_path)
    monkeypatch.undo()
    assert old_state.is_file()
    back = Checkpoint.load(tmp_path)
    assert back.version == 0 and back.commitment == ck.commitment
    assert all(np.array_equal(p, q) for p, q in zip(back.state(), ck.state()))


def test_tampered_state_is_refused(tmp_path: Path) -> None:
    genesis(TINY).save(tmp_path)
    npz = next(tmp_path.glob("state-*.npz"))
    npz.write_bytes(npz.read_bytes()[:-5] + b"xxxxx")
    with pytest.raises(InputError, match="sha256"):
        Checkpoint.load(tmp_path)


def test_forged_commitment_is_refused(tmp_path: Path) -> None:
    path = genesis(TINY).save(tmp_path)
    doc = json.loads(path.read_text())
    doc["commitment"] = "0x" + "00" * 32
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="commitment"):
        Checkpoint.load(tmp_path)


# --- against real ezkl witnesses ---------------------------------------------------------------
def build_step_circuit(d: Path, scheme: str) -> dict:
    """The tiny step circuit, calibrated as the prover will be (``committed``: scales=[s], rebase 1,
    io public values or Poseidon hashes as ``scheme`` says)."""
    spec = replace(TINY, commitment=scheme)
    graph = export_training_step(spec, d / "step.onnx")
    ck = genesis(spec)
    x, y = data(0)
    (d / "in.json").write_text(json.dumps(ck.step_input(x, y)))
    cfg = committed("step", spec.scale, scheme)
    ra = engine.run_args(input_visibility=cfg.input_visibility, output_visibility=cfg.output_visibility,
                         param_visibility=cfg.param_visibility, input_scale=spec.scale, param_scale=spec.scale,
                         scale_rebase_multiplier=1,
                         ignore_range_check_inputs_outputs=cfg.ignore_range_check_inputs_outputs)
    assert ezkl.gen_settings(str(d / "step.onnx"), str(d / "settings.json"), py_run_args=ra)
    assert ezkl.calibrate_settings(str(d / "in.json"), str(d / "step.onnx"), str(d / "settings.json"),
                                   "resources", scales=[spec.scale], scale_rebase_multiplier=[1])
    assert ezkl.compile_circuit(str(d / "step.onnx"), str(d / "step.compiled"), str(d / "settings.json"))
    settings = json.loads((d / "settings.json").read_text())
    return {"dir": d, "graph": graph, "settings": settings, "spec": spec, "scheme": scheme}


@pytest.fixture(scope="module")
def public_circuit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_step_circuit(tmp_path_factory.mktemp("step-public"), "public")


@pytest.fixture(scope="module")
def hashed_circuit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_step_circuit(tmp_path_factory.mktemp("step-hashed"), "hashed")


@pytest.fixture(params=SCHEMES)
def step_circuit(request: pytest.FixtureRequest) -> dict:
    return request.getfixturevalue(f"{request.param}_circuit")


def public_values(w: dict, scheme: str) -> list[int]:
    """What the proof of witness ``w`` publishes: its inputs then outputs, as values or hashes."""
    if scheme == "hashed":
        return [felt(h) for h in w["processed_inputs"]["poseidon_hash"] + w["processed_outputs"]["poseidon_hash"]]
    return [felt(v) for t in w["inputs"] + w["outputs"] for v in t]


def data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((2, 4)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)


def witness(step_circuit: dict, ck: Checkpoint, x: np.ndarray, y: np.ndarray, name: str) -> dict:
    d = step_circuit["dir"]
    (d / f"{name}.in.json").write_text(json.dumps(ck.step_input(x, y)))
    ezkl.gen_witness(str(d / f"{name}.in.json"), str(d / "step.compiled"), str(d / f"{name}.w.json"))
    return json.loads((d / f"{name}.w.json").read_text())


def test_tensor_hash_equals_ezkl_input_hash(hashed_circuit: dict) -> None:
    ck = genesis(hashed_circuit["spec"])
    x, y = data(0)
    w = witness(hashed_circuit, ck, x, y, "hash")
    theirs = [felt(h) for h in w["processed_inputs"]["poseidon_hash"]]
    assert theirs[:4] == ck.words() == list(ck.hashes) == [tensor_hash(v) for v in ck.state()]
    assert theirs[4:6] == list(batch_words(x, y, TINY.scale, "hashed")) and len(theirs) == 7  # then the claim
    layout = hashed_circuit["graph"].layout("hashed")
    assert layout == StepLayout(4, 2, 4)
    assert layout.before_commitment(theirs + [0] * 5) == ck.commitment


def test_public_words_equal_ezkl_public_values(public_circuit: dict) -> None:
    """Under the public commitment a checkpoint's words are the witness's public inputs for the
    state (the values ezkl quantized, as field elements), and the batch's words its x and y."""
    ck = genesis(public_circuit["spec"])
    x, y = data(0)
    w = witness(public_circuit, ck, x, y, "words")
    assert w["processed_inputs"] is None or not w["processed_inputs"].get("poseidon_hash")
    theirs = [[felt(v) for v in t] for t in w["inputs"]]
    assert [v for t in theirs[:4] for v in t] == ck.words()
    assert [v for t in theirs[4:6] for v in t] == list(batch_words(x, y, TINY.scale, "public"))
    assert theirs[6] == [0]  # the claim: 0 binds no submitter
    assert theirs[4] == values(quantize(x, TINY.scale))
    layout = public_circuit["graph"].layout("public")
    n_state, n_batch = sum(q.size for q in ck.state()), x.size + y.size
    assert layout == StepLayout(n_state, n_batch, n_state)
    inst = public_values(w, "public")
    assert layout.before_commitment(inst) == ck.commitment and layout.batch_commitment(inst) == commit(
        batch_words(x, y, TINY.scale, "public"))
    assert layout.after_weights_commitment(inst) == layout.after_commitment(inst)  # no momentum


def test_three_steps_chain_exactly(step_circuit: dict) -> None:
    """Outputs of step t fed to step t+1: after(t) == before(t+1) bit for bit, and the proven
    step stays within fixed-point error of the float32 step."""
    assert step_circuit["settings"]["model_output_scales"][:4] == [TINY.scale] * 4
    scheme = step_circuit["scheme"]
    layout = step_circuit["graph"].layout(scheme)
    ck = genesis(step_circuit["spec"])
    prev_after = None
    for t in range(3):
        x, y = data(t)
        w = witness(step_circuit, ck, x, y, f"chain{t}")
        instances = public_values(w, scheme)
        assert layout.before_commitment(instances) == ck.commitment
        if prev_after is not None:
            assert layout.before_commitment(instances) == prev_after
        child = ck.child_from_witness(w, loss_scale=step_circuit["settings"]["model_output_scales"][4])
        assert layout.after_commitment(instances) == child.commitment and child.parent == ck.commitment
        assert child.batch_commitment == layout.batch_commitment(instances)
        assert child.commitment_scheme == scheme and instances[layout.after] == child.words()
        ref, ref_loss = float_step(TINY, ck.float_state(), x, y)
        assert max(float(np.abs(q / 2**12 - r.numpy()).max()) for q, r in zip(child.state(), ref)) < 2e-3
        assert abs(child.loss - ref_loss) < 1e-2
        assert any(not np.array_equal(a, b) for a, b in zip(child.state(), ck.state()))
        prev_after, ck = layout.after_commitment(instances), child


def test_witness_from_another_checkpoint_is_refused(step_circuit: dict) -> None:
    ck = genesis(step_circuit["spec"])
    w = witness(step_circuit, ck, *data(0), "other")
    stranger = ck.child([v + 1 for v in ck.state()])
    with pytest.raises(InputError, match="not computed from this checkpoint"):
        stranger.child_from_witness(w)
