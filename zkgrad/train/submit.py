"""A proven step's submission from its folder: the proof, its public values and the Merkle path of
its batch in the model's committed dataset."""

from __future__ import annotations

from pathlib import Path

from .. import fsio
from ..circuits.dataset import batch_proof, load_for
from ..data import Dataset
from ..errors import InputError
from ..prover.proof import Proof
from .workspace import Workspace


def committed_data(ws: Workspace) -> Dataset:
    """The training data the workspace's dataset commitment names (its ``source``)."""
    return load_for(ws.spec, ws.dataset().source)


def step_submission(step: Path) -> tuple[bytes, list[int], list[bytes]]:
    """(proof, instances, batch path) of the step folder ``WS/steps/NNNNNN`` (or its proof.json)."""
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
    return proof.proof_bytes, list(proof.instances), path
