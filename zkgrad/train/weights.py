"""Which checkpoint ``zkgrad weights`` writes: one proven in a workspace, or a version of a
registered model rebuilt from what the chain publishes (checked against its commitment)."""

from __future__ import annotations

from ..chain.registry import Registry
from ..errors import ChainError, InputError
from ..model.checkpoint import Checkpoint, genesis
from ..prover.step import STEP_JSON
from .join import NODE_HINT, published, published_state
from .workspace import Workspace


def workspace_checkpoint(ws: Workspace, version: int | None = None) -> Checkpoint:
    """Version ``version`` as proven in ``ws`` (default: its latest proven step; genesis when none)."""
    steps = ws.step_summaries()
    if version is None:
        version = steps[-1].version if steps else 0
    if version == 0:
        return ws.genesis()
    folder = ws.step_dir(version)
    if not (folder / STEP_JSON).is_file() or not (folder / "checkpoint").is_dir():
        proven = ", ".join(str(s.version) for s in steps) or "none"
        raise InputError(f"{ws.root} holds no proven step {version} (proven: {proven})",
                         hint="pick a proven version, or --model-id N for what the chain publishes")
    return Checkpoint.load(folder / "checkpoint")


def chain_checkpoint(registry: Registry, model_id: int, version: int | None = None,
                     ws: Workspace | None = None) -> Checkpoint:
    """Version ``version`` of model ``model_id`` (default: its head) from the chain alone: the state
    published with the update that made it, on the genesis of ``ws`` or of the published spec."""
    if ws is not None:
        start = ws.genesis()
    else:
        pub = published(registry, model_id)
        if pub is None:
            raise ChainError(f"model {model_id}'s published spec does not hash to its registered digest",
                             hint=NODE_HINT)
        start = genesis(pub.spec)
    return published_state(registry, model_id, start, version)
