"""The main job, end to end on the embedded default: a digits classifier trained by proven steps on
its committed dataset's scheduled batches, each accepted on a local chain; then the head's
held-out accuracy proven and recorded on chain, and a held-out digit answered with a proof the
registry accepts."""

from __future__ import annotations

import contextlib
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..chain.registry import Registry
from ..circuits.config import PLANNED_STEPS, CalibrationPlan
from ..fsio import zkgrad_home
from ..model import data
from ..model.dataset import MIN_HELD_OUT, commit_dataset
from ..model.spec import ModelSpec
from ..node import connect
from ..progress import Reporter
from .answer import prove_answer
from .evaluate import evaluate
from .loop import Accepted, Prover, train
from .register import ensure_registry, register, registered
from .shadow import accuracy, shadow_run
from .workspace import Workspace


@dataclass(frozen=True)
class DemoConfig:
    steps: int = 40
    """Proven training steps. The default model, softmax regression (64-10) with plain SGD at batch 8
    and lr 0.5, reaches about 84 % held-out accuracy in float32 after 40 steps (an MLP 64-16-10
    needs about 100, BENCHMARKS.md); at scale 11 its step circuit is logrows 15."""
    hidden: int = 0
    """Hidden units: 0 is softmax regression (``zkgrad.models:digits_linear``), else an MLP 64-hidden-10."""
    batch_size: int = 8
    lr: float = 0.5
    scale: int = 11
    seed: int = 0
    workdir: Path | None = None
    """Where the workspace lives; default ``$ZKGRAD_HOME/demo``."""
    rpc: str | None = None
    """An EVM node; default: a private anvil started for the demo and stopped after it."""
    fresh: bool = True
    """When the model is registered anew, prove its steps again rather than reuse earlier proofs
    (a rerun on a chain where the workspace's model already is continues it instead)."""
    reward_wei: int = 10**15
    fund_wei: int = 10**17
    held_out: int = MIN_HELD_OUT
    """Held-out digits built into the evaluation circuit: the proven accuracy is on these."""

    def spec(self) -> ModelSpec:
        model = {"factory": "zkgrad.models:digits_linear"} if self.hidden == 0 else \
            {"factory": "zkgrad.models:digits_mlp", "factory_kwargs": {"hidden": self.hidden}}
        return ModelSpec(**model, loss="cross_entropy", lr=self.lr, batch_size=self.batch_size, input_shape=(64,),
                         target_shape=(10,), scale=self.scale, seed=self.seed)


@dataclass
class ChainedRun:
    """Where a demo's model lives: its workspace, the node and registry, its id and version."""
    workspace: str
    rpc: str
    registry: str
    model_id: int
    steps_accepted: int


@dataclass
class DemoResult(ChainedRun):
    accuracy_proven: float
    """Of the head, on the ``evaluation``'s held-out digits: an evaluation proof the registry accepted."""
    accuracy_head: float
    """Of the head's weights on the whole held-out set, computed here (not proven)."""
    accuracy_float: float
    """Of the float32 shadow run on the whole held-out set."""
    mean_prove_s: float
    mean_update_gas: float
    losses: list[float | None] = field(default_factory=list)
    float_losses: list[float] = field(default_factory=list)
    max_abs_param_diff: float = 0.0
    answer: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    dev_srs: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lineage_of(registry: Registry, model_id: int) -> list[dict[str, Any]]:
    """The model's accepted updates as the report joins them (``write_run_report``'s lineage)."""
    return [{"version": r.version, "after": "0x" + r.after.hex(), "batch": "0x" + r.batch.hex(),
             "prover": r.prover, "block": r.block, "gas_used": r.gas_used, "tx": r.tx_hash}
            for r in registry.history(model_id)]


def registration(ws: Workspace, registry: Registry, *, fresh: bool = True, **kwargs: Any) -> tuple[int, bool]:
    """(model id, continued): the workspace's model on this chain when its head is a local checkpoint
    (a rerun continues it), else a new registration; ``fresh`` then clears the steps proven for
    an earlier one, so they are proven again. ``kwargs`` go to ``register``."""
    rec = ws.deployment(registry.chain_id)
    if rec and rec.get("registry", "").lower() == registry.address.lower() and \
            registered(registry, rec, ws.genesis().commitment) and \
            ws.checkpoint_for(registry.head(int(rec["model_id"]))) is not None:
        return int(rec["model_id"]), True
    if fresh and ws.steps_dir.exists():
        shutil.rmtree(ws.steps_dir)
    return int(register(ws, registry, anew=True, **kwargs)["model_id"]), False


@contextlib.contextmanager
def _chain(rpc: str | None) -> Iterator[str]:
    if rpc:
        yield rpc
        return
    from ..chain.anvil import anvil_node

    with anvil_node() as info:
        yield info.rpc_url


