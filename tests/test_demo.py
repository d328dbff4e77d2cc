"""The README's main command, shortened to 2 steps: a digits classifier trained by proven steps on
its committed dataset, its held-out accuracy proven and recorded on chain, a held-out digit
answered with an accepted proof, and the report of the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkgrad.chain.registry import Registry
from zkgrad.circuits.evaluation import compile_evaluation, evaluation_input
from zkgrad.errors import TransactionRevertedError
from zkgrad.model.data import Dataset, named
from zkgrad.node import connect
from zkgrad.prover.prove import prove
from zkgrad.train.workspace import Workspace

from .helpers import run_cli

pytestmark = [pytest.mark.proof, pytest.mark.chain]


def _refused(error: str, fn: Any, *args: Any) -> None:
    with pytest.raises(TransactionRevertedError) as e:
        fn(*args)
    assert e.value.data.get("error") == error


def test_demo_two_steps_with_proven_accuracy_and_report(tmp_path: Path, anvil: Any, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["demo", "--steps", 2, "--hidden", 4, "--batch-size", 2, "--workdir", tmp_path / "demo",
                              "--rpc", anvil.rpc_url, "--report", tmp_path / "report", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["steps_accepted"] == 2
    assert [r["version"] for r in res["lineage"]] == [1, 2]
    assert 0.0 <= res["accuracy_head"] <= 1.0 and 0.0 <= res["accuracy_float"] <= 1.0
    assert abs(res["accuracy_head"] - res["accuracy_float"]) <= 0.05  # two steps barely diverge
    assert res["answer"]["version"] == 2 and res["answer"]["gas_used"] > 0
    assert res["mean_update_gas"] > 0 and res["mean_prove_s"] > 0
    assert res["dev_srs"] is True
    html = (tmp_path / "report" / "report.html").read_text()
    assert (tmp_path / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in res["lineage"]:
        assert r["tx"] in html  # every accepted step is in the report
    assert f"proven {res['accuracy_proven']:.1%}" in html and "acc (float)" in html

    # the printed accuracy is the one an accepted evaluation proof of the head recorded on chain
    reg = Registry(connect(anvil.rpc_url), res["registry"])
    (ev,) = reg.evaluations(res["model_id"])
    assert (ev.version, ev.correct, ev.total, ev.tx_hash) == (2, res["evaluation"]["correct"], 100,
                                                             res["evaluation"]["tx_hash"])
    assert res["accuracy_proven"] == ev.accuracy == reg.contract.functions.getEvaluation(
        res["model_id"], 2).call()[1] / 100
    assert "proven held-out accuracy" in run_cli(["history", res["model_id"], "--rpc", anvil.rpc_url, "--registry",
                                                  res["registry"]], capsys)[1]

    # refused: the same version again, other weights than the head, another held-out set
    ws = Workspace(Path(res["workspace"]))
    circuits, mid = ws.circuits(), res["model_id"]
    again = prove(circuits.evaluation, evaluation_input(ws.checkpoint_for(reg.head(mid))), out=tmp_path / "again.json")
    _refused("AlreadyEvaluated", reg.submit_evaluation, mid, again.proof.proof_bytes, again.proof.instances)
    old = prove(circuits.evaluation, evaluation_input(ws.genesis()), out=tmp_path / "genesis.json")
    _refused("WrongWeights", reg.submit_evaluation, mid, old.proof.proof_bytes, old.proof.instances)
    test = named("digits:test:0", ws.spec.input_shape, 10)
    easier = Dataset(test.x[100:200], test.labels[100:200], 10)
    other, _ = compile_evaluation(ws.spec, ws.genesis(), named("digits:train:0", ws.spec.input_shape, 10), easier,
                                  out=tmp_path / "other-set")
    ours = other.manifest["config"]["extra"]["held_out"]["commitment"]
    assert ours != "0x" + reg.model(mid).terms.held_out.hex()
    # on a model whose head is still unevaluated (same terms, genesis), the other set's proof is refused
    mid2 = reg.register_model(reg.model(mid).terms, circuits.step_layout, circuits.answer_layout, ws.genesis().commitment,
                              name="fresh", spec=reg.registration(mid).spec)
    alt = prove(other, evaluation_input(ws.genesis()), out=tmp_path / "alt.json")
    _refused("InvalidProof", reg.submit_evaluation, mid2, alt.proof.proof_bytes, alt.proof.instances)
