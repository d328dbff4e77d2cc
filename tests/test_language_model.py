"""Language models without a proof: the tokenizer and the bundled text, token windows, the
rewrites (nn.Embedding, exact GELU, causal softmax) and the next-token loss against plain torch,
ezkl laying the step out, the spec's vocabulary, and bad inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ezkl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from zkgrad.circuits import training
from zkgrad.circuits.float_graph import FloatGraph
from zkgrad.circuits.rewrites import ezkl_ready
from zkgrad.circuits.training import export_inference, export_training_step, float_step
from zkgrad.errors import InputError
from zkgrad.model import text
from zkgrad.model.checkpoint import genesis
from zkgrad.model.dataset import load_for
from zkgrad.model.spec import ModelSpec
from zkgrad.model.weights import save_weights
from zkgrad.models import GPT, char_gpt

from .helpers import run_cli

VOCAB = text.vocabulary(text.corpus())


def lm_spec(**kw: object) -> ModelSpec:
    args: dict = dict(factory="zkgrad.models:char_gpt", loss="next_token", lr=1.0, batch_size=2, input_shape=(4,),
                      target_shape=(4,), vocab=VOCAB, factory_kwargs=dict(vocab=len(VOCAB), context=4, dim=4, mlp=8))
    args.update(kw)
    return ModelSpec(**args)


# --- text --------------------------------------------------------------------------------
def test_bundled_corpus_and_its_split() -> None:
    body = text.corpus()
    assert len(body) == 12_887 and VOCAB == " ,." + "abcdefghijklmnopqrstuvwxyz"
    train, test = text.split(body, "train"), text.split(body, "test")
    assert train + test == body and len(test) == len(body) - int(len(body) * 0.9)


def test_windows_are_next_tokens() -> None:
    ds = text.windows("abcabd", "abcd", 3)
    assert ds.x.tolist() == [[0, 1, 2], [1, 2, 0], [2, 0, 1]] and ds.labels.tolist() == [[1, 2, 0], [2, 0, 1], [0, 1, 3]]
    assert ds.x.dtype == np.float64 and ds.num_classes == 4
    disjoint = text.windows("abcabd", "abcd", 2, disjoint=True)
    assert disjoint.x.tolist() == [[0, 1], [2, 0]]
    assert text.decode(ds.labels[-1], "abcd") == "abd"


def test_held_out_windows_are_disjoint_and_train_windows_every_offset() -> None:
    spec = lm_spec()
    tr, te = load_for(spec, "corpus:train"), load_for(spec, "corpus:test")
    assert len(tr) == len(text.split(text.corpus(), "train")) - 4
    assert len(te) == (len(text.split(text.corpus(), "test")) - 4 + 3) // 4
    assert te.x[1][0] == te.labels[0][-1] and tr.x[1][0] == tr.x[0][1]  # disjoint windows; every offset


@pytest.mark.parametrize("bad, message", [
    ("héllo", "character 'é' (at 1) is not in the model's vocabulary"),
    ("", "holds no window"),
    ("abc", "holds no window of 4 tokens"),
])
def test_text_refusals(bad: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        text.windows(bad, VOCAB, 4)


def test_text_file_refusals(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        load_for(lm_spec(), str(empty))
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 au lait")
    with pytest.raises(InputError, match="not UTF-8"):
        text.read_text(latin)
    with pytest.raises(InputError, match="trains on text, not digits"):
        load_for(lm_spec(), "digits")
    with pytest.raises(InputError, match="two distinct characters"):
        text.vocabulary("aaaa")


# --- spec --------------------------------------------------------------------------------
def test_spec_vocabulary_round_trips_and_classifiers_are_unchanged(tmp_path: Path) -> None:
    spec = lm_spec()
    assert ModelSpec.load(spec.save(tmp_path / "lm.json")) == spec and spec.num_classes == 29 and spec.context == 4
    classifier = ModelSpec(factory="zkgrad.models:tiny_mlp", loss="cross_entropy", lr=0.5, batch_size=4,
                           input_shape=(4,), target_shape=(3,))
    assert "vocab" not in classifier.to_dict()  # a classifier's spec (and its hash) as before


@pytest.mark.parametrize("change, message", [
    (dict(vocab=None), "needs a vocabulary"),
    (dict(vocab="aab"), "needs a vocabulary of two or more distinct"),
    (dict(target_shape=(5,)), "input_shape and target_shape are both"),
    (dict(loss="cross_entropy", target_shape=(29,)), "only a next_token model has a vocabulary"),
])
def test_spec_refuses(change: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        lm_spec(**change)


# --- rewrites and the step against plain torch -------------------------------------------
def test_rewritten_gpt_computes_what_torch_computes() -> None:
    torch.manual_seed(0)
    plain = GPT(29, 4, 8, 2, 1, 16, tie=True)
    ids = torch.randint(0, 29, (3, 4))
    want = plain(ids)
    torch.manual_seed(0)
    ready = ezkl_ready(GPT(29, 4, 8, 2, 1, 16, tie=True))
    assert [n for n, _ in ready.named_parameters()] == [n for n, _ in plain.named_parameters()]
    assert "head.weight" not in dict(ready.named_parameters())  # tied: one parameter
    torch.testing.assert_close(ready(ids.float()), want, atol=1e-5, rtol=1e-5)


def _torch_sgd_diff(spec: ModelSpec, gain: float) -> float:
    module = spec.build_module()
    with torch.no_grad():  # token embeddings of std 0.3 * gain: logits spread that much wider
        module.tokens.weight.mul_(gain)
    params = [p.detach().clone().numpy() for p in module.parameters()]
    x, y = np.random.default_rng(1).integers(0, 29, (2, 2, 4))
    opt = torch.optim.SGD(module.parameters(), lr=spec.lr)
    F.cross_entropy(module(torch.tensor(x)).reshape(-1, 29), torch.tensor(y).reshape(-1)).backward()
    opt.step()
    new, _ = float_step(spec, params, x, y)
    return max(float(np.abs(n.numpy() - p.detach().numpy()).max()) for n, p in zip(new, module.parameters()))


def test_the_logit_span_is_the_only_departure_from_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-quantum probabilities (e^-8 and below) are all the step leaves out: with logits spread
    wide (token embeddings of std 1) the step moves a parameter about 5e-3 from torch's at lr 1 (at
    the shipped std 0.3, under 5e-6), and with the span lifted it is torch's."""
    spec = lm_spec(factory_kwargs=dict(vocab=29, context=4, dim=8, heads=2, mlp=16, tie=True))
    assert _torch_sgd_diff(spec, 1.0) < 5e-6
    assert 1e-3 < _torch_sgd_diff(spec, 1 / 0.3) < 1e-2
    monkeypatch.setattr(training, "LOGIT_SPAN", 40.0)
    assert _torch_sgd_diff(spec, 1 / 0.3) < 5e-6


