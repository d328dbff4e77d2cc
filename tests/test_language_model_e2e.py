"""The language-model job (``zkgrad demo --lm``), shortened to 2 steps and 2 tokens, with real
proofs on a real anvil: a GPT of the kind people write (token and position embeddings, LayerNorm,
causal attention, exact GELU MLP) registered on its committed text, its proven steps accepted, its
held-out next-token accuracy proven and recorded, a prompt continued by proven tokens the registry
accepts against the head, the report written; then a prompt outside the vocabulary refused with
nothing written. Slow: 30 minutes on 2 cores; step logrows 17, evaluation logrows 19 (its proof peaks near 22 GB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkgrad.chain.registry import Registry
from zkgrad.model import text
from zkgrad.model.dataset import load_for
from zkgrad.node import connect
from zkgrad.prover.proof import Proof
from zkgrad.train.generate import window
from zkgrad.train.shadow import predict
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

from .helpers import run_cli

pytestmark = [pytest.mark.chain, pytest.mark.proof, pytest.mark.slow]


def test_the_lm_demo_trains_answers_and_is_evaluated_by_proofs(tmp_path: Path, anvil: Any, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["demo", "--lm", "--steps", 2, "--tokens", 2, "--prompt", "the", "--workdir",
                              tmp_path / "demo", "--rpc", anvil.rpc_url, "--report", tmp_path / "report", "--json"],
                             capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["steps_accepted"] == 2 and [r["version"] for r in res["lineage"]] == [1, 2]
    # measured 9.2e-3 (step 1: the embeddings, whose gradient crosses LayerNorm's backward) and 1.1e-3;
    # the target is 2e-3, not met at scale 12 (BENCHMARKS.md, "A language model")
    assert 0 < res["max_abs_param_diff"] <= 1.2e-2
    assert all(abs(a - b) < 0.01 for a, b in zip(res["losses"], res["float_losses"], strict=True))
    ws = Workspace(Path(res["workspace"]))
    spec, vocab = ws.spec, ws.spec.vocab or ""
    reg = Registry(connect(anvil.rpc_url), res["registry"])
    head = ws.checkpoint_for(reg.head(res["model_id"]))
    assert head is not None
    params = head.float_state()[: head.n_params]

    # the printed accuracy is the one an accepted evaluation proof of the head recorded on chain
    (ev,) = reg.evaluations(res["model_id"])
    assert (ev.version, ev.total) == (res["evaluation_version"], res["held_out_tokens"]) == (2, 100)
    assert ev.accuracy == res["accuracy_proven"]
    held = load_for(spec, "corpus:test")
    in_float = int(np.sum(predict(spec, params, held.x[:25]) == held.labels[:25]))
    assert abs(ev.correct - in_float) <= 2  # fixed-point logits: a near tie may fall the other way
    assert 0 < res["accuracy_constant"] < res["accuracy_bigram"] < 1

    # each generated token is the head's greedy choice, proven, accepted against version 2
    generation = Path(res["generation"])
    assert sorted(p.name for p in generation.iterdir()) == [
        ".zkgrad.json", "generation.json", "token-0000.proof.json", "token-0001.proof.json"]
    ids, windows = list(text.encode("the", vocab)), set()
    for i, char in enumerate(res["generated"]):
        x, at = window(ids, spec.context)
        windows.add(tuple(x))
        assert vocab[int(predict(spec, params, x[None])[0, at])] == char
        assert verify(Proof.load(generation / f"token-{i:04d}.proof.json"), ws.circuits().answer)
        ids.append(vocab.index(char))
    # one answer per window: "the" padded with id 0 (a space) is "the ", whose answer the second token reuses
    assert [a.version for a in reg.answers(res["model_id"])] == [2] * len(windows)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "the" + res["generated"] in html and all(r["tx"] in html for r in res["lineage"])

    # a prompt outside the vocabulary: one line, no proof, no folder
    before = sorted((ws.root / "generations").iterdir())
    code, out, err = run_cli(["generate", ws.root, "--prompt", "Qed", "--tokens", 1, "--model-id", res["model_id"],
                              "--rpc", anvil.rpc_url, "--registry", res["registry"]], capsys)
    assert code != 0 and "'Q'" in err and "vocabulary" in err and "Traceback" not in err
    assert sorted((ws.root / "generations").iterdir()) == before and len(reg.answers(res["model_id"])) == len(windows)
