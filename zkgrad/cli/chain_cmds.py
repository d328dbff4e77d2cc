"""zkgrad chain up | down | status: the local anvil."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .options import Json
from .output import Output

app = typer.Typer(help="A local anvil chain on loopback (the embedded default).", no_args_is_help=True)


@app.command()
def up(port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port; default: a free one")] = None, json_: Json = False) -> None:
    """Start the local chain (or report the running one)."""
    from ..chain.anvil import LocalChain

    info = LocalChain().up(port)
    Output(json_).result({"rpc_url": info.rpc_url, "chain_id": info.chain_id, "pid": info.pid},
                         f"local chain {info.chain_id} at {info.rpc_url} (pid {info.pid})")


@app.command()
def down(json_: Json = False) -> None:
    """Stop the local chain."""
    from ..chain.anvil import LocalChain

    info = LocalChain().down()
    Output(json_).result({"stopped": info is not None}, "stopped" if info else "no local chain was running")


@app.command()
def status(json_: Json = False) -> None:
    """Is the local chain running? Exit 1 if not."""
    from ..chain.anvil import LocalChain

    info = LocalChain().status()
    Output(json_).result({"running": info is not None, **({"rpc_url": info.rpc_url, "chain_id": info.chain_id,
                                                            "pid": info.pid} if info else {})},
                         f"running: {info.rpc_url} (chain {info.chain_id}, pid {info.pid})" if info else "not running")
    if info is None:
        raise typer.Exit(1)
