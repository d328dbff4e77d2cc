"""Real networks fail in ways a local anvil never shows: ``transact`` and reads survive them. Each
fault is made by a JSON-RPC proxy (tests/rpc_proxy.py) on loopback in front of a real anvil, and
each test counts what landed: exactly one transaction per intended call (the signer's nonce moves
by one), nothing lost, the receipt returned, every hash that may land journaled.

- a node that rate limits (HTTP 429) or answers too late: requests are tried again, bounded, then
  one NodeUnavailableError naming the node;
- a send whose answer is lost (after or before it reached the node): the hash is looked up and only
  the same bytes are ever sent again, whatever the node answers ("already imported", "nonce too low");
- a stale "pending" nonce: a fresh one, once;
- a transaction that never lands: replaced at the same nonce, +25% fees, whichever version is mined
  wins; past the replacements or the fee cap, one TransactionPendingError with its hashes;
- ``find_landed`` on a journal: the version mined, None after a reorg dropped it;
- ``register`` through a node that drops every answer to a send: one model, funded once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account.typed_transactions import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from zkgrad.chain.anvil import ChainInfo, anvil_node
from zkgrad.chain.registry import Registry, deploy_registry
from zkgrad.contracts import REGISTRY, shipped
from zkgrad.errors import (
    ChainError,
    NodeUnavailableError,
    RpcUnreachableError,
    TransactionPendingError,
)
from zkgrad.node import (
    KEY_ENV,
    MAX_FEE_ENV,
    Patience,
    connect,
    deploy,
    dev_account,
    find_landed,
    landed_deployment,
)

from .rpc_proxy import LimitedRpc

pytestmark = pytest.mark.chain
FAST = Patience(tries=4, backoff_s=0.02, max_backoff_s=0.1, deadline_s=5.0, pending_s=0.3, replacements=3,
                poll_s=0.05)
TIMEOUT_S = 0.5  # per request through the proxy; a "late" answer comes after LATE_S
LATE_S = 1.5
ME = dev_account(0).address
SURE = Patience(**{**FAST.__dict__, "pending_s": 1.0})  # where a test's miner must act before a replacement


@pytest.fixture(scope="module")
def node() -> Iterator[ChainInfo]:
    """A private anvil: tests here switch its mining off and rewind it."""
    with anvil_node() as info:
        yield info


@pytest.fixture
def direct(node: ChainInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web3]:
    """A connection that bypasses the proxy (to count what landed); mining is automatic again after the test."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(MAX_FEE_ENV, raising=False)
    w3 = connect(node.rpc_url)
    yield w3
    _rpc(w3, "evm_setAutomine", True)
    _rpc(w3, "evm_mine")


@pytest.fixture
def proxy(node: ChainInfo) -> Iterator[LimitedRpc]:
    with LimitedRpc(node.rpc_url, late_s=LATE_S) as rpc:
        yield rpc


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


def _nonce(w3: Web3) -> int:
    return int(w3.eth.get_transaction_count(ME, "latest"))


def _hash(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw[2:])).hex()


def _tx(raw: str) -> dict[str, Any]:
    return dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())


def _deploy(w3: Web3, journal: list[str] | None = None) -> Any:
    return deploy(w3, shipped(REGISTRY), journal=None if journal is None else journal.append)


def _mine_when(direct: Web3, ready: Callable[[], bool]) -> threading.Thread:
    """A thread that mines one block as soon as ``ready()`` (polled, never slept for blindly)."""

    def run() -> None:
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        _rpc(direct, "evm_mine")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _in_pool(direct: Web3, tx_hash: str) -> bool:
    return _rpc(direct, "eth_getTransactionByHash", tx_hash) is not None


