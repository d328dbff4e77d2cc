"""web3's failures as zkgrad's errors: ``node_errors`` around every request (unreachable node ->
RpcUnreachableError, revert -> TransactionRevertedError with the decoded custom error, anything
else -> ChainError), and revert data decoded from an ABI, ``Error(string)`` and ``Panic(uint256)``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import requests
from eth_abi.exceptions import DecodingError
from eth_utils.abi import abi_to_signature, get_abi_input_names, get_abi_input_types
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from ..errors import (
    ChainError,
    InputError,
    RpcUnreachableError,
    TransactionRevertedError,
)

KEY_ENV = "ZKGRAD_PRIVATE_KEY"
_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]
_PANIC_CODES = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


# --- revert decoding --------------------------------------------------------------------
def decode_revert(
    data: bytes | str | None, abi: Sequence[dict[str, Any]] = ()
) -> tuple[str, str, tuple[Any, ...]]:
    """Revert data -> (reason text, error name, args): custom errors from ``abi``,
    ``Error(string)`` and ``Panic(uint256)``."""
    raw = _as_bytes(data)
    if not raw:
        return "no reason given", "", ()
    selector, payload = raw[:4], raw[4:]
    codec = Web3().codec
    try:
        if selector == _ERROR_STRING:
            (message,) = codec.decode(["string"], payload)
            return str(message), "Error", (message,)
        if selector == _PANIC:
            (code,) = codec.decode(["uint256"], payload)
            what = _PANIC_CODES.get(int(code), "unknown panic")
            return f"Panic(0x{int(code):02x}: {what})", "Panic", (int(code),)
        for entry in abi:
            if entry.get("type") != "error":
                continue
            if keccak(text=abi_to_signature(entry))[:4] != selector:  # type: ignore[arg-type]
                continue
            types = get_abi_input_types(entry)  # type: ignore[arg-type]
            args = tuple(
                Web3.to_checksum_address(v) if t == "address" else v
                for t, v in zip(types, codec.decode(types, payload), strict=True)
            )
            names = get_abi_input_names(entry)  # type: ignore[arg-type]
            shown = ", ".join(
                f"{n}={_show(v)}" if n else _show(v) for n, v in zip(names, args, strict=True)
            )
            return f"{entry['name']}({shown})", str(entry["name"]), args
    except DecodingError:
        pass
    return f"unknown error 0x{raw[:4].hex()} (data 0x{raw.hex()})", "", ()


def _as_bytes(data: bytes | str | dict[str, Any] | None) -> bytes:
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
        data = data.get("data")
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _reverted(
    data: Any, abi: Sequence[dict[str, Any]], fallback: str | None = None, **extra: Any
) -> TransactionRevertedError:
    reason, name, args = decode_revert(data, abi)
    if reason == "no reason given" and fallback and fallback != "execution reverted":
        reason = fallback
    return TransactionRevertedError(reason, error=name, args=args, **extra)


def _rpc(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", w3.provider))


@contextlib.contextmanager
def node_errors(w3: Web3, abi: Sequence[dict[str, Any]] = ()) -> Iterator[None]:
    """web3's and requests' errors -> zkgrad's, for any request to the node in the block."""
    try:
        yield
    except ContractLogicError as exc:
        raise _reverted(exc.data, abi, exc.message) from None
    except (requests.ConnectionError, requests.Timeout, ConnectionError) as exc:
        raise RpcUnreachableError(_rpc(w3)) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ChainError(f"{_rpc(w3)} answered HTTP {status}, not JSON-RPC",
                         hint="check the RPC URL (and its API key)", rpc=_rpc(w3)) from None
    except requests.RequestException as exc:
        raise InputError(f"RPC URL '{_rpc(w3)}' cannot be used: {exc}", hint="pass e.g. --rpc http://127.0.0.1:8545",
                         rpc=_rpc(w3)) from None
    except Web3RPCError as exc:
        error = (exc.rpc_response or {}).get("error")
        text = error.get("message", exc.message) if isinstance(error, dict) else exc.message
        broke = "insufficient funds" in str(text).lower()
        raise ChainError(f"node refused: {text}", rpc=_rpc(w3),
                         hint=f"send ether to the signing account ({KEY_ENV}) first" if broke else None) from None
    except Web3Exception as exc:
        text = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ChainError(f"node refused: {text[:300]}", rpc=_rpc(w3)) from None
