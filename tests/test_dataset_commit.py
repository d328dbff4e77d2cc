"""Committed datasets: the root over the batch commitments a step proof publishes, its checks, and
'zkgrad data commit' (written once, atomically; never replaced by other data)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkgrad.errors import InputError
from zkgrad.layout import StepLayout, commit
from zkgrad.merkle import leaf_hash, verify
from zkgrad.model.checkpoint import batch_words, genesis, tensor_words
from zkgrad.model.data import Dataset, batch, batch_indices, named
from zkgrad.model.dataset import (
    DatasetCommitment,
    batch_commitment,
    batch_proof,
    check,
    commit_dataset,
    data_sha256,
    held_out_minimum,
    schedule_index,
)
from zkgrad.model.quant import quantize
from zkgrad.model.spec import ModelSpec
from zkgrad.model.text import corpus, vocabulary

from .conftest import TINY_SPEC
from .helpers import run_cli

DIGITS = ModelSpec(factory="zkgrad.models:digits_mlp", loss="cross_entropy", lr=0.5, batch_size=8,
                   input_shape=(64,), target_shape=(10,))
# The registered root of digits:train:0, 40 batches of 8, seed 0, public: a change here orphans registered models.
DIGITS_ROOT = "0xcfa869a3d9fd05676284b6674244343c128c123ace173529862dd958cdd18c56"


@pytest.fixture(scope="module")
def train() -> Dataset:
    return named("digits:train:0", DIGITS.input_shape, 10)


@pytest.fixture(scope="module")
def test_set() -> Dataset:
    return named("digits:test:0", DIGITS.input_shape, 10)


def _commit(ds: Dataset, **kw: Any) -> DatasetCommitment:
    return commit_dataset(DIGITS, ds, source="digits:train:0", **{"seed": 0, "n_batches": 40, **kw})


def _relabel(ds: Dataset, sample: int) -> Dataset:
    labels = ds.labels.copy()
    labels[sample] = (labels[sample] + 1) % 10
    return Dataset(ds.x, labels, ds.num_classes)


# --- the API ------------------------------------------------------------------------------
def test_root_is_stable(train: Dataset) -> None:
    a, b = _commit(train), _commit(train)
    assert a == b and a.root == DIGITS_ROOT


def test_a_changed_label_in_a_committed_batch_changes_the_root(train: Dataset) -> None:
    sample = int(batch_indices(len(train), 8, 39, 0)[3])
    changed = _commit(_relabel(train, sample))
    assert changed.root != DIGITS_ROOT and changed.data_sha256 != data_sha256(train)


def test_a_changed_label_outside_the_batches_is_still_caught(train: Dataset) -> None:
    used = {int(i) for b in range(2) for i in batch_indices(len(train), 8, b, 0)}
    sample = next(i for i in range(len(train)) if i not in used)
    two = _commit(train, n_batches=2)
    changed = _relabel(train, sample)
    assert _commit(changed, n_batches=2).root == two.root
    with pytest.raises(InputError, match="data hash"):
        check(two, DIGITS, changed)


@pytest.mark.parametrize("scheme", ["public", "hashed"])
def test_batch_commitment_is_the_step_proofs(scheme: str, tiny_dataset: Dataset) -> None:
    """The words a step of batch i feeds the circuit (Checkpoint.step_input), at the step layout's
    batch offsets, commit to what the dataset commits to."""
    spec = ModelSpec(**{**TINY_SPEC, "commitment": scheme})  # type: ignore[arg-type]
    ckpt = genesis(spec)
    state = ckpt.words()
    for i in range(3):
        x, y = batch(tiny_dataset, spec.batch_size, i, 5)
        fed = ckpt.step_input(x, y)["input_data"][-3:-1]  # x, y (then the claim)
        words = [w for t in fed for w in tensor_words(quantize(np.array(t), spec.scale), scheme)]
        layout = StepLayout(len(state), len(words), len(ckpt.words(ckpt.n_params)))
        instances = [*state, *words, 0, *state, 0]
        assert layout.batch_commitment(instances) == batch_commitment(spec, tiny_dataset, i, 5)
        assert batch_commitment(spec, tiny_dataset, i, 5) != batch_commitment(spec, tiny_dataset, i, 6)


@pytest.mark.parametrize("version, index", [(0, 0), (5, 5), (39, 39), (40, 0), (123, 3)])
def test_batch_proof_of_a_version_verifies(train: Dataset, version: int, index: int) -> None:
    dc = _commit(train)
    assert schedule_index(version, 40) == index
    i, c, path = batch_proof(DIGITS, train, dc, version)
    assert (i, c) == (index, batch_commitment(DIGITS, train, index, 0))
    root = bytes.fromhex(dc.root[2:])
    assert verify(root, leaf_hash(i, c), path)
    assert not verify(root, leaf_hash((i + 1) % 40, c), path)
    assert batch_proof(DIGITS, train, dc, version, tree=check(dc, DIGITS, train)) == (i, c, path)


def test_schedule_index_refuses_nonsense() -> None:
    for version, n in ((0, 0), (-1, 3)):
        with pytest.raises(InputError):
            schedule_index(version, n)


@pytest.mark.parametrize("change, needle", [
    (lambda dc: (replace(DIGITS, batch_size=4), {}), "batch size"),
    (lambda dc: (replace(DIGITS, scale=10), {}), "scale"),
    (lambda dc: (replace(DIGITS, commitment="hashed"), {}), "commitment scheme"),
    (lambda dc: (DIGITS, {"seed": 1}), "batch seed"),
], ids=["batch size", "scale", "scheme", "seed"])
def test_check_names_what_differs(train: Dataset, change: Any, needle: str) -> None:
    dc = _commit(train, n_batches=3)
    spec, kw = change(dc)
    with pytest.raises(InputError, match=needle) as e:
        check(dc, spec, train, **kw)
    assert e.value.hint and "new workspace" in e.value.hint


def test_check_spec_is_the_cheap_part(train: Dataset) -> None:
    dc = _commit(train, n_batches=1)
    dc.check_spec(DIGITS)
    with pytest.raises(InputError, match="batch size differs .*4 here, 8 committed"):
        dc.check_spec(replace(DIGITS, batch_size=4))


def test_check_refuses_a_forged_root(train: Dataset) -> None:
    dc = _commit(train, n_batches=3)
    forged = replace(dc, root="0x" + "11" * 32)
    with pytest.raises(InputError, match="batch root"):
        check(forged, DIGITS, train)
    with pytest.raises(InputError, match="batch root"):
        batch_proof(DIGITS, train, forged, 0)


def test_held_out_commits_to_its_first_samples(train: Dataset, test_set: Dataset) -> None:
    dc = _commit(train, n_batches=2, held_out=test_set, held_out_source="digits:test:0", held_out_size=120)
    assert dc.held_out is not None and dc.held_out.size == 120
    onehot = np.eye(10)[test_set.labels[:120]]
    assert dc.held_out.commitment == "0x" + commit(batch_words(test_set.x[:120], onehot, 12, "public")).hex()
    assert dc.held_out.data_sha256 == data_sha256(test_set)
    assert dc.root == _commit(train, n_batches=2).root


@pytest.mark.parametrize("kw, needle", [
    ({"held_out_size": 99}, "at least 100 samples, not 99"),
    ({"held_out_size": 400}, "has 359 samples, 400 are committed"),
    ({"held_out_source": None}, "needs its source"),
], ids=["size < 100", "too few samples", "no source"])
def test_bad_held_out_refused(train: Dataset, test_set: Dataset, kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        _commit(train, n_batches=2, held_out=test_set, **{"held_out_source": "digits:test:0", **kw})


def test_data_that_does_not_fit_the_model_refused(train: Dataset, tiny_dataset: Dataset) -> None:
    with pytest.raises(InputError, match="model's input shape"):
        _commit(tiny_dataset, n_batches=1)
    with pytest.raises(InputError, match="at least one"):
        _commit(train, n_batches=0)


def test_json_round_trip(train: Dataset, test_set: Dataset, tmp_path: Path) -> None:
    dc = _commit(train, n_batches=2, held_out=test_set, held_out_source="digits:test:0")
    assert DatasetCommitment.from_dict(json.loads(json.dumps(dc.to_dict()))) == dc
    assert DatasetCommitment.load(dc.save(tmp_path / "d.json")) == dc


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("root"),
    lambda d: d.update(root="0x12"),
    lambda d: d.update(format=2),
    lambda d: d.update(n_batches=0),
    lambda d: d.update(seed=True),
    lambda d: d.update(commitment="poseidon"),
    lambda d: d.update(data_sha256="xyz"),
    lambda d: d.update(extra=1),
    lambda d: d["held_out"].update(size=0),
    lambda d: d["held_out"].pop("commitment"),
], ids=["no root", "short root", "format", "0 batches", "bool seed", "scheme", "sha", "extra", "held 0", "held no c"])
def test_malformed_json_refused(train: Dataset, test_set: Dataset, edit: Any) -> None:
    doc = _commit(train, n_batches=2, held_out=test_set, held_out_source="digits:test:0").to_dict()
    edit(doc)
    with pytest.raises(InputError, match="malformed"):
        DatasetCommitment.from_dict(doc)


def test_a_held_out_set_too_small_for_the_model_is_refused(train: Dataset, test_set: Dataset) -> None:
    """100 predictions at least: 100 samples of a classifier (a file saying 50 is refused before any
    use), 25 windows of a 4-token language model."""
    doc = _commit(train, n_batches=2, held_out=test_set, held_out_source="digits:test:0").to_dict()
    doc["held_out"]["size"] = 50
    with pytest.raises(InputError, match="covers 50 samples, this model's evaluation needs at least 100"):
        DatasetCommitment.from_dict(doc).check_spec(DIGITS)
    lm = ModelSpec(factory="zkgrad.models:char_gpt", loss="next_token", lr=1.0, batch_size=2, input_shape=(4,),
                   target_shape=(4,), vocab=vocabulary(corpus()))
    assert held_out_minimum(lm) == 25 and held_out_minimum(DIGITS) == 100


# --- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def ws(tmp_path: Path) -> Path:
    from zkgrad.train.workspace import Workspace

    return Workspace.create(tmp_path / "model", DIGITS).root


def _one_line_error(code: int, err: str, needle: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in err, err


def _nothing_written(ws: Path) -> None:
    assert not [p.name for p in ws.iterdir() if "dataset" in p.name]


def test_cli_commit_then_rerun_is_a_no_op(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "commit", "digits:train:0", "--model", ws, "--batches", 40, "--held-out", "digits:test:0"]
    code, out, _ = run_cli([*args, "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["root"] == DIGITS_ROOT and doc["unchanged"] is False and doc["held_out"]["size"] == 100
    written = (ws / "dataset.json").read_bytes()
    assert DatasetCommitment.load(ws / "dataset.json").root == DIGITS_ROOT
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "already committed" in out and DIGITS_ROOT in out and "digits:train:0" in out
    assert (ws / "dataset.json").read_bytes() == written


@pytest.mark.parametrize("other", [["digits:train:1", "--held-out", "digits:test:0"], ["digits:train:0"],
                                   ["digits:train:0", "--held-out", "digits:test:0", "--seed", "1"]],
                         ids=["other data", "no held-out", "other seed"])
def test_cli_refuses_to_replace_a_commitment(ws: Path, other: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli(["data", "commit", "digits:train:0", "--model", ws, "--batches", 4, "--held-out",
                          "digits:test:0"], capsys)
    assert code == 0
    written = (ws / "dataset.json").read_bytes()
    code, _, err = run_cli(["data", "commit", *other[:1], "--model", ws, "--batches", 4, *other[1:]], capsys)
    _one_line_error(code, err, "already commits to other data")
    assert "make a new workspace" in err
    assert (ws / "dataset.json").read_bytes() == written


def test_cli_changed_label_in_a_file_changes_the_root(ws: Path, train: Dataset, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    roots = []
    for name, ds in (("a.npz", train), ("b.npz", _relabel(train, int(batch_indices(len(train), 8, 0, 0)[0])))):
        np.savez(tmp_path / name, x=ds.x, y=ds.labels)
        code, out, err = run_cli(["data", "commit", tmp_path / name, "--model", ws, "--batches", 3, "--json"], capsys)
        assert code == 0, err
        roots.append(json.loads(out)["root"])
        assert json.loads(out)["source"] == str(tmp_path / name)
        (ws / "dataset.json").unlink()
    assert roots[0] == _commit(train, n_batches=3).root != roots[1]


def test_cli_refuses_a_malformed_dataset_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "dataset.json").write_text('{"root": "x"}')
    code, _, err = run_cli(["data", "commit", "--model", ws, "--batches", 2], capsys)
    _one_line_error(code, err, "malformed")
    assert (ws / "dataset.json").read_text() == '{"root": "x"}'


@pytest.mark.parametrize("args, needle", [
    (["missing.npz", "--batches", "2"], "data file not found"),
    (["--batches", "0"], "--batches"),
    (["--batches", "2", "--held-out", "digits:test:0", "--held-out-size", "99"], "at least 100 samples"),
    (["--batches", "2", "--held-out", "digits:test:0", "--held-out-size", "360"], "has 359 samples"),
    (["--batches", "2", "--held-out", "missing.csv"], "data file not found"),
    (["digits:valid:0", "--batches", "2"], "unknown built-in data"),
    (["--batches", "2", "--seed", "-1"], "--seed"),
], ids=["missing file", "0 batches", "held-out < 100", "held-out too small", "missing held-out", "bad name",
        "negative seed"])
def test_cli_bad_inputs_one_line_nothing_written(ws: Path, args: list[str], needle: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["data", "commit", "--model", ws, *args], capsys)
    _one_line_error(code, err, needle)
    _nothing_written(ws)


def test_cli_missing_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["data", "commit", "--model", tmp_path / "none", "--batches", 2], capsys)
    _one_line_error(code, err, "model spec not found")
