"""Options shared by several commands, each checked as it is parsed: a malformed value is a usage error
(exit 2), a file that is not what it should be (--srs) an input error (exit 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def rpc_url(value: str | None) -> str | None:
    from ..errors import InputError
    from ..node import check_rpc_url

    try:
        return None if value is None else check_rpc_url(value)
    except InputError as e:
        raise typer.BadParameter(str(e)) from None


def _address(value: str | None) -> str | None:
    from ..errors import InputError
    from ..node import checksum_address

    try:
        return None if value is None else checksum_address(value, what="")
    except InputError as e:
        raise typer.BadParameter(str(e)) from None


def _srs_file(value: Path | None) -> Path | None:
    """The SRS file's header, checked as it is parsed: a wrong file is refused (exit 1) before any work."""
    from ..circuits.srs import load_srs_logrows

    if value is not None:
        load_srs_logrows(value)
    return value


def address_option(name: str, help: str) -> typer.models.OptionInfo:
    """An optional contract address option, checked (0x + 40 hex digits, EIP-55 when mixed-case)."""
    return typer.Option(name, help=help, callback=_address)


Json = Annotated[bool, typer.Option("--json", help="Write one JSON object to stdout instead of text.")]
Rpc = Annotated[Optional[str], typer.Option("--rpc", callback=rpc_url,
                                            help="EVM node URL (http or https); default: the chain from 'zkgrad chain "
                                            "up'. The signing key comes from ZKGRAD_PRIVATE_KEY.")]
Srs = Annotated[Optional[Path], typer.Option("--srs", callback=_srs_file,
                                            help="Ceremony SRS file; default: a development SRS (insecure)")]
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
