"""A proven step's submission from its folder: the proof, its public values and the Merkle path of
its batch in the model's committed dataset; and the folder's journal of the transactions that
submitted it (``sent.json``: every hash is written before it is sent, so a rerun finds what landed
or is still pending instead of sending again)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import fsio
from ..chain.records import AcceptedUpdate
from ..chain.registry import Registry
from ..errors import InputError
from ..model.data import Dataset
from ..model.dataset import batch_proof, load_for
from ..node import find_landed
from ..prover.proof import Proof
from ..prover.step import StepSummary
from .workspace import Workspace

SENT = "sent.json"


def journaled(folder: Path) -> list[str]:
    """The transaction hashes journaled in a step folder (none when it was never submitted)."""
    try:
        return [str(h) for h in json.loads((folder / SENT).read_text()).get("tx_hashes", [])]
    except (OSError, ValueError, AttributeError):
        return []


def journal(folder: Path) -> Callable[[str], None]:
    """What ``transact`` calls with each hash before sending it: appended to the folder's journal."""
    return lambda tx: fsio.write_json(folder / SENT, {"tx_hashes": [*journaled(folder), tx]})


def landed_receipt(registry: Registry, folder: Path) -> AcceptedUpdate | None:
    """The accepted update a journaled transaction of this folder made (waiting while it is
    pending), read back from the chain; None when none of them landed as an accepted update."""
    receipt = find_landed(registry.w3, journaled(folder))
    if receipt is None or receipt["status"] != 1:
        return None
    r = registry.update_receipt(receipt)
    return r if registry.holds(r.model_id, r.version, r.after) else None  # else mined, then reorganised away


def committed_data(ws: Workspace) -> Dataset:
    """The training data the workspace's dataset commitment names (its ``source``)."""
    return load_for(ws.spec, ws.dataset().source)


@dataclass(frozen=True)
class StepSubmission:
    """What ``submitUpdate`` takes for a proven step, read from its folder."""

    proof: bytes
    instances: list[int]
    batch_path: list[bytes]
    version: int
    claim: int
    """The claim word the proof carries."""
    folder: Path

    def submit(self, registry: Registry, model_id: int, *, min_reward: int = 0) -> tuple[AcceptedUpdate, bool]:
        """Submit the step, journaled in its folder, unless a journaled transaction already
        landed; returns the chain's receipt and whether it was sent now."""
        done = landed_receipt(registry, self.folder)
        if done is not None:
            return done, False
        r = registry.submit_update(model_id, self.proof, self.instances, batch_path=self.batch_path,
                                   min_reward=min_reward, journal=journal(self.folder))
        return r, True

    def check_claim(self, registry: Registry, model_id: int) -> None:
        """Refuse, before any transaction, a proof whose claim is not this account's on this model."""
        if self.claim == registry.claim(model_id, self.version):
            return
        why = ("was proven without --model-id: its proof names no submitter" if self.claim == 0 else
               f"was proven for another submitter, model or registry than this account's model {model_id} at "
               f"{registry.address}")
        raise InputError(f"step {self.version} {why}, so the registry would refuse it (WrongSubmitter)",
                         hint=f"prove it again with 'zkgrad prove step ... --model-id {model_id}' from this account")


def step_submission(step: Path) -> StepSubmission:
    """The submission of the step folder ``WS/steps/NNNNNN`` (or its proof.json)."""
    proof = Proof.load(step / "proof.json" if step.is_dir() else step)
    folder = proof.path.parent
    ws_root = folder.parent.parent
    if not (ws_root / "spec.json").is_file() or not (folder / "step.json").is_file():
        raise InputError(f"{step} is not a proven step of a model workspace",
                         hint="pass WS/steps/NNNNNN as 'zkgrad prove step' or 'zkgrad train' wrote it")
    ws = Workspace.open(ws_root)
    version = StepSummary.load(folder).version
    _, batch_c, path = batch_proof(ws.spec, committed_data(ws), ws.dataset(), version - 1)
    layout = ws.circuits().step_layout
    if layout.batch_commitment(proof.instances) != batch_c:
        raise InputError(f"step {version} was proven on another batch than the committed dataset schedules for it",
                         hint="prove it again with the model's committed data and seed ('zkgrad train')")
    return StepSubmission(proof.proof_bytes, list(proof.instances), path, version, proof.instances[layout.claim],
                          folder)