def run_demo(cfg: DemoConfig, *, reporter: Reporter | None = None, prover: Prover | None = None,
             on_accepted: Callable[[Accepted], None] | None = None, note: Callable[[str], None] = lambda s: None) -> DemoResult:
    spec = cfg.spec()
    root = Path(cfg.workdir or zkgrad_home() / "demo") / f"digits-{f'mlp{cfg.hidden}' if cfg.hidden else 'linear'}-b{cfg.batch_size}-s{cfg.scale}-seed{cfg.seed}"
    ws = Workspace.create(root, spec)
    ws.discard_partial_steps()
    ws.record_run(f"digits:train:{cfg.seed}", cfg.seed)
    train_src, test_src = f"digits:train:{cfg.seed}", f"digits:test:{cfg.seed}"
    train_ds = data.named(train_src, spec.input_shape, 10)
    test_ds = data.named(test_src, spec.input_shape, 10)
    note(f"workspace {root}: {len(train_ds)} training and {len(test_ds)} held-out digits")
    plan = CalibrationPlan(steps=max(cfg.steps, PLANNED_STEPS), seed=cfg.seed)  # one circuit for runs up to 100 steps
    committed = commit_dataset(spec, train_ds, source=train_src, seed=cfg.seed, n_batches=plan.steps,
                               held_out=test_ds, held_out_source=test_src, held_out_size=cfg.held_out)
    ws.record_dataset(committed)
    note(f"dataset committed: {plan.steps} scheduled batches, root {committed.root[:18]}…; "
         f"{cfg.held_out} held-out digits for the proven evaluation")
    circuits, reused = ws.compile(train_ds, plan=plan, reporter=reporter)
    evaluation, reused_e = ws.compile_evaluation(train_ds, test_ds, size=cfg.held_out, plan=plan, reporter=reporter)
    note(("reused" if reused and reused_e else "compiled") + f" circuits: step logrows {circuits.step.logrows}, "
         f"answer logrows {circuits.answer.logrows}, evaluation logrows {evaluation.logrows} "
         "(development SRS: NOT secure, for testing only)")
    with _chain(cfg.rpc) as rpc:
        w3 = connect(rpc)
        registry = ensure_registry(w3)
        model_id, continued = registration(ws, registry, reward_wei=cfg.reward_wei, fund_wei=cfg.fund_wei,
                                           name="digits-demo", fresh=cfg.fresh)
        note(f"model {model_id} " + (f"continued at version {registry.version(model_id)}" if continued else
                                     "registered") + f" at registry {registry.address} on {rpc}")
        accepted = train(ws, train_ds, registry, model_id, steps=cfg.steps, seed=cfg.seed, prover=prover,
                         reporter=reporter, on_accepted=on_accepted)
        head = ws.checkpoint_for(registry.head(model_id))
        assert head is not None
        float_losses, float_state = shadow_run(circuits.step.onnx, spec, ws.genesis(), train_ds, steps=cfg.steps,
                                                 seed=cfg.seed)
        proven_params = head.float_state()[: head.n_params]
        acc_h = accuracy(spec, proven_params, test_ds)
        acc_f = accuracy(spec, float_state[: head.n_params], test_ds)
        ev = evaluate(ws, registry, model_id, reporter=reporter)
        i = int(np.random.default_rng(cfg.seed).integers(len(test_ds)))
        ans = prove_answer(circuits, head, test_ds.x[i], out=ws.root / "answer.json", reporter=reporter)
        rec_a = registry.submit_answer(model_id, ans.result.proof.proof_bytes, ans.result.proof.instances)
        lineage = lineage_of(registry, model_id)
        gas = [a.gas_used for a in accepted if a.gas_used]
        proves = [a.prove_s for a in accepted if a.prove_s]
        return DemoResult(
            workspace=str(root), rpc=rpc, registry=registry.address, model_id=model_id,
            steps_accepted=registry.version(model_id), accuracy_proven=ev.accuracy, accuracy_head=acc_h,
            accuracy_float=acc_f,
            mean_prove_s=statistics.mean(proves) if proves else 0.0,
            mean_update_gas=statistics.mean(gas) if gas else 0.0,
            losses=[a.loss for a in accepted], float_losses=float_losses,
            max_abs_param_diff=max((a.max_abs_param_diff or 0.0) for a in accepted) if accepted else 0.0,
            answer={"index": i, "label": int(test_ds.labels[i]), "prediction": ans.prediction,
                    "answer_id": rec_a.answer_id, "gas_used": rec_a.gas_used,
                    "prove_s": ans.result.timings.get("prove", 0.0), "version": rec_a.version},
            evaluation={"version": ev.version, "correct": ev.correct, "total": ev.total, "tx_hash": ev.tx_hash,
                        "gas_used": ev.gas_used},
            lineage=lineage, dev_srs=circuits.step.dev_srs,
        )
