"""zkgrad generate: a language model's proven continuation of a prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import Json, Rpc
from .output import Output, stdout
from .registry_cmds import Registry_, registry_of


def generate(
    workspace: Annotated[Path, typer.Argument(help="Workspace of a language model ('zkgrad model init --text')")],
    prompt: Annotated[str, typer.Option(help="Text to continue, in the model's vocabulary")],
    tokens: Annotated[int, typer.Option(min=1, max=10_000, help="Tokens to generate, one proof each")] = 16,
    model_id: Annotated[Optional[int], typer.Option("--model-id", min=1, help="Answer with this model's head on "
                                                    "chain and have the registry accept each token")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the token proofs; default "
                                                "WS/generations/<n>")] = None,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Continue a prompt greedily, proving each next token against the head weights; with
    --model-id the registry accepts each answer and records which version said it."""
    from ..train.generate import generate as run
    from ..train.generate import next_folder
    from ..train.workspace import Workspace

    o = Output(json_)
    ws = Workspace.open(workspace)
    folder = out if out is not None else next_folder(ws)
    reg = registry_of(rpc, registry) if model_id is not None else None
    if not json_:
        stdout.print(prompt, end="", markup=False, highlight=False, soft_wrap=True)

    def shown(token) -> None:  # type: ignore[no-untyped-def]
        if not json_:
            stdout.print(token.char, end="", markup=False, highlight=False, soft_wrap=True)

    g = run(ws, prompt, tokens, out=folder, registry=reg, model_id=model_id, on_token=shown)
    o.result({**g.to_dict(), "proofs": str(folder)},
             f"\n{len(g.tokens)} tokens proven in {folder}"
             + (f", each accepted against version {g.version} of model {model_id}" if g.version is not None else
                " (not submitted: pass --model-id to have the registry accept them)"))