def test_step_graph_is_torch_sgd_on_the_module_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported step (one-hot embedding, causal softmax without -inf, exact GELU written out,
    sequence cross-entropy) equals torch.optim.SGD on the unmodified GPT with F.cross_entropy
    (the logit span lifted: the test above bounds what it changes)."""
    monkeypatch.setattr(training, "LOGIT_SPAN", 40.0)
    spec = lm_spec(factory_kwargs=dict(vocab=29, context=4, dim=8, heads=2, mlp=16, tie=True))
    graph = export_training_step(spec, tmp_path / "step.onnx")
    module = spec.build_module()
    params = [p.detach().clone().numpy() for p in module.parameters()]
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 29, (2, 4)), rng.integers(0, 29, (2, 4))
    opt = torch.optim.SGD(module.parameters(), lr=spec.lr)
    loss = F.cross_entropy(module(torch.tensor(x)).reshape(-1, 29), torch.tensor(y).reshape(-1))
    loss.backward()
    opt.step()
    outs = FloatGraph(graph.onnx_path).run(*params, x.astype(np.float64), y.astype(np.float64))
    for got, p in zip(outs[:-1], module.parameters()):
        np.testing.assert_allclose(got, p.detach().numpy(), atol=2e-5)
    assert abs(float(outs[-1][0]) - loss.item()) < 1e-5
    new, ours = float_step(spec, params, x, y)
    assert abs(ours - loss.item()) < 1e-5
    assert max(float(np.abs(n.numpy() - p).max()) for n, p in zip(new, params)) > 1e-3


def test_masked_positions_get_no_weight() -> None:
    """A later token never changes an earlier position's logits: causal in the exported graph too."""
    spec = lm_spec()
    module = ezkl_ready(spec.build_module())
    ids = torch.tensor([[3.0, 4.0, 5.0, 6.0]])
    other = torch.tensor([[3.0, 4.0, 20.0, 1.0]])
    torch.testing.assert_close(module(ids)[0, :2], module(other)[0, :2])


