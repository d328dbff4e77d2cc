"""The proven training loop: witness ahead, prove, submit in order; resumable from the chain head.

The chain is the source of truth. On (re)start the loop reads the model's version and head, finds
the local checkpoint with that commitment (or rebuilds it from the weights the update that made it
published, ``zkgrad.train.join``: another prover's head is as good as ours) and continues from
there; a step already proven on disk is submitted without proving it again. A step counts as
accepted only when the chain's record of its version holds its "after" state (``getVersion``),
read back: whose it is says whether it landed for us before a restart or another account took it.
Each submission's transaction hashes are journaled in its step folder before they are sent, so a
rerun waits for a transaction still pending instead of sending a second one. When the head moves
under the loop (a reorganisation dropped accepted updates, or another prover advanced the model),
it starts again from the chain's head, re-submitting its own still-valid proofs; a version is
reported once, by what the chain finally holds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from .. import fsio
from ..chain.registry import Registry
from ..circuits.model_circuits import ModelCircuits
from ..errors import ChainError, TransactionRevertedError, ZkgradError
from ..model.checkpoint import Checkpoint
from ..model.data import Dataset, batch
from ..model.dataset import batch_proof, check, schedule_index
from ..node import account, find_landed
from ..progress import Quiet, Reporter, StepEstimate, Timings
from ..prover.step import (
    PendingStep,
    StepProof,
    StepSummary,
    prove_pending,
    witness_step,
)
from .join import published_state
from .submit import journal, journaled
from .workspace import Workspace

Prover = Callable[[ModelCircuits, list[PendingStep]], Iterator[StepProof]]
MAX_RESYNCS = 20  # times one run starts again from a head that moved under it


def serial_prover(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
    for p in pendings:
        yield prove_pending(circuits, p)


@dataclass(frozen=True)
class Accepted:
    version: int  # the chain's: read back from its record of this version
    loss: float | None
    float_loss: float | None
    max_abs_param_diff: float | None
    prove_s: float
    gas_used: int
    tx_hash: str
    block: int
    reward: int
    resumed: bool = False  # landed for this account before a restart; its receipt data comes from the chain
    taken_by: str | None = None
    """Another account that landed this very step first (it proved the same step from the same head
    and batch; a copy of our proof names us in its claim and is refused): the reward and the credit
    are that account's, not ours."""


class HeadMoved(ChainError):
    """The model's head is not where the next step starts: start again from the chain's head."""


def _existing_proof(ws: Workspace, version: int, before: Checkpoint, claim: int) -> StepProof | None:
    """The step proven on disk from ``before`` for this claim (another account's claim is useless to us)."""
    d = ws.step_dir(version)
    try:
        summary = StepSummary.load(d)
    except ZkgradError:  # none, or a damaged one: proven again
        return None
    if summary.before != "0x" + before.commitment.hex() or summary.claim != hex(claim) \
            or not (d / "proof.json").is_file():
        return None
    return StepProof.load(d, before)


