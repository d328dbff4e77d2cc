"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Json = Annotated[bool, typer.Option("--json", help="Write one JSON object to stdout instead of text.")]
Rpc = Annotated[Optional[str], typer.Option("--rpc", help="EVM node URL; default: the chain from 'zkgrad chain up'. "
                                            "The signing key comes from ZKGRAD_PRIVATE_KEY.")]
CircuitDir = Annotated[Path, typer.Argument(help="A circuit folder made by 'zkgrad compile'.")]


def resolve_rpc(rpc: str | None) -> str:
    """--rpc, else $ZKGRAD_RPC, else the local chain started by 'zkgrad chain up'."""
    import os

    from ..chain.anvil import LocalChain
    from ..errors import ChainError

    if rpc:
        return rpc
    if os.environ.get("ZKGRAD_RPC"):
        return os.environ["ZKGRAD_RPC"]
    info = LocalChain().status()
    if info is None:
        raise ChainError("no chain to talk to", hint="start a local one with 'zkgrad chain up' or pass --rpc URL")
    return info.rpc_url
