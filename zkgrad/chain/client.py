"""Talking to an EVM node over web3.py: connect, sign, deploy, transact, call.

This is the one edge where web3 is called: its exceptions become zkgrad's here
(unreachable node -> RpcUnreachableError, revert -> TransactionRevertedError with the
decoded custom error, anything else -> ChainError) and never leak further.
The signing key comes from ``ZKGRAD_PRIVATE_KEY`` only, never from a command-line argument.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from eth_utils.abi import abi_to_signature, get_abi_input_names, get_abi_input_types
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3Exception, Web3RPCError

from zkgrad.errors import (
    ChainError,
    DeploymentError,
    InputError,
    RpcUnreachableError,
    TransactionRevertedError,
)
from zkgrad.toolchain import EIP170_LIMIT, CompiledContract

KEY_ENV = "ZKGRAD_PRIVATE_KEY"
LOCAL_CHAIN_ID = 31337
# anvil's (and hardhat's) public development mnemonic: its accounts hold test ether only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10  # anvil funds this many by default
GAS_MARGIN = 1.2  # estimate * margin is sent as the gas limit
RECEIPT_TIMEOUT_S = 120.0

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


@dataclass(frozen=True)
class Deployed:
    address: str
    tx_hash: str
    gas_used: int
    block: int


# --- connection -------------------------------------------------------------------------
def check_rpc_url(rpc_url: str) -> str:
    """``rpc_url`` if it is an http(s) URL with a host, else InputError (zkgrad talks HTTP only)."""
    try:
        parts = urlsplit(rpc_url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in rpc_url
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"RPC URL '{rpc_url}' is not an http(s) URL of a node",
                         hint="pass e.g. --rpc http://127.0.0.1:8545", rpc=rpc_url)
    return rpc_url


def connect(rpc_url: str, timeout: float = 10) -> Web3:
    """A Web3 over HTTP whose node has answered ``eth_chainId``."""
    provider = Web3.HTTPProvider(
        check_rpc_url(rpc_url), request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    w3 = Web3(provider)
    try:
        chain_id(w3)
    except (RpcUnreachableError, InputError):
        raise
    except (ChainError, ValueError) as exc:  # ValueError: a body web3 cannot parse as JSON-RPC
        text = exc.message if isinstance(exc, ChainError) else (str(exc).splitlines() or ["?"])[0]
        raise ChainError(f"{rpc_url} did not answer eth_chainId: {text}",
                         hint="is this the JSON-RPC URL of an EVM node?", rpc=rpc_url) from None
    return w3


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
    except TimeExhausted as exc:
        raise ChainError(f"no receipt in time: {exc}", hint="is the node mining?") from None
    except Web3RPCError as exc:
        error = (exc.rpc_response or {}).get("error")
        text = error.get("message", exc.message) if isinstance(error, dict) else exc.message
        broke = "insufficient funds" in str(text).lower()
        raise ChainError(f"node refused: {text}", rpc=_rpc(w3),
                         hint=f"send ether to the signing account ({KEY_ENV}) first" if broke else None) from None
    except Web3Exception as exc:
        text = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ChainError(f"node refused: {text[:300]}", rpc=_rpc(w3)) from None


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


# --- accounts ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _dev_seed() -> bytes:
    return seed_from_mnemonic(DEV_MNEMONIC, "")


def dev_account(n: int = 0) -> LocalAccount:
    """anvil's n-th funded development account (only for a local chain or tests)."""
    if not 0 <= n < DEV_ACCOUNTS:
        raise InputError(f"anvil dev account {n} does not exist", hint=f"use 0..{DEV_ACCOUNTS - 1}")
    key = key_from_seed(_dev_seed(), f"m/44'/60'/0'/0/{n}")
    dev: LocalAccount = Account.from_key(key)
    return dev


def account(w3: Web3) -> LocalAccount:
    """The signer: ``ZKGRAD_PRIVATE_KEY``; on a local anvil (chain id 31337) without it,
    dev account 0."""
    return _default_account(w3)


def _default_account(w3: Web3) -> LocalAccount:
    key = os.environ.get(KEY_ENV)
    if key:
        try:
            signer: LocalAccount = Account.from_key(key.strip())
            return signer
        except (ValueError, TypeError):
            raise InputError(
                f"{KEY_ENV} is not a valid private key", hint="use 0x + 64 hex digits"
            ) from None
    cid = chain_id(w3)
    if cid == LOCAL_CHAIN_ID:
        return dev_account(0)
    raise ChainError(
        f"no signing key for chain {cid}",
        hint=f"set {KEY_ENV} (dev keys are used only on a local anvil, chain id {LOCAL_CHAIN_ID})",
        chain_id=cid,
    )


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