def test_ezkl_lays_out_the_gpt_step_and_answer(tmp_path: Path) -> None:
    spec = lm_spec()
    for name, graph in (("step", export_training_step(spec, tmp_path / "step.onnx")),
                        ("answer", export_inference(spec, tmp_path / "answer.onnx", batch_size=1))):
        run_args = ezkl.PyRunArgs()
        run_args.input_visibility, run_args.param_visibility, run_args.output_visibility = "public", "fixed", "public"
        assert ezkl.gen_settings(str(graph.onnx_path), str(tmp_path / f"{name}.json"), py_run_args=run_args)
        assert json.loads((tmp_path / f"{name}.json").read_text())["num_rows"] > 0


# --- the command line ---------------------------------------------------------------------
def test_model_init_text_makes_a_language_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["model", "init", tmp_path / "ws", "--text", "corpus", "--context", "4",
                              "--kwargs", '{"dim": 4, "mlp": 8}', "--json"], capsys)
    assert code == 0, err
    spec = json.loads(out)["spec"]
    assert spec["loss"] == "next_token" and spec["vocab"] == VOCAB and spec["input_shape"] == [4]
    assert spec["factory"] == "zkgrad.models:char_gpt" and spec["factory_kwargs"] == {"dim": 4, "mlp": 8, "vocab": 29, "context": 4}


def test_model_init_refuses_an_empty_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.txt").write_text("")
    code, _, err = run_cli(["model", "init", tmp_path / "ws", "--text", tmp_path / "empty.txt"], capsys)
    assert code == 1 and err.startswith("error: ") and "is empty" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()


def test_char_gpt_default_shape() -> None:
    m = char_gpt()
    assert m(torch.zeros(2, 8, dtype=torch.long)).shape == (2, 8, 29)


def test_torch_loads_a_language_models_weights_and_gives_its_logits(tmp_path: Path) -> None:
    """The head's weights as safetensors load into the GPT as written (nn.Embedding over integer
    ids, tied head) and give the logits the rewritten module computes on the exact weights."""
    spec = lm_spec(factory_kwargs=dict(vocab=29, context=4, dim=4, mlp=8, tie=True))
    ckpt = genesis(spec)
    tensors = load_file(save_weights(ckpt, tmp_path / "lm.safetensors"))
    assert "tokens.weight" in tensors and "head.weight" not in tensors
    module = spec.build_module()
    loaded = module.load_state_dict(tensors, strict=False)  # the tied head.weight is tokens.weight
    assert loaded.missing_keys == ["head.weight"] and not loaded.unexpected_keys
    assert module.head.weight is module.tokens.weight
    exact = ezkl_ready(spec.build_module())
    with torch.no_grad():
        for p, q in zip(exact.parameters(), ckpt.float_state()):
            p.copy_(torch.from_numpy(q).float())
        ids = torch.tensor([[3, 1, 4, 1], [5, 9, 2, 6]])
        torch.testing.assert_close(module(ids), exact(ids.float()), atol=1e-5, rtol=1e-5)
