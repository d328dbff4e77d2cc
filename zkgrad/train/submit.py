"""A proven step's submission from its folder: the proof, its public values and the Merkle path of
its batch in the model's committed dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import fsio
from ..chain.registry import Registry
from ..circuits.dataset import batch_proof, load_for
from ..data import Dataset
from ..errors import InputError
from ..prover.proof import Proof
from .workspace import Workspace


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
    version = int(fsio.read_json(folder / "step.json", "step summary")["version"])
    _, batch_c, path = batch_proof(ws.spec, committed_data(ws), ws.dataset(), version - 1)
    layout = ws.circuits().step_layout
    if layout.batch_commitment(proof.instances) != batch_c:
        raise InputError(f"step {version} was proven on another batch than the committed dataset schedules for it",
                         hint="prove it again with the model's committed data and seed ('zkgrad train')")
    return StepSubmission(proof.proof_bytes, list(proof.instances), path, version, proof.instances[layout.claim])