# --- a busy node: rate limits and timeouts --------------------------------------------------
def test_reads_and_every_step_of_a_transaction_ride_out_rate_limits_and_timeouts(
        direct: Web3, proxy: LimitedRpc) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    proxy.fail("eth_blockNumber", "429", "late", "drop")
    assert w3.eth.block_number == direct.eth.block_number  # a read, three faults in a row
    proxy.fail("eth_getBalance", "limit", "limit")
    assert w3.eth.get_balance(ME) == direct.eth.get_balance(ME)
    before = _nonce(direct)
    proxy.fail("eth_estimateGas", "429")
    proxy.fail("eth_getTransactionCount", "late")
    proxy.fail("eth_sendRawTransaction", "429", "limit")  # refused before it reaches the node
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(direct.eth.get_code(d.address)) > 0
    assert _nonce(direct) == before + 1  # one transaction
    assert len(proxy.sends) == 3 and len(set(proxy.sends)) == 1  # the same bytes each time
    assert journal == [d.tx_hash] == [_hash(proxy.sends[0])]
    assert {f for _, f in proxy.faulted} == {"429", "limit", "late", "drop"} and len(proxy.faulted) == 9


@pytest.mark.parametrize("fault", ["429", "limit", "late"])
def test_a_node_that_keeps_failing_gives_one_error_naming_it(direct: Web3, proxy: LimitedRpc, fault: str) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    proxy.fail("eth_getCode", *[fault] * 10)
    start = time.monotonic()
    with pytest.raises(NodeUnavailableError) as info:
        w3.eth.get_code(ME)
    err = info.value
    assert isinstance(err, RpcUnreachableError) and isinstance(err, ChainError)
    assert proxy.url in err.message and "eth_getCode" in err.message
    assert {"429": "HTTP 429", "limit": "rate limited", "late": "timed out"}[fault] in err.message
    assert err.data["tries"] == FAST.tries and proxy.methods.count("eth_getCode") == FAST.tries
    assert time.monotonic() - start < FAST.deadline_s + TIMEOUT_S


def test_a_send_the_node_keeps_refusing_is_one_error_with_its_hash(direct: Web3, proxy: LimitedRpc) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    proxy.fail("eth_sendRawTransaction", *["429"] * 10)
    journal: list[str] = []
    with pytest.raises(NodeUnavailableError, match="eth_sendRawTransaction") as info:
        _deploy(w3, journal)
    assert info.value.data["tx_hashes"] == journal and len(set(proxy.sends)) == 1
    assert _nonce(direct) == before and not _in_pool(direct, journal[0])  # nothing landed


# --- a send whose answer is lost --------------------------------------------------------------
@pytest.mark.parametrize("fault", ["drop_after", "late"])
def test_a_send_that_reached_the_node_is_found_not_sent_again(direct: Web3, proxy: LimitedRpc,
                                                              fault: str) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    proxy.fail("eth_sendRawTransaction", fault)
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(proxy.sends) == 1  # the node had it: never sent again
    assert _nonce(direct) == before + 1 and journal == [d.tx_hash]


def test_a_send_lost_on_the_way_is_sent_again_as_the_same_bytes(direct: Web3, proxy: LimitedRpc) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    proxy.fail("eth_sendRawTransaction", "drop")
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(proxy.sends) == 2 and proxy.sends[0] == proxy.sends[1]
    assert _nonce(direct) == before + 1 and journal == [d.tx_hash]


