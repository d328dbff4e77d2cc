"""Sending transactions and deployments that land: estimate, sign, send, wait; a lost send is
looked up, a stuck one replaced at the same nonce at a higher fee (capped), and every hash
that may land handed to the caller's journal so that a rerun finds it (``find_landed``)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from ..errors import (
    ChainError,
    DeploymentError,
    InputError,
    TransactionPendingError,
    TransactionRevertedError,
)
from ..toolchain import EIP170_LIMIT, CompiledContract
from .accounts import _default_account
from .connection import (
    _RATE_LIMITED,
    MAX_FEE_ENV,
    Patience,
    _patience,
    _RateLimited,
    _retrying,
    max_fee_wei,
)
from .failures import _reverted, _rpc, node_errors
from .reads import checksum_address

GAS_MARGIN = 1.2  # estimate * margin is sent as the gas limit
RECEIPT_TIMEOUT_S = 120.0  # how long find_landed waits for a transaction the node still holds


@dataclass(frozen=True)
class Deployed:
    address: str
    tx_hash: str
    gas_used: int
    block: int



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
