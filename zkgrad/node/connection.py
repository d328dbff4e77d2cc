"""The node connection: a URL checked, a provider that retries what a busy node drops
(``Patience``), and every web3 failure translated into zkgrad's errors (``node_errors``)."""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from ..errors import (
    ChainError,
    InputError,
    NodeUnavailableError,
    RpcUnreachableError,
)
from .reads import chain_id

MAX_FEE_GWEI = 500.0
"""The most zkgrad offers per gas (max fee, or gas price), replacements included, unless
``ZKGRAD_MAX_FEE_GWEI`` (or ``Patience.max_fee_gwei``) says otherwise."""
MAX_FEE_ENV = "ZKGRAD_MAX_FEE_GWEI"
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # HTTP answers of a node that is busy, not wrong
_SENDS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})  # retried by transact only
_T = TypeVar("_T")


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