@pytest.mark.parametrize("mining", ["auto", "manual"])
def test_a_lagging_node_that_calls_our_own_send_already_known_or_nonce_too_low(
        direct: Web3, proxy: LimitedRpc, mining: str) -> None:
    """The answer is lost and the lookup goes to a node that has not seen the transaction yet (a
    balancer's lagging backend): the same bytes go again and the node refuses them, "transaction
    already imported" (pending) or "nonce too low" (mined). Both are our own transaction: found by
    its hash, never followed by a new one."""
    looked = []

    def lagging(req: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if req["method"] == "eth_getTransactionByHash" and not looked:
            looked.append(req)
            return {**answer, "result": None}
        return answer

    proxy.tamper = lagging
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    if mining == "manual":
        _rpc(direct, "evm_setAutomine", False)
        _mine_when(direct, lambda: len(proxy.sends) >= 2)
    proxy.fail("eth_sendRawTransaction", "drop_after")
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert looked and len(proxy.sends) == 2 and proxy.sends[0] == proxy.sends[1]
    refusal = "transaction already imported" if mining == "manual" else "nonce too low"
    assert proxy.errors == [("eth_sendRawTransaction", refusal)]
    assert _nonce(direct) == before + 1 and journal == [d.tx_hash]


def test_a_stale_pending_nonce_is_asked_again_once(direct: Web3, proxy: LimitedRpc) -> None:
    _deploy(direct)  # the signer has sent before: a stale count names a used nonce
    stale = []

    def lagging(req: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if req["method"] == "eth_getTransactionCount" and not stale:
            stale.append(int(answer["result"], 16) - 1)
            return {**answer, "result": hex(stale[0])}
        return answer

    proxy.tamper = lagging
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert [_tx(r)["nonce"] for r in proxy.sends] == [stale[0], before]
    assert proxy.errors == [("eth_sendRawTransaction", "nonce too low")]
    assert journal == [_hash(r) for r in proxy.sends] and d.tx_hash == journal[1]
    assert _nonce(direct) == before + 1


# --- a transaction that never lands -----------------------------------------------------------
def test_a_pending_transaction_is_replaced_at_a_higher_fee(direct: Web3, proxy: LimitedRpc) -> None:
    """Mining is off: the first version sits in the node's pool; after ``pending_s`` its
    replacement (same nonce, +25% on both fees) takes its place and is mined."""
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=SURE)
    before = _nonce(direct)
    _rpc(direct, "evm_setAutomine", False)
    _mine_when(direct, lambda: len(proxy.sends) >= 2 and _in_pool(direct, _hash(proxy.sends[1])))
    journal: list[str] = []
    d = _deploy(w3, journal)
    first, second = (_tx(r) for r in proxy.sends)
    assert first["nonce"] == second["nonce"] == before
    for fee in ("maxFeePerGas", "maxPriorityFeePerGas"):
        assert second[fee] >= first[fee] * 1.25
    assert journal == [_hash(r) for r in proxy.sends] and d.tx_hash == journal[1]
    assert _nonce(direct) == before + 1 and not _in_pool(direct, journal[0])  # the node replaced it


def test_whichever_version_is_mined_wins(direct: Web3, proxy: LimitedRpc) -> None:
    """The replacement never reaches the node (swallowed): the first version, still in the pool,
    is mined and its receipt returned."""
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=SURE)
    before = _nonce(direct)
    _rpc(direct, "evm_setAutomine", False)
    proxy.fail("eth_sendRawTransaction", None, "swallow")
    _mine_when(direct, lambda: len(proxy.sends) >= 2)
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(journal) == 2 and d.tx_hash == journal[0]
    assert _nonce(direct) == before + 1


def test_a_transaction_lost_by_the_node_is_replaced(direct: Web3, proxy: LimitedRpc) -> None:
    """The node answers the hash but drops the transaction (swallowed twice): the third version lands."""
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    before = _nonce(direct)
    proxy.fail("eth_sendRawTransaction", "swallow", "swallow")
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(set(proxy.sends)) == 3 and journal == [_hash(r) for r in proxy.sends] and d.tx_hash == journal[2]
    fees = [_tx(r)["maxFeePerGas"] for r in proxy.sends]
    assert fees[0] < fees[1] < fees[2] and {_tx(r)["nonce"] for r in proxy.sends} == {before}
    assert _nonce(direct) == before + 1


@pytest.mark.parametrize("limit", ["replacements", "fee cap"])
def test_past_the_cap_one_error_says_it_is_still_pending(direct: Web3, proxy: LimitedRpc, limit: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    patience = FAST
    if limit == "replacements":
        patience = Patience(**{**FAST.__dict__, "replacements": 2})
    else:  # below what the first version offers: it is capped, and no replacement may offer more
        fee = int(direct.eth.get_block("latest")["baseFeePerGas"])
        monkeypatch.setenv(MAX_FEE_ENV, str(fee * 1.1 / 1e9))
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=patience)
    before = _nonce(direct)
    proxy.fail("eth_sendRawTransaction", *["swallow"] * 5)
    journal: list[str] = []
    with pytest.raises(TransactionPendingError, match="still pending") as info:
        _deploy(w3, journal)
    err = info.value
    assert err.data["tx_hashes"] == journal == [_hash(r) for r in proxy.sends]
    assert len(journal) == (3 if limit == "replacements" else 1)
    assert err.data["nonce"] == before and all(h in err.message for h in journal)
    assert err.hint is not None and MAX_FEE_ENV in err.hint
    if limit == "fee cap":
        assert "over the cap" in err.message and _tx(proxy.sends[0])["maxFeePerGas"] <= fee * 1.1 + 1
    assert _nonce(direct) == before  # nothing landed


