"""Talking to an EVM node over web3.py: connect, sign, deploy, transact, call.

This is the one edge where web3 is called: its exceptions become zkgrad's here
(unreachable node -> RpcUnreachableError, revert -> TransactionRevertedError with the
decoded custom error, anything else -> ChainError) and never leak further.
The signing key comes from ``ZKGRAD_PRIVATE_KEY`` only, never from a command-line argument.

It is also the one place that copes with a faulty node (``Patience``): a request the node rate
limits, lets time out or drops is tried again, by the provider ``connect`` builds (a send only by
``transact``, which first asks whether the lost one got through); a transaction that does not land
is replaced at the same nonce at a higher fee; and every hash that may land is given to the
caller's journal, so that a rerun finds it (``find_landed``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from eth_utils.abi import abi_to_signature, get_abi_input_names, get_abi_input_types
from eth_utils.crypto import keccak
from urllib3.exceptions import NewConnectionError
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception, Web3RPCError
from web3.types import RPCEndpoint

from zkgrad.errors import (
    ChainError,
    DeploymentError,
    InputError,
    NodeUnavailableError,
    RpcUnreachableError,
    TransactionPendingError,
    TransactionRevertedError,
)
from zkgrad.toolchain import EIP170_LIMIT, CompiledContract

KEY_ENV = "ZKGRAD_PRIVATE_KEY"
LOCAL_CHAIN_ID = 31337
# anvil's (and hardhat's) public development mnemonic: its accounts hold test ether only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10  # anvil funds this many by default
GAS_MARGIN = 1.2  # estimate * margin is sent as the gas limit
RECEIPT_TIMEOUT_S = 120.0  # how long find_landed waits for a transaction the node still holds
MAX_FEE_GWEI = 500.0
"""The most zkgrad offers per gas (max fee, or gas price), replacements included, unless
``ZKGRAD_MAX_FEE_GWEI`` (or ``Patience.max_fee_gwei``) says otherwise."""
MAX_FEE_ENV = "ZKGRAD_MAX_FEE_GWEI"
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # HTTP answers of a node that is busy, not wrong
_SENDS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})  # retried by transact only
_T = TypeVar("_T")

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


@dataclass(frozen=True)
class Patience:
    """How long zkgrad keeps at a failing node, and at a transaction that does not land. Set per
    connection (``connect(..., patience=...)``) or per call (``transact(..., patience=...)``)."""

    tries: int = 5
    """Attempts at one request while the node answers HTTP 429/502/503/504 (or a JSON-RPC error
    saying "rate limit"), times out or drops the connection (a refused connection is not tried
    again: nothing listens there)."""
    backoff_s: float = 0.5
    """The wait after the first failed attempt; doubled after each one (a node's Retry-After is
    honoured), never over ``max_backoff_s``."""
    max_backoff_s: float = 8.0
    """The longest wait between two attempts."""
    deadline_s: float = 60.0
    """No attempt at one request starts later than this after the first (waits included)."""
    pending_s: float = 90.0
    """How long a sent transaction may stay unmined before it is replaced at a higher fee."""
    replacements: int = 3
    """At most this many replacements of one transaction; then TransactionPendingError."""
    bump: float = 1.25
    """Each replacement offers this times the last fees (nodes want at least +10%)."""
    poll_s: float = 1.0
    """The longest pause between two looks for a receipt (the first looks come sooner)."""
    max_fee_gwei: float | None = None
    """The most offered per gas; None: ``$ZKGRAD_MAX_FEE_GWEI``, else ``MAX_FEE_GWEI``."""

    def __post_init__(self) -> None:
        if self.tries < 1 or self.replacements < 0:
            raise InputError(f"tries ({self.tries}) must be at least 1 and replacements ({self.replacements}) "
                             "at least 0", hint="fix the Patience given")
        if min(self.backoff_s, self.max_backoff_s, self.deadline_s, self.pending_s) < 0 or self.poll_s <= 0:
            raise InputError("Patience's times must not be negative (poll_s above 0)", hint="fix the Patience given")
        if self.bump < 1.1:
            raise InputError(f"a replacement fee bump of {self.bump} is below the +10% nodes require",
                             hint="use bump=1.25")
        if self.max_fee_gwei is not None and not self.max_fee_gwei > 0:
            raise InputError(f"max_fee_gwei must be above 0, got {self.max_fee_gwei}", hint="e.g. 500")


DEFAULT_PATIENCE = Patience()


def max_fee_wei(patience: Patience | None = None) -> int:
    """The most zkgrad offers per gas, in wei: ``patience.max_fee_gwei``, else ``$ZKGRAD_MAX_FEE_GWEI``,
    else ``MAX_FEE_GWEI``."""
    gwei = patience.max_fee_gwei if patience is not None else None
    if gwei is None and os.environ.get(MAX_FEE_ENV, "").strip():
        try:
            gwei = float(os.environ[MAX_FEE_ENV])
        except ValueError:
            gwei = math.nan
        if not gwei > 0 or math.isinf(gwei):
            raise InputError(f"{MAX_FEE_ENV} is not a positive number of gwei: '{os.environ[MAX_FEE_ENV]}'",
                             hint=f"e.g. {MAX_FEE_ENV}=500, or unset it for {MAX_FEE_GWEI:g}")
    return int((MAX_FEE_GWEI if gwei is None else gwei) * 10**9)


class _RateLimited(requests.RequestException):
    """A JSON-RPC error answer (HTTP 200) that says the node is rate limiting, as some providers do."""


_RATE_LIMITED = ("rate limit", "too many requests")


def _rate_limit_checked(raw: bytes) -> bytes:
    """``raw``, unless it is a JSON-RPC error saying the node is rate limiting: _RateLimited."""
    if b'"error"' not in raw:
        return raw
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return raw
    text = str(error.get("message", "")) if isinstance(error, dict) else ""
    if any(words in text.lower() for words in _RATE_LIMITED):
        raise _RateLimited(text[:200])
    return raw


def _transient(exc: BaseException) -> str | None:
    """What went wrong, when ``exc`` is a failure another attempt may get past (the node busy,
    slow or dropping the connection); None otherwise."""
    if isinstance(exc, _RateLimited):
        return f"rate limited: {exc}"
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return f"HTTP {status}" if status in RETRY_STATUSES else None
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return None if isinstance(reason, NewConnectionError) else "dropped the connection"
    return None


def _retry_after(exc: BaseException) -> float:
    response = getattr(exc, "response", None)
    try:
        return float(response.headers.get("Retry-After", 0)) if response is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _retrying(rpc: str, method: str, patience: Patience, attempt: Callable[[], _T],
              recover: Callable[[], _T | None] | None = None) -> _T:
    """``attempt()``, tried again after a transient failure (``_transient``) with a doubling
    backoff, at most ``patience.tries`` times within ``patience.deadline_s``; then
    NodeUnavailableError. After each transient failure ``recover()`` may say it got through anyway."""
    start = time.monotonic()
    pause = patience.backoff_s
    for n in itertools.count(1):
        try:
            return attempt()
        except (requests.RequestException, ConnectionError) as exc:
            why = _transient(exc)
            if why is None:
                raise
            if recover is not None and (got := recover()) is not None:
                return got
            wait = min(max(pause, _retry_after(exc)), patience.max_backoff_s)
            elapsed = time.monotonic() - start
            if n >= patience.tries or elapsed + wait > patience.deadline_s:
                raise NodeUnavailableError(rpc, method, tries=n, seconds=elapsed, why=why) from None
            time.sleep(wait)
            pause *= 2
    raise AssertionError("unreachable")


class _PatientProvider(HTTPProvider):
    """web3's HTTP provider whose requests are tried again while the node rate limits, times out
    or drops the connection (``Patience``): the one place zkgrad retries a request. Sends are
    left to ``transact``, which asks whether a lost one got through before sending it again."""

    def __init__(self, rpc_url: str, timeout: float, patience: Patience) -> None:
        super().__init__(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.patience = patience

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        once = super()._make_request
        if method in _SENDS:
            return once(method, request_data)
        return _retrying(str(self.endpoint_uri), str(method), self.patience,
                         lambda: _rate_limit_checked(once(method, request_data)))


def connect(rpc_url: str, timeout: float = 10, *, patience: Patience = DEFAULT_PATIENCE) -> Web3:
    """A Web3 over HTTP whose node has answered ``eth_chainId``; ``timeout`` is per request, and
    ``patience`` says how often a failed one is tried again (and how transactions are replaced)."""
    w3 = Web3(_PatientProvider(check_rpc_url(rpc_url), timeout, patience))
    try:
        chain_id(w3)
    except (RpcUnreachableError, InputError):
        raise
    except (ChainError, ValueError) as exc:  # ValueError: a body web3 cannot parse as JSON-RPC
        text = exc.message if isinstance(exc, ChainError) else (str(exc).splitlines() or ["?"])[0]
        raise ChainError(f"{rpc_url} did not answer eth_chainId: {text}",
                         hint="is this the JSON-RPC URL of an EVM node?", rpc=rpc_url) from None
    return w3


def _patience(w3: Web3) -> Patience:
    found = getattr(w3.provider, "patience", None)
    return found if isinstance(found, Patience) else DEFAULT_PATIENCE


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
             journal: Callable[[str], None] | None = None, patience: Patience | None = None) -> Any:
    """Estimate, sign, send and wait for ``fn`` (a contract function or constructor call);
    returns the receipt. Raises TransactionRevertedError on a revert, decoded.

    ``journal`` is given each signed transaction's hash before it is sent (the first, and every
    replacement: each may be the one that lands), so that a rerun finds it: ``find_landed``.
    A faulty node costs no second transaction: a send whose answer was lost is looked up by its
    hash and sent again as the very same bytes if the node does not hold it; a new transaction the
    node calls "nonce too low" gets a fresh nonce, once. One left unmined for
    ``patience.pending_s`` is replaced at the same nonce, each fee times ``patience.bump``, at most
    ``patience.replacements`` times and never over ``max_fee_wei``; whichever version is mined is
    returned, and past that TransactionPendingError names them all (``patience``: the
    connection's unless given)."""
    abi = _abi_of(fn)
    signer = account or _default_account(w3)
    p = patience or _patience(w3)
    cap = max_fee_wei(p)
    with node_errors(w3, abi):
        params: dict[str, Any] = {"from": signer.address, "value": value}
        gas = fn.estimate_gas(params)  # a revert surfaces here, before anything is sent
        params |= {
            "gas": int(gas * GAS_MARGIN),
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
        tx = _capped(fn.build_transaction(params), cap)
    versions: dict[str, dict[str, Any]] = {}  # hash -> the transaction it signs, in the order sent
    try:
        with node_errors(w3, abi):
            receipt = _land(w3, signer, tx, versions, p, cap, journal)
    except ChainError as exc:
        if versions:
            exc.data.setdefault("tx_hashes", list(versions))
        raise
    if receipt["status"] != 1:
        raise _replayed_revert(w3, versions[_hex(receipt["transactionHash"])], receipt, abi)
    return receipt


def _land(w3: Web3, signer: LocalAccount, tx: dict[str, Any], versions: dict[str, dict[str, Any]], p: Patience,
          cap: int, journal: Callable[[str], None] | None) -> Any:
    """Send ``tx``, replacing it while it is not mined (``transact``); the receipt of the version
    mined. Every version sent is added to ``versions``."""

    def send(t: dict[str, Any]) -> None:
        signed = signer.sign_transaction(t)
        tx_hash = _hex(signed.hash)
        if journal is not None:
            journal(tx_hash)
        versions[tx_hash] = t
        _send(w3, bytes(signed.raw_transaction), tx_hash, p)

    try:
        send(tx)
    except Web3RPCError as exc:
        if not _says(exc, "nonce too low"):
            raise
        # the "pending" count was stale (a lagging node behind a balancer): ask again, once
        fresh = max(w3.eth.get_transaction_count(signer.address, "pending"),
                    w3.eth.get_transaction_count(signer.address, "latest"))
        if fresh <= tx["nonce"]:
            raise
        tx = tx | {"nonce": fresh}
        send(tx)
    why = f"after {p.replacements} replacements"
    for n in range(p.replacements + 1):
        receipt = _wait_mined(w3, list(versions), p.pending_s, p.poll_s)
        if receipt is not None:
            return receipt
        if n == p.replacements:
            break
        bumped = _bumped(tx, p.bump)
        if _fee(bumped) > cap:
            why = (f"after {n} replacement{'s' if n != 1 else ''}: the next would offer {_fee(bumped) / 1e9:g} gwei "
                   f"per gas, over the cap of {cap / 1e9:g}")
            break
        tx = bumped
        try:
            send(tx)
        except Web3RPCError as exc:
            if _says(exc, "nonce too low"):  # the nonce is used: by one of ours mined meanwhile, or not
                receipt = _mined(w3, list(versions))
                if receipt is not None:
                    return receipt
                raise ChainError(f"nonce {tx['nonce']} of {signer.address} was taken by another transaction; "
                                 f"none of this one's versions landed ({', '.join(versions)})",
                                 hint="another process signs with the same key? rerun the command",
                                 nonce=tx["nonce"], sender=signer.address) from None
            if not _says(exc, "underpriced"):
                raise
            # the node wants a larger bump than this one: the next replacement offers more
    raise TransactionPendingError(
        f"transaction with nonce {tx['nonce']} of {signer.address} is still pending {why} "
        f"(its hashes: {', '.join(versions)})",
        hint=f"one of them may still be mined: wait and rerun (a rerun finds the one that landed); "
        f"to offer more per gas, set {MAX_FEE_ENV} (now {cap / 1e9:g})",
        tx_hashes=list(versions), nonce=tx["nonce"], sender=signer.address)


def _send(w3: Web3, raw: bytes, tx_hash: str, p: Patience) -> None:
    """Send ``raw`` until the node holds it. After a failure that may have happened after the node
    got it (a dropped connection, a timeout, a refusal such as "already known" or "nonce too low"),
    the node is asked for ``tx_hash`` first; only if it does not know it are the same bytes sent
    again. A refusal of a transaction the node does not hold is raised (Web3RPCError)."""

    def held() -> bool | None:
        return True if _known(w3, tx_hash) else None

    def attempt() -> bool:
        try:
            w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            if _known(w3, tx_hash):  # our own: sent before, its answer lost
                return True
            if any(_says(exc, words) for words in _RATE_LIMITED):
                raise _RateLimited(exc.message[:200]) from None
            raise
        return True

    _retrying(_rpc(w3), "eth_sendRawTransaction", p, attempt, recover=held)


def _says(exc: Web3RPCError, words: str) -> bool:
    error = (exc.rpc_response or {}).get("error")
    text = error.get("message", "") if isinstance(error, dict) else ""
    return words in f"{text} {exc.message}".lower()


def _known(w3: Web3, tx_hash: str) -> bool:
    """Whether the node holds ``tx_hash``, pending or mined."""
    try:
        return w3.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
    except TransactionNotFound:
        return False


def _mined(w3: Web3, tx_hashes: Sequence[str]) -> Any | None:
    """The receipt of the first of ``tx_hashes`` mined in the node's chain, or None."""
    for tx_hash in tx_hashes:
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            continue
        if receipt is not None and receipt.get("blockNumber") is not None:
            return receipt
    return None


def _wait_mined(w3: Web3, tx_hashes: Sequence[str], seconds: float, poll_s: float) -> Any | None:
    """``_mined``, asked again (sooner at first) until one is or ``seconds`` have passed."""
    end = time.monotonic() + seconds
    pause = min(0.05, poll_s)
    while True:
        receipt = _mined(w3, tx_hashes)
        left = end - time.monotonic()
        if receipt is not None or left <= 0:
            return receipt
        time.sleep(min(pause, left))
        pause = min(pause * 2, poll_s)


def _fee(tx: dict[str, Any]) -> int:
    return int(tx["maxFeePerGas"] if "maxFeePerGas" in tx else tx.get("gasPrice", 0))


def _capped(tx: dict[str, Any], cap: int) -> dict[str, Any]:
    """``tx`` offering at most ``cap`` wei per gas."""
    if "maxFeePerGas" in tx:
        fee = min(int(tx["maxFeePerGas"]), cap)
        return tx | {"maxFeePerGas": fee, "maxPriorityFeePerGas": min(int(tx.get("maxPriorityFeePerGas", 0)), fee)}
    return tx | {"gasPrice": min(int(tx["gasPrice"]), cap)} if "gasPrice" in tx else tx


def _bumped(tx: dict[str, Any], bump: float) -> dict[str, Any]:
    """``tx`` offering ``bump`` times its fees (each at least 1 wei more: nodes want both raised)."""
    keys = ("maxFeePerGas", "maxPriorityFeePerGas") if "maxFeePerGas" in tx else ("gasPrice",)
    return tx | {k: max(math.ceil(int(tx.get(k, 0)) * bump), int(tx.get(k, 0)) + 1) for k in keys}


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


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


_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def find_landed(w3: Web3, tx_hashes: Iterable[str], timeout: float = RECEIPT_TIMEOUT_S) -> Any | None:
    """The receipt of whichever of ``tx_hashes`` is mined (the versions of one transaction a
    ``transact`` journal recorded: at most one of them can be), status 0 included; None when none is
    and the node holds none of them (never sent, replaced by a version that was not recorded,
    dropped by a reorg and not taken back into the pool, or a restarted local chain). One the node
    still holds, pending, is waited for up to ``timeout`` seconds; then TransactionPendingError."""
    hashes = list(dict.fromkeys(tx_hashes))
    bad = [h for h in hashes if not (isinstance(h, str) and _TX_HASH.fullmatch(h))]
    if bad:
        raise InputError(f"'{bad[0]}' is not a transaction hash", hint="a journal holds 0x + 64 hex digits per hash")
    with node_errors(w3):
        receipt = _mined(w3, hashes)
        if receipt is not None or not any(_known(w3, h) for h in hashes):
            return receipt
        receipt = _wait_mined(w3, hashes, timeout, _patience(w3).poll_s)
        if receipt is not None:
            return receipt
        pending = [h for h in hashes if _known(w3, h)]
    if pending:
        raise TransactionPendingError(f"transaction {', '.join(pending)} is still pending after {timeout:g} s",
                                      hint="wait until it is mined (or dropped) and rerun", tx_hashes=pending)
    return None


def landed_deployment(w3: Web3, tx_hashes: str | Sequence[str]) -> Deployed | None:
    """The contract a deployment sent earlier created (``tx_hashes``: its journal, one hash or
    several versions), waiting for it if the node still holds it (``find_landed``); None when none
    landed or it created nothing."""
    receipt = find_landed(w3, [tx_hashes] if isinstance(tx_hashes, str) else tx_hashes)
    if receipt is None or receipt["status"] != 1 or not receipt.get("contractAddress"):
        return None
    return _deployed(receipt)


def contract_at(w3: Web3, address: str, abi: Sequence[dict[str, Any]]) -> Any:
    """A web3 contract handle whose functions go to ``transact`` / ``call``."""
    target = checksum_address(address)
    with node_errors(w3, abi):
        return w3.eth.contract(address=target, abi=list(abi))
