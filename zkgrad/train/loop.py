"""The proven training loop: witness ahead, prove, submit in order; resumable from the chain head.

The chain is the source of truth. On (re)start the loop reads the model's head, finds the local
checkpoint with that commitment (or rebuilds it from the weights the update that made it
published, ``zkgrad.train.join``: another prover's head is as good as ours) and continues from there; a step already proven on disk is
submitted without proving it again; a step whose submission landed before a crash is recognised
by the head having moved to its "after" commitment. Nothing is submitted twice, and the
registry would refuse it anyway (ReplayedProof / StaleHead).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..chain.client import account
from ..chain.registry import Registry
from ..circuits.checkpoint import Checkpoint
from ..circuits.dataset import batch_proof, check, schedule_index
from ..circuits.model_circuits import ModelCircuits
from ..data import Dataset, batch
from ..errors import ChainError, TransactionRevertedError
from ..progress import Quiet, Reporter, StepEstimate, Timings
from ..prover.step import PendingStep, StepProof, prove_pending, witness_step
from .join import published_head
from .workspace import Workspace

Prover = Callable[[ModelCircuits, list[PendingStep]], Iterator[StepProof]]


def serial_prover(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
    for p in pendings:
        yield prove_pending(circuits, p)


@dataclass(frozen=True)
class Accepted:
    version: int
    loss: float | None
    float_loss: float | None
    max_abs_param_diff: float | None
    prove_s: float
    gas_used: int
    tx_hash: str
    block: int
    reward: int
    resumed: bool = False  # landed before a restart; its receipt data comes from the chain
    taken_by: str | None = None
    """Another account that landed this very step first (it proved the same step from the same head
    and batch; a copy of our proof names us in its claim and is refused): the reward and the credit
    are that account's, not ours."""


def _existing_proof(ws: Workspace, version: int, before: Checkpoint, claim: int) -> StepProof | None:
    """The step proven on disk from ``before`` for this claim (another account's claim is useless to us)."""
    d = ws.step_dir(version)
    try:
        summary = json.loads((d / "step.json").read_text())
    except (OSError, ValueError):
        return None
    if summary.get("before") != "0x" + before.commitment.hex() or summary.get("claim") != hex(claim) \
            or not (d / "proof.json").is_file():
        return None
    return StepProof.load(d, before)


def train(
    ws: Workspace,
    ds: Dataset,
    registry: Registry,
    model_id: int,
    *,
    steps: int,
    seed: int,
    depth: int = 2,
    prover: Prover | None = None,
    reporter: Reporter | None = None,
    on_accepted: Callable[[Accepted], None] | None = None,
    min_reward: int = 0,
) -> list[Accepted]:
    """Advance the model on chain until its version is ``steps``, each step on the batch that the
    committed dataset schedules for it, from the head wherever it came from (this workspace, or
    the weights another prover published with its update), each proof claimed for this account
    (``zkgrad.layout.claim_word``). The ``reporter`` shows each step's proof live (step,
    elapsed, estimate from this run's earlier steps) and a line when it is done. A submission that
    would pay less than ``min_reward`` wei reverts (RewardBelowMinimum) and stops the run."""
    circuits = ws.circuits()
    spec = circuits.spec
    committed = ws.dataset()
    tree = check(committed, spec, ds, seed=seed)
    head = registry.head(model_id)
    ckpt = ws.checkpoint_for(head) or published_head(registry, model_id, ws.genesis())
    version = registry.version(model_id)
    me = account(registry.w3).address

    def claim(v: int) -> int:
        return registry.claim(model_id, v, me)

    accepted: list[Accepted] = []
    queue: deque[tuple[PendingStep | StepProof, bool]] = deque()
    next_ckpt, next_v = ckpt, version
    prove = prover or serial_prover
    shown = reporter or Quiet()
    estimate = StepEstimate(steps)

    def fill() -> None:
        nonlocal next_ckpt, next_v
        while len(queue) < max(1, depth) and next_v < steps:
            mine = claim(next_v + 1)
            done = _existing_proof(ws, next_v + 1, next_ckpt, mine)
            if done is not None:
                queue.append((done, True))
                next_ckpt = done.after
            else:
                x, y = batch(ds, spec.batch_size, schedule_index(next_v, committed.n_batches), seed)
                with Timings(shown).stage(f"step {next_v + 1}/{steps}: witness"):
                    p = witness_step(circuits, next_ckpt, x, y, folder=ws.step_dir(next_v + 1), claim=mine)
                queue.append((p, False))
                next_ckpt = p.after
            next_v += 1

    fill()
    while queue:
        # prove everything queued that still needs it (a pool proves them concurrently)
        todo = [p for p, done in queue if not done]
        proofs = iter(prove(circuits, todo)) if todo else iter(())  # type: ignore[arg-type]
        items = list(queue)
        queue.clear()
        for item, done in items:
            sp = item if done else _next_proof(proofs, shown, estimate, item.after.version)
            assert isinstance(sp, StepProof)
            path = batch_proof(spec, ds, committed, int(sp.summary["version"]) - 1, tree=tree)[2]
            accepted.append(_submit(registry, model_id, sp, path, min_reward))
            if on_accepted:
                on_accepted(accepted[-1])
        fill()
    return accepted