# --- a rerun's look at its journal ------------------------------------------------------------
def test_find_landed_finds_the_version_mined_and_none_after_a_reorg(direct: Web3, proxy: LimitedRpc) -> None:
    w3 = connect(proxy.url, timeout=TIMEOUT_S, patience=FAST)
    snapshot = _rpc(direct, "evm_snapshot")
    proxy.fail("eth_sendRawTransaction", "swallow")
    journal: list[str] = []
    d = _deploy(w3, journal)
    assert len(journal) == 2
    receipt = find_landed(w3, journal)
    assert receipt is not None and "0x" + bytes(receipt["transactionHash"]).hex() == journal[1]
    assert landed_deployment(w3, journal) == d and landed_deployment(w3, journal[1]) == d
    assert find_landed(w3, journal[:1]) is None  # never reached the node
    assert _rpc(direct, "evm_revert", snapshot)  # a reorganisation drops the block
    assert find_landed(w3, journal) is None and landed_deployment(w3, journal) is None


def test_find_landed_waits_for_a_pending_version_then_says_it_is_pending(direct: Web3) -> None:
    _rpc(direct, "evm_setAutomine", False)
    signed = dev_account(0).sign_transaction({"to": dev_account(1).address, "value": 1, "gas": 21000,
                                              "nonce": _nonce(direct), "chainId": 31337,
                                              "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})
    tx_hash = "0x" + bytes(signed.hash).hex()
    direct.eth.send_raw_transaction(signed.raw_transaction)
    with pytest.raises(TransactionPendingError, match=tx_hash):
        find_landed(direct, [tx_hash], timeout=0.2)
    _mine_when(direct, lambda: True)
    receipt = find_landed(direct, ["0x" + "00" * 32, tx_hash], timeout=10)
    assert receipt is not None and receipt["status"] == 1


# --- a whole command through a faulty node ---------------------------------------------------------
def test_register_through_a_node_that_drops_every_answer_to_a_send(tiny_workspace, anvil: ChainInfo,
                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from zkgrad.train.register import register

    from .helpers import copy_workspace

    fund = 10**15
    direct = connect(anvil.rpc_url)
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    with LimitedRpc(anvil.rpc_url) as rpc:
        w3 = connect(rpc.url, timeout=5, patience=FAST)
        reg = Registry(w3, deploy_registry(direct))
        before = _nonce(direct)
        rpc.fail("eth_sendRawTransaction", *["drop_after"] * 10)
        rec = register(ws, reg, reward_wei=10**12, fund_wei=fund)
        sent = list(rpc.sends)
    # the verifiers (unless an earlier test left them on this chain), the registration, the funding: each once
    assert len(sent) == len(set(sent)) == _nonce(direct) - before >= 2
    assert [f for _, f in rpc.faulted] == ["drop_after"] * len(sent)
    onchain = Registry(direct, reg.address)
    assert onchain.model_count() == 1 and rec["model_id"] == 1  # one model
    assert [a for _, a in onchain.fundings(1, 0)] == [fund] and onchain.model(1).bounty == fund  # funded once
    assert register(ws, onchain, reward_wei=10**12, fund_wei=fund) == rec and _nonce(direct) - before == len(sent)


def test_the_proxy_still_refuses_wide_log_ranges(node: ChainInfo) -> None:
    """The faults are an addition: LimitedRpc with no faults answers as before."""
    with LimitedRpc(node.rpc_url, 1) as rpc:
        got = requests.post(rpc.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                           "params": [{"fromBlock": "0x0", "toBlock": "0x5"}]}, timeout=5).json()
        assert got["error"]["code"] == -32005 and rpc.refused == [(0, 5)] and not rpc.faulted