# --- transactions -----------------------------------------------------------------------
def _abi_of(fn: Any) -> list[dict[str, Any]]:
    """The whole contract ABI behind a ContractFunction or a ContractConstructor."""
    abi = getattr(fn, "contract_abi", None) or getattr(fn, "abi", None) or []
    return list(abi) if isinstance(abi, list) else [abi]


def transact(w3: Web3, fn: Any, *, account: LocalAccount | None = None, value: int = 0,
             journal: Callable[[str], None] | None = None) -> Any:
    """Estimate, sign, send and wait for ``fn`` (a contract function or constructor call);
    returns the receipt. Raises TransactionRevertedError on a revert, decoded. ``journal`` is
    given the signed transaction's hash before it is sent (so a rerun can find it: ``landed``)."""
    abi = _abi_of(fn)
    signer = account or _default_account(w3)
    with node_errors(w3, abi):
        params: dict[str, Any] = {"from": signer.address, "value": value}
        gas = fn.estimate_gas(params)  # a revert surfaces here, before anything is sent
        params |= {
            "gas": int(gas * GAS_MARGIN),
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
        tx = fn.build_transaction(params)
        signed = signer.sign_transaction(tx)
        if journal is not None:
            journal("0x" + bytes(signed.hash).hex())
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise _replayed_revert(w3, tx, receipt, abi)
    return receipt


def _replayed_revert(
    w3: Web3, tx: dict[str, Any], receipt: Any, abi: Sequence[dict[str, Any]]
) -> TransactionRevertedError:
    """A mined transaction failed: replay it as a call at its block to read the reason."""
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    extra = {"tx_hash": tx_hash, "gas_used": receipt["gasUsed"]}
    call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
    try:
        w3.eth.call(call, receipt["blockNumber"])  # type: ignore[arg-type]
    except ContractLogicError as exc:
        return _reverted(exc.data, abi, exc.message, **extra)
    except (Web3Exception, requests.RequestException):
        pass
    return TransactionRevertedError("status 0 (the replay did not revert; out of gas?)", **extra)


def call(fn: Any) -> Any:
    """A read-only call of a contract function, with the same revert decoding."""
    with node_errors(fn.w3, _abi_of(fn)):
        return fn.call()


def deploy(
    w3: Web3, contract: CompiledContract, *args: Any, account: LocalAccount | None = None,
    journal: Callable[[str], None] | None = None,
) -> Deployed:
    """Deploy ``contract`` with constructor ``args`` (``journal``: as for ``transact``)."""
    if not contract.bytecode:
        raise DeploymentError(
            f"{contract.name} has no bytecode (abstract contract or interface?)",
            contract=contract.name,
        )
    with node_errors(w3, contract.abi):
        factory = w3.eth.contract(abi=contract.abi, bytecode=contract.bytecode)
        constructor = factory.constructor(*args)
    try:
        receipt = transact(w3, constructor, account=account, journal=journal)
    except ChainError as exc:
        if "ContractSizeLimit" not in exc.message:
            raise
        raise DeploymentError(
            f"{contract.name}: runtime code of {contract.runtime_size} bytes is over this chain's "
            "contract size limit",
            hint=f"EIP-170 allows {EIP170_LIMIT} bytes; shrink the contract "
            "or raise the node's limit",
            contract=contract.name,
            runtime_size=contract.runtime_size,
        ) from None
    return _deployed(receipt)


def _deployed(receipt: Any) -> Deployed:
    return Deployed(
        address=str(receipt["contractAddress"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
        block=int(receipt["blockNumber"]),
    )


def landed_deployment(w3: Web3, tx_hash: str) -> Deployed | None:
    """The contract a deployment sent earlier created, waiting for it if the node still holds it;
    None when the node does not know the transaction (never sent, or a restarted local chain) or it
    created nothing."""
    with node_errors(w3):
        try:
            w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)  # type: ignore[arg-type]
    return _deployed(receipt) if receipt["status"] == 1 and receipt.get("contractAddress") else None


def contract_at(w3: Web3, address: str, abi: Sequence[dict[str, Any]]) -> Any:
    """A web3 contract handle whose functions go to ``transact`` / ``call``."""
    target = checksum_address(address)
    with node_errors(w3, abi):
        return w3.eth.contract(address=target, abi=list(abi))