def _next_proof(proofs: Iterator[StepProof], reporter: Reporter, estimate: StepEstimate, version: int) -> StepProof:
    """The proof of step ``version``, waited for with a live line (a pool may have started it earlier)."""
    stage = f"step {version}/{estimate.total}"
    reporter.start(stage, lambda elapsed: estimate.live(version, elapsed))
    t0 = time.perf_counter()
    sp = next(proofs)
    dt = time.perf_counter() - t0
    reporter.done(stage, dt, estimate.finished(version, dt))
    estimate.record(dt)
    return sp


def _submit(registry: Registry, model_id: int, sp: StepProof, batch_path: list[bytes], min_reward: int) -> Accepted:
    s = sp.summary
    prove_s = float(s.get("timings", {}).get("prove", 0.0))
    common = dict(version=s["version"], loss=s.get("loss"), float_loss=s.get("float_loss"),
                  max_abs_param_diff=s.get("max_abs_param_diff"), prove_s=prove_s)
    head = registry.head(model_id)
    if head == sp.after.commitment:  # landed before a restart, or another account submitted it first
        return _landed(registry, model_id, sp, common)
    if head != sp.before.commitment:
        raise ChainError(f"the model's head moved to {head.hex()[:16]}…, not the start of step {s['version']}",
                         hint="another prover advanced the model; restart to continue from the new head")
    try:
        r = registry.submit_update(model_id, sp.proof.proof_bytes, sp.proof.instances, batch_path=batch_path,
                                   min_reward=min_reward)
    except TransactionRevertedError:
        if registry.head(model_id) == sp.after.commitment:  # a duplicate of ours landed first
            return _landed(registry, model_id, sp, common)
        raise
    record = {"tx_hash": r.tx_hash, "block": r.block, "gas_used": r.gas_used, "reward": r.reward,
              "prover": r.prover, "submitted_at": time.time()}
    from .. import fsio

    fsio.write_json(sp.folder / "submitted.json", record)
    return Accepted(**common, gas_used=r.gas_used, tx_hash=r.tx_hash, block=r.block, reward=r.reward)


def _landed(registry: Registry, model_id: int, sp: StepProof, common: dict[str, Any]) -> Accepted:
    """Step ``sp`` is on chain without this call having submitted it: by this account before a
    restart, or by another account (``taken_by``), whose reward and credit it is."""
    rec = next((r for r in registry.history(model_id) if r.after == sp.after.commitment), None)
    me = account(registry.w3).address.lower()
    other = rec.prover if rec is not None and rec.prover.lower() != me else None
    return Accepted(**common, gas_used=rec.gas_used if rec else 0, tx_hash=rec.tx_hash if rec else "",
                    block=rec.block if rec else 0, reward=0, resumed=other is None, taken_by=other)


def step_records(ws: Workspace, registry: Registry | None = None, model_id: int | None = None) -> list[dict[str, Any]]:
    """Per proven step: the local summary joined with what the chain recorded (gas, tx, prover)."""
    chain = {}
    if registry is not None and model_id is not None:
        chain = {"0x" + r.after.hex(): r for r in registry.history(model_id)}
    out = []
    for s in ws.step_summaries():
        r = chain.get(s["after"])
        consulted = registry is not None and model_id is not None
        out.append({**s, "accepted": (r is not None) if consulted else None,
                    "gas_used": r.gas_used if r else None, "tx_hash": r.tx_hash if r else None,
                    "prover": r.prover if r else None, "block": r.block if r else None})
    return out
