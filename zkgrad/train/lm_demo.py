"""The language-model job: a character-level GPT trained by proven steps on the bundled text,
each step accepted on a local chain; its held-out next-token accuracy proven and recorded; a
prompt continued by proven tokens the registry accepts. Printed beside the proven accuracy: the
best constant predictor's and a bigram predictor's on the same held-out tokens, and the float32
shadow run's."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..circuits.config import CalibrationPlan
from ..fsio import zkgrad_home
from ..model import text
from ..model.data import Dataset
from ..model.dataset import commit_dataset, held_out_minimum, load_for
from ..model.spec import ModelSpec
from ..node import connect
from ..progress import Reporter
from .demo import ChainedRun, _chain, lineage_of, registration
from .evaluate import evaluate
from .generate import generate, next_folder
from .loop import Accepted, Prover, train
from .register import ensure_registry
from .shadow import accuracy, shadow_run
from .workspace import Workspace


@dataclass(frozen=True)
class LmDemoConfig:
    steps: int = 12
    context: int = 4
    dim: int = 4
    mlp: int = 8
    batch_size: int = 2
    lr: float = 1.0
    seed: int = 0
    prompt: str = "the data"
    tokens: int = 4
    workdir: Path | None = None
    rpc: str | None = None

    def plan(self) -> CalibrationPlan:
        """The run the circuits are calibrated along: at least 40 steps, so a longer rerun fits."""
        return CalibrationPlan(steps=max(self.steps, 40), seed=self.seed)

    def spec(self) -> ModelSpec:
        """The GPT's spec; refuses a prompt it cannot read before any work is done."""
        vocab = text.vocabulary(text.corpus())
        text.prompt_ids(self.prompt, vocab)
        return ModelSpec(factory="zkgrad.models:char_gpt", loss="next_token", lr=self.lr, batch_size=self.batch_size,
                         input_shape=(self.context,), target_shape=(self.context,), seed=self.seed, vocab=vocab,
                         factory_kwargs=dict(vocab=len(vocab), context=self.context, dim=self.dim, mlp=self.mlp))


@dataclass
class LmDemoResult(ChainedRun):
    accuracy_proven: float
    """Next-token accuracy of the head on the committed held-out windows: a proof the registry accepted."""
    accuracy_constant: float
    """The best constant predictor's (the training text's most frequent character) on the same tokens."""
    accuracy_bigram: float
    """A bigram predictor's (the training text's most frequent successor) on the same tokens."""
    accuracy_float: float
    """The float32 shadow run's on the same tokens."""
    held_out_tokens: int
    mean_prove_s: float
    mean_update_gas: float
    prompt: str
    generated: str
    generation: str
    """The folder of the token proofs."""
    evaluation_version: int = 0
    max_abs_param_diff: float = 0.0
    """Largest |proven − float32| parameter difference in a step."""
    losses: list[float | None] = field(default_factory=list)
    float_losses: list[float] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_lm_demo(cfg: LmDemoConfig, *, reporter: Reporter | None = None, prover: Prover | None = None,
                on_accepted: Callable[[Accepted], None] | None = None,
                note: Callable[[str], None] = lambda s: None) -> LmDemoResult:
    spec = cfg.spec()
    root = Path(cfg.workdir or zkgrad_home() / "demo") / (
        f"gpt-d{cfg.dim}-m{cfg.mlp}-t{cfg.context}-b{cfg.batch_size}-seed{cfg.seed}")
    ws = Workspace.create(root, spec)
    ws.discard_partial_steps()
    ws.record_run("corpus:train", cfg.seed)
    train_ds, test_ds = load_for(spec, "corpus:train"), load_for(spec, "corpus:test")
    size = held_out_minimum(spec)
    plan = cfg.plan()
    ws.record_dataset(commit_dataset(spec, train_ds, source="corpus:train", seed=cfg.seed, n_batches=plan.steps,
                                     held_out=test_ds, held_out_source="corpus:test", held_out_size=size))
    note(f"workspace {root}: {len(train_ds)} training windows of {cfg.context} characters, {size} held-out "
         f"windows ({size * cfg.context} tokens) for the proven evaluation")
    circuits, _ = ws.compile(train_ds, plan=plan, reporter=reporter)
    evaluation, _ = ws.compile_evaluation(train_ds, test_ds, size=size, plan=plan, reporter=reporter)
    note(f"circuits: step logrows {circuits.step.logrows}, answer logrows {circuits.answer.logrows}, evaluation "
         f"logrows {evaluation.logrows} (development SRS: NOT secure, for testing only)")
    with _chain(cfg.rpc) as rpc:
        registry = ensure_registry(connect(rpc))
        model_id, _ = registration(ws, registry, name="gpt-demo")
        accepted = train(ws, train_ds, registry, model_id, steps=cfg.steps, seed=cfg.seed, prover=prover,
                         reporter=reporter, on_accepted=on_accepted)
        float_losses, float_state = shadow_run(circuits.step.onnx, spec, ws.genesis(), train_ds, steps=cfg.steps,
                                                 seed=cfg.seed)
        held = Dataset(test_ds.x[:size], test_ds.labels[:size], test_ds.num_classes)  # what the proof counts
        ev = evaluate(ws, registry, model_id, reporter=reporter)
        folder = next_folder(ws)
        gen = generate(ws, cfg.prompt, cfg.tokens, out=folder, registry=registry, model_id=model_id,
                       reporter=reporter, on_token=lambda t: note(f"token {t.index}: {t.char!r}"))
        lineage, version = lineage_of(registry, model_id), registry.version(model_id)  # the node stops below
    constant, bigram = predictor_accuracies(text.split(text.corpus(), "train"), held, spec.vocab or "")
    gas = [a.gas_used for a in accepted if a.gas_used]
    proves = [a.prove_s for a in accepted if a.prove_s]
    return LmDemoResult(
        workspace=str(root), rpc=rpc, registry=registry.address, model_id=model_id, steps_accepted=version,
        accuracy_proven=ev.accuracy, accuracy_constant=constant, accuracy_bigram=bigram,
        accuracy_float=accuracy(spec, float_state[: ws.genesis().n_params], held),
        held_out_tokens=held.labels.size, mean_prove_s=statistics.mean(proves) if proves else 0.0,
        mean_update_gas=statistics.mean(gas) if gas else 0.0, prompt=cfg.prompt, generated=gen.text,
        generation=str(folder), evaluation_version=ev.version,
        max_abs_param_diff=max((a.max_abs_param_diff or 0.0) for a in accepted) if accepted else 0.0, losses=[a.loss for a in accepted],
        float_losses=float_losses, lineage=lineage)


def predictor_accuracies(train_text: str, held: Dataset, vocab: str) -> tuple[float, float]:
    """The best constant predictor's and a bigram predictor's next-token accuracy on ``held``'s
    windows, both read off ``train_text``."""
    ids = text.encode(train_text, vocab)
    counts = np.bincount(ids, minlength=len(vocab))
    pairs = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    np.add.at(pairs, (ids[:-1], ids[1:]), 1)
    successor = np.where(pairs.sum(axis=1) > 0, pairs.argmax(axis=1), counts.argmax())
    targets, previous = held.labels, held.x.astype(np.int64)
    return float(np.mean(targets == counts.argmax())), float(np.mean(targets == successor[previous]))
