"""A GPT of the kind people write (token and position embeddings, LayerNorm, causal attention,
exact GELU MLP) end to end with real proofs on a real anvil: registered on its committed text,
two proven steps accepted, a prompt continued by proven tokens the registry accepts against the
head, the head's held-out next-token accuracy proven and recorded, and a prompt outside the
vocabulary refused with nothing written. Slow (step logrows 17, evaluation logrows 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from web3 import Web3

from zkgrad.errors import InputError
from zkgrad.model import text
from zkgrad.model.dataset import commit_dataset, load_for
from zkgrad.model.spec import ModelSpec
from zkgrad.prover.proof import Proof
from zkgrad.train.evaluate import evaluate
from zkgrad.train.generate import generate, window
from zkgrad.train.loop import train
from zkgrad.train.register import ensure_registry, register
from zkgrad.train.shadow import predict
from zkgrad.train.workspace import Workspace
from zkgrad.verifier.offchain import verify

pytestmark = [pytest.mark.chain, pytest.mark.proof, pytest.mark.slow]

VOCAB = text.vocabulary(text.corpus())
SPEC = ModelSpec(factory="zkgrad.models:char_gpt", loss="next_token", lr=1.0, batch_size=2, input_shape=(4,),
                 target_shape=(4,), vocab=VOCAB, factory_kwargs=dict(vocab=29, context=4, dim=4, mlp=8))


def test_a_gpt_trains_answers_and_is_evaluated_by_proofs(w3: Web3, tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "gpt", SPEC)
    train_ds, test_ds = load_for(SPEC, "corpus:train"), load_for(SPEC, "corpus:test")
    ws.record_dataset(commit_dataset(SPEC, train_ds, source="corpus:train", seed=0, n_batches=8, held_out=test_ds,
                                     held_out_source="corpus:test", held_out_size=25))
    ws.compile(train_ds)
    ws.compile_evaluation(train_ds, test_ds, size=25)
    registry = ensure_registry(w3)
    model_id = int(register(ws, registry, anew=True)["model_id"])
    accepted = train(ws, train_ds, registry, model_id, steps=2, seed=0)
    assert registry.version(model_id) == 2 and len(accepted) == 2
    assert all((a.max_abs_param_diff or 0) <= 2e-3 for a in accepted), [a.max_abs_param_diff for a in accepted]
    head = ws.checkpoint_for(registry.head(model_id))
    assert head is not None

    gen = generate(ws, "the", 2, out=tmp_path / "gen", registry=registry, model_id=model_id)
    assert gen.version == 2 and len(gen.tokens) == 2 and set(gen.text) <= set(VOCAB)
    answers = registry.answers(model_id)
    assert [a.version for a in answers[-2:]] == [2, 2]  # the registry records which version said it
    ids = list(text.encode("the", VOCAB))
    for token in gen.tokens:  # each token is the head's greedy choice, proven
        x, at = window(ids, SPEC.context)
        want = predict(SPEC, head.float_state()[: head.n_params], x[None])[0, at]
        assert VOCAB[int(want)] == token.char
        assert verify(Proof.load(token.proof), ws.circuits().answer)
        ids.append(VOCAB.index(token.char))
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [
        ".zkgrad.json", "generation.json", "token-0000.proof.json", "token-0001.proof.json"]

    with pytest.raises(InputError, match="'Q' .* is not in the model's vocabulary"):
        generate(ws, "Qed", 1, out=tmp_path / "bad", registry=registry, model_id=model_id)
    assert not (tmp_path / "bad").exists()

    ev = evaluate(ws, registry, model_id)
    assert ev.version == 2 and ev.total == 100 and 0 <= ev.correct <= 100
    in_float = int(np.sum(predict(SPEC, head.float_state()[: head.n_params], test_ds.x[:25]) == test_ds.labels[:25]))
    assert abs(ev.correct - in_float) <= 2  # fixed-point logits: a near tie may fall the other way
