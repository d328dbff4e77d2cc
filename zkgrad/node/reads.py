"""Addresses and plain reads: chain id, block number, code, calls, receipts, logs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from web3 import Web3

from ..errors import (
    InputError,
)
from .failures import node_errors

# --- addresses and plain reads -------------------------------------------------------------
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def checksum_address(address: Any, what: str = "address") -> str:
    """``address`` in EIP-55 form; InputError when it is not 0x + 40 hex digits, or is mixed-case
    with a wrong checksum (a typo)."""
    text = address.strip() if isinstance(address, str) else ""
    named = f"{what} '{address}'" if what else f"'{address}'"
    if not _ADDRESS.fullmatch(text):
        raise InputError(f"{named} is not an address", hint="use 0x followed by 40 hex digits", address=str(address))
    checked = str(Web3.to_checksum_address(text))
    if text[2:] not in (text[2:].lower(), text[2:].upper()) and text != checked:
        raise InputError(f"{named} fails its EIP-55 checksum (a typo?)",
                         hint="copy the address again, or write it all lowercase", address=text)
    return checked


def chain_id(w3: Web3) -> int:
    with node_errors(w3):
        return int(w3.eth.chain_id)


def block_number(w3: Web3) -> int:
    with node_errors(w3):
        return int(w3.eth.block_number)


def get_code(w3: Web3, address: str) -> bytes:
    """The runtime code at ``address`` (empty when none)."""
    target = checksum_address(address)
    with node_errors(w3):
        return bytes(w3.eth.get_code(target))


def eth_call(w3: Web3, tx: dict[str, Any], block: Any = "latest", abi: Sequence[dict[str, Any]] = ()) -> bytes:
    """``eth_call``; a revert raises TransactionRevertedError, decoded with ``abi``."""
    with node_errors(w3, abi):
        return bytes(w3.eth.call(tx, block))  # type: ignore[arg-type]


def estimate_gas(w3: Web3, tx: dict[str, Any], abi: Sequence[dict[str, Any]] = ()) -> int:
    with node_errors(w3, abi):
        return int(w3.eth.estimate_gas(tx))  # type: ignore[arg-type]


def get_transaction(w3: Web3, tx_hash: Any) -> Any:
    with node_errors(w3):
        return w3.eth.get_transaction(tx_hash)


def get_receipt(w3: Web3, tx_hash: Any) -> Any:
    with node_errors(w3):
        return w3.eth.get_transaction_receipt(tx_hash)


def get_logs(event: Any, first: int, last: int, filters: dict[str, Any] | None = None) -> list[Any]:
    """Logs of ``event`` (a contract handle's event class) in blocks ``first..last``."""
    with node_errors(event.w3):
        return list(event().get_logs(from_block=first, to_block=last, argument_filters=filters or {}))


