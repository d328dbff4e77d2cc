"""zkgrad weights: a model's weights as safetensors, from a workspace or from the chain alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import Json, Rpc
from .output import Output
from .registry_cmds import UINT256_MAX, Registry_, registry_of


def weights(
    workspace: Annotated[Optional[Path], typer.Argument(help="Model workspace; without one, --model-id reads "
                                                        "everything from the chain")] = None,
    out: Annotated[Path, typer.Option(help="The safetensors file to write")] = Path("model.safetensors"),
    model_id: Annotated[Optional[int], typer.Option(min=1, max=UINT256_MAX, help="A registered model: the "
                                                    "weights the chain publishes for it")] = None,
    version: Annotated[Optional[int], typer.Option(min=0, help="Which version; default: the chain's head with "
                                                   "--model-id, else the workspace's latest proven step")] = None,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Write a model's weights as safetensors under its parameter names and shapes, for torch's
    load_state_dict: a version proven in the workspace, or with --model-id one the chain publishes."""
    from ..errors import InputError
    from ..model.weights import save_weights
    from ..train.weights import chain_checkpoint, workspace_checkpoint
    from ..train.workspace import Workspace

    if workspace is None and model_id is None:
        raise InputError("no model to read weights from", hint="give a model workspace, or --model-id N")
    ws = Workspace.open(workspace) if workspace is not None else None
    if model_id is not None:
        reg = registry_of(rpc, registry)
        ckpt = chain_checkpoint(reg, model_id, version, ws)
        where = {"model_id": str(model_id), "registry": reg.address, "chain_id": str(reg.chain_id)}
    else:
        assert ws is not None
        ckpt = workspace_checkpoint(ws, version)
        where = {"workspace": str(ws.root)}
    path = save_weights(ckpt, out, **{f"zkgrad_{k}": v for k, v in where.items()})
    n = sum(q.size for q in ckpt.state()[: ckpt.n_params])
    Output(json_).result({"path": str(path), "version": ckpt.version, "parameters": n,
                          "weights_commitment": "0x" + ckpt.weights_commitment.hex(), **where},
                         f"version {ckpt.version}: {n:,} parameters in {len(ckpt.names[: ckpt.n_params])} tensors "
                         f"written to {path} (weights 0x{ckpt.weights_commitment.hex()[:16]}…)")
