"""``zkgrad audit``: a stranger with the RPC URL, the model id and the data file checks what a model
id means; lies in a registration are named. And the build it relies on: the same spec gives the
same verifier, byte for byte."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkgrad.chain.deployments import deploy_verifier
from zkgrad.chain.published import published_spec
from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.model.data import Dataset, batch
from zkgrad.model.dataset import batch_proof, commit_dataset
from zkgrad.model.spec import ModelSpec
from zkgrad.node import connect
from zkgrad.prover.step import prove_step
from zkgrad.train.audit import audit_model
from zkgrad.train.register import register
from zkgrad.train.workspace import Workspace

from .conftest import TINY_SPEC
from .helpers import copy_workspace, run_cli

pytestmark = [pytest.mark.proof, pytest.mark.chain]


@pytest.fixture(scope="module")
def honest(tiny_workspace: Workspace, tiny_dataset: Dataset, anvil: Any,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registry with the tiny model registered honestly and trained 2 proven steps."""
    ws = copy_workspace(tiny_workspace, tmp_path_factory.mktemp("audit-ws") / "model")
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    mid = int(register(ws, reg)["model_id"])
    ck = ws.genesis()
    for v in range(2):
        x, y = batch(tiny_dataset, ws.spec.batch_size, v, 0)
        sp = prove_step(ws.circuits(), ck, x, y, folder=ws.step_dir(v + 1), claim=reg.claim(mid, v + 1))
        reg.submit_update(mid, sp.proof.proof_bytes, sp.proof.instances,
                          batch_path=batch_proof(ws.spec, tiny_dataset, ws.dataset(), v)[2])
        ck = sp.after
    return {"ws": ws, "reg": reg, "mid": mid}


def _failed(report: Any) -> list[str]:
    return [f.what for f in report.findings if not f.ok]


def test_two_builds_of_one_spec_give_identical_verifiers(tiny_workspace: Workspace, tiny_dataset: Dataset,
                                                          tmp_path: Path) -> None:
    again = Workspace.create(tmp_path / "again", tiny_workspace.spec)
    rebuilt, reused = again.compile(tiny_dataset)
    assert not reused
    for a, b in ((tiny_workspace.circuits().step, rebuilt.step), (tiny_workspace.circuits().answer, rebuilt.answer)):
        assert a.key == b.key
        assert a.vk.read_bytes() == b.vk.read_bytes()
        assert a.verifier()["bytecode"] == b.verifier()["bytecode"]


def test_an_honest_model_audits_clean_from_a_fresh_home(honest: dict[str, Any], anvil: Any, zkgrad_home: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: Any) -> None:
    """Only the RPC URL, the registry and model id, the data file and the SRS files (by sha256)."""
    data = Path(honest["ws"].dataset().source)
    srs_dir = tmp_path / "srs"
    srs_dir.mkdir()
    for f in (zkgrad_home / "srs").glob("*.srs"):  # handed over as a ceremony file would be
        (srs_dir / f.name).symlink_to(f)
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path / "fresh-home"))
    code, out, err = run_cli(["audit", honest["mid"], "--rpc", anvil.rpc_url, "--registry", honest["reg"].address,
                              "--data", data, "--srs-dir", srs_dir, "--json"], capsys)
    report = json.loads(out)
    assert code == 0, out + err
    assert report["ok"] and [s["version"] for s in report["lineage"]["steps"]] == [1, 2]
    assert {f["what"] for f in report["findings"]} >= {"published spec", "genesis", "dataset", "step circuit",
                                                       "step verifier", "answer verifier"}
    # without the SRS files the verifiers cannot be rebuilt: said so, not a false "mismatch"
    code, out, _ = run_cli(["audit", honest["mid"], "--rpc", anvil.rpc_url, "--registry", honest["reg"].address,
                            "--data", data, "--json"], capsys)
    assert code == 1 and "--srs-dir" in out


@pytest.mark.slow  # a second model compiled and registered (~50 s): the default set stays near 20 min
def test_a_verifier_built_for_another_learning_rate_fails_the_audit(honest: dict[str, Any], tiny_dataset: Dataset,
                                                                     tmp_path: Path) -> None:
    ws, reg = honest["ws"], honest["reg"]
    other = Workspace.create(tmp_path / "lr", ModelSpec(**{**TINY_SPEC, "lr": float(TINY_SPEC["lr"]) / 2}))  # type: ignore[arg-type]
    other_step = deploy_verifier(reg.w3, other.compile(tiny_dataset)[0].step).address
    info = reg.model(honest["mid"])
    circuits = ws.circuits()
    mid = reg.register_model(dataclasses.replace(info.terms, step_verifier=other_step), circuits.step_layout,
                             circuits.answer_layout, info.genesis, name="another lr's verifier",
                             spec=published_spec(circuits, ws.dataset()))
    report = audit_model(reg, mid)
    assert not report.ok and _failed(report) == ["step verifier"]
    assert "not this circuit's" in next(f.detail for f in report.findings if f.what == "step verifier")


def test_a_dataset_root_that_is_not_the_data_fails_the_audit(honest: dict[str, Any], tiny_dataset: Dataset,
                                                              tmp_path: Path) -> None:
    ws, reg = honest["ws"], honest["reg"]
    info = reg.model(honest["mid"])
    circuits = ws.circuits()
    elsewhere = commit_dataset(ws.spec, tiny_dataset, source="x", seed=1, n_batches=8)  # another batch order
    mid = reg.register_model(dataclasses.replace(info.terms, dataset_root=bytes.fromhex(elsewhere.root[2:])),
                             circuits.step_layout, circuits.answer_layout, info.genesis, name="other root",
                             spec=published_spec(circuits, ws.dataset()))
    report = audit_model(reg, mid)
    assert not report.ok and _failed(report) == ["dataset"]
    # and the honest model against a data file with one label changed
    y = tiny_dataset.labels.copy()
    y[3, 0] += 0.25
    np.savez(tmp_path / "poisoned.npz", x=tiny_dataset.x, y=y)
    report = audit_model(reg, honest["mid"], data=str(tmp_path / "poisoned.npz"))
    assert _failed(report) == ["dataset"]
    assert "data hash differs" in report.findings[-1].detail


@pytest.mark.slow  # ~2 min: its own circuits, two proofs and an audit's rebuild; kept out of the 20-min default set
def test_a_momentum_model_registers_trains_two_steps_and_audits_clean(tiny_dataset: Dataset, anvil: Any,
                                                                      tmp_path: Path) -> None:
    from zkgrad.train.loop import train

    spec = ModelSpec(**{**TINY_SPEC, "momentum": 0.9})  # type: ignore[arg-type]
    ws = Workspace.create(tmp_path / "momentum", spec)
    ws.compile(tiny_dataset)
    np.savez(tmp_path / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    ws.record_dataset(commit_dataset(spec, tiny_dataset, source=str(tmp_path / "data.npz"), seed=0, n_batches=8))
    w3 = connect(anvil.rpc_url)
    reg = Registry(w3, deploy_registry(w3))
    mid = int(register(ws, reg)["model_id"])
    assert [a.version for a in train(ws, tiny_dataset, reg, mid, steps=2, seed=0)] == [1, 2]
    info = reg.model(mid)
    assert info.step_layout.state_words == 2 * info.step_layout.weights_words  # parameters and their velocities
    assert info.head_weights == ws.checkpoint_for(info.head).weights_commitment != info.head
    report = audit_model(reg, mid)
    assert report.ok, report.to_dict()
    assert [s.version for s in report.lineage.steps] == [1, 2]  # type: ignore[union-attr]