def head_checkpoint(ws: Workspace, registry: Registry, model_id: int) -> Checkpoint:
    """The checkpoint at the model's head, numbered with the chain's version (a state can recur)."""
    info = registry.model(model_id)
    ckpt = ws.checkpoint_for(info.head) or published_state(registry, model_id, ws.genesis())
    return replace(ckpt, version=info.version)


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
    would pay less than ``min_reward`` wei reverts (RewardBelowMinimum) and stops the run. Returns
    one record per version this run saw accepted, in version order."""
    run = _Run(ws, ds, registry, model_id, steps=steps, seed=seed, depth=depth, prover=prover or serial_prover,
               reporter=reporter or Quiet(), on_accepted=on_accepted, min_reward=min_reward)
    for _ in range(MAX_RESYNCS):
        try:
            run.from_head()
            break
        except HeadMoved as moved:
            run.reporter.note(f"{moved.message}: continuing from the chain's head")
    else:
        raise ChainError(f"the head of model {model_id} moved under this run {MAX_RESYNCS} times",
                         hint="the chain is reorganising or other provers are faster: rerun later")
    return [run.accepted[v] for v in sorted(run.accepted)]


class _Run:
    def __init__(self, ws: Workspace, ds: Dataset, registry: Registry, model_id: int, *, steps: int, seed: int,
                 depth: int, prover: Prover, reporter: Reporter, on_accepted: Callable[[Accepted], None] | None,
                 min_reward: int) -> None:
        self.ws, self.ds, self.registry, self.model_id = ws, ds, registry, model_id
        self.steps, self.seed, self.depth, self.prover = steps, seed, depth, prover
        self.reporter, self.on_accepted, self.min_reward = reporter, on_accepted, min_reward
        self.circuits = ws.circuits()
        self.committed = ws.dataset()
        self.tree = check(self.committed, self.circuits.spec, ds, seed=seed)
        self.me = account(registry.w3).address
        self.estimate = StepEstimate(steps)
        self.accepted: dict[int, Accepted] = {}

    def from_head(self) -> None:
        """Prove and submit from the chain's head until the model's version is ``steps``."""
        ckpt = head_checkpoint(self.ws, self.registry, self.model_id)
        queue: deque[tuple[PendingStep | StepProof, bool]] = deque()
        next_ckpt, next_v = ckpt, ckpt.version
        spec = self.circuits.spec

        def fill() -> None:
            nonlocal next_ckpt, next_v
            while len(queue) < max(1, self.depth) and next_v < self.steps:
                mine = self.registry.claim(self.model_id, next_v + 1, self.me)
                done = _existing_proof(self.ws, next_v + 1, next_ckpt, mine)
                if done is not None:
                    queue.append((done, True))
                    next_ckpt = replace(done.after, version=next_v + 1)
                else:
                    x, y = batch(self.ds, spec.batch_size, schedule_index(next_v, self.committed.n_batches),
                                 self.seed)
                    with Timings(self.reporter).stage(f"step {next_v + 1}/{self.steps}: witness"):
                        p = witness_step(self.circuits, next_ckpt, x, y, folder=self.ws.step_dir(next_v + 1),
                                         claim=mine)
                    queue.append((p, False))
                    next_ckpt = p.after
                next_v += 1

        fill()
        while queue:
            # prove everything queued that still needs it (a pool proves them concurrently)
            todo = [p for p, done in queue if not done]
            proofs = iter(self.prover(self.circuits, todo)) if todo else iter(())  # type: ignore[arg-type]
            items = list(queue)
            queue.clear()
            for item, done in items:
                sp = item if done else _next_proof(proofs, self.reporter, self.estimate, item.after.version)
                assert isinstance(sp, StepProof)
                a = self.submit(sp)
                self.accepted[a.version] = a
                if self.on_accepted:
                    self.on_accepted(a)
            fill()

    def submit(self, sp: StepProof) -> Accepted:
        reg, mid, v = self.registry, self.model_id, sp.summary.version
        sent = journaled(sp.folder)
        if sent:  # a submission of an earlier run may still be pending: wait for it, never send twice
            find_landed(reg.w3, sent)
        landed = self.landed(sp)
        if landed is not None:
            return landed
        current = reg.version(mid)
        if current != v - 1 or reg.head(mid) != sp.before.commitment:
            raise HeadMoved(f"model {mid} is at version {current}, not where step {v} starts")
        path = batch_proof(self.circuits.spec, self.ds, self.committed, v - 1, tree=self.tree)[2]

        try:
            r = reg.submit_update(mid, sp.proof.proof_bytes, sp.proof.instances, batch_path=path,
                                  min_reward=self.min_reward, journal=journal(sp.folder))
        except TransactionRevertedError:
            landed = self.landed(sp)  # a duplicate of ours landed first
            if landed is not None:
                return landed
            if reg.version(mid) != v - 1:
                raise HeadMoved(f"model {mid} moved past version {v - 1} while step {v} was sent") from None
            raise
        if r.version != v or not reg.holds(mid, v, sp.after.commitment) or r.prover.lower() != self.me.lower():
            raise HeadMoved(f"step {v}'s transaction {r.tx_hash} was mined, but the chain's version {v} "
                            "is no longer it (a reorganisation?)")
        fsio.write_json(sp.folder / "submitted.json", {"tx_hash": r.tx_hash, "block": r.block, "gas_used": r.gas_used,
                                                       "reward": r.reward, "prover": r.prover,
                                                       "submitted_at": time.time()})
        return Accepted(version=r.version, **_local(sp), gas_used=r.gas_used, tx_hash=r.tx_hash, block=r.block,
                        reward=r.reward)

    def landed(self, sp: StepProof) -> Accepted | None:
        """Step ``sp`` as the chain holds it: its version's record starts at its "before" state and
        holds its "after" state; None when the chain holds no such version. Landed by this account
        before a restart (``resumed``) or by another (``taken_by``, whose reward and credit it is)."""
        reg, mid, v = self.registry, self.model_id, sp.summary.version
        if not reg.holds(mid, v, sp.after.commitment) or reg.version_record(mid, v - 1).state != sp.before.commitment:
            return None
        u = reg.update_at(mid, v)
        if u is None:
            raise ChainError(f"the node holds version {v} of model {mid} but not the event that made it",
                             hint="the node serves other data than the registry holds: ask another node")
        other = u.prover if u.prover.lower() != self.me.lower() else None
        return Accepted(version=v, **_local(sp), gas_used=u.gas_used, tx_hash=u.tx_hash, block=u.block, reward=0,
                        resumed=other is None, taken_by=other)


def _local(sp: StepProof) -> dict[str, Any]:
    """What the step's own summary says of it: losses, fidelity, prove time."""
    s = sp.summary
    return dict(loss=s.loss, float_loss=s.float_loss, max_abs_param_diff=s.max_abs_param_diff, prove_s=s.prove_s)


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


def step_records(ws: Workspace, registry: Registry | None = None, model_id: int | None = None) -> list[dict[str, Any]]:
    """Per proven step: the local summary joined with what the chain recorded (gas, tx, prover)."""
    chain = {}
    if registry is not None and model_id is not None:
        chain = {r.version: r for r in registry.history(model_id)}
    out = []
    for s in ws.step_summaries():
        r = chain.get(s.version)
        r = r if r is not None and "0x" + r.after.hex() == s.after and "0x" + r.before.hex() == s.before else None
        consulted = registry is not None and model_id is not None
        out.append({**s.to_dict(), "accepted": (r is not None) if consulted else None,
                    "gas_used": r.gas_used if r else None, "tx_hash": r.tx_hash if r else None,
                    "prover": r.prover if r else None, "block": r.block if r else None})
    return out
