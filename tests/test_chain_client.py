"""The web3 client against a real anvil: signer choice, deploy, transact, revert decoding."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from zkgrad.chain.anvil import ChainInfo, anvil_node, free_port
from zkgrad.errors import (
    ChainError,
    DeploymentError,
    InputError,
    RpcUnreachableError,
    TransactionRevertedError,
)
from zkgrad.node import (
    KEY_ENV,
    account,
    call,
    connect,
    contract_at,
    decode_revert,
    deploy,
    dev_account,
    transact,
)
from zkgrad.toolchain import CompiledContract, ContractSizeWarning, find_solc

OWNED = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Owned {
    error NotOwner(address caller);
    error AlreadyUsed(uint256 times);
    address public owner;
    uint256 public value;
    uint256 public used;
    constructor(uint256 v) { owner = msg.sender; value = v; }
    function set(uint256 v) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        value = v;
    }
    function useOnce() external { if (used > 0) revert AlreadyUsed(used); used += 1; }
    function divide(uint256 d) external view returns (uint256) { return value / d; }
    function needs(bool b) external pure returns (uint256) {
        require(b, "b must be true");
        return 1;
    }
}
"""
# The abi entry decode_revert needs for NotOwner, written out to keep the unit tests chain-free.
NOT_OWNER_ABI = [
    {"type": "error", "name": "NotOwner", "inputs": [{"name": "caller", "type": "address"}]}
]
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _encode(signature: str, types: list[str], args: list[Any]) -> bytes:
    return keccak(text=signature)[:4] + Web3().codec.encode(types, args)


# --- without a chain ----------------------------------------------------------------------
ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.mark.parametrize(
    "data, reason, name",
    [
        (_encode("NotOwner(address)", ["address"], [ADDR]), f"NotOwner(caller={ADDR})", "NotOwner"),
        ("0x" + _encode("Error(string)", ["string"], ["nope"]).hex(), "nope", "Error"),
        (
            _encode("Panic(uint256)", ["uint256"], [0x11]),
            "Panic(0x11: arithmetic overflow or underflow)",
            "Panic",
        ),
        (_encode("Other(uint256)", ["uint256"], [1]), "unknown error 0x", ""),  # not in the abi
        (keccak(text="NotOwner(address)")[:4] + b"\x01", "unknown error 0x", ""),  # truncated args
        (b"", "no reason given", ""),
        (None, "no reason given", ""),
    ],
    ids=["custom", "error-string", "panic", "unknown", "truncated", "empty", "none"],
)
def test_decode_revert(data: Any, reason: str, name: str) -> None:
    got_reason, got_name, _ = decode_revert(data, NOT_OWNER_ABI)
    assert got_reason.startswith(reason)
    assert got_name == name


def test_dev_accounts_are_anvils() -> None:
    assert dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert dev_account(0).key.hex().removeprefix("0x") == ANVIL_KEY_0[2:]
    assert dev_account(1).address == ADDR
    with pytest.raises(InputError):
        dev_account(10)


def test_connect_to_a_dead_port_is_unreachable() -> None:
    rpc = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RpcUnreachableError, match="cannot reach") as info:
        connect(rpc, timeout=2)
    assert info.value.data["rpc"] == rpc


# --- on a real anvil ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def owned_contract() -> CompiledContract:
    return find_solc().compile({"Owned.sol": OWNED})["Owned"]


@pytest.fixture
def owned(w3: Web3, owned_contract: CompiledContract, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(KEY_ENV, raising=False)
    deployed = deploy(w3, owned_contract, 7)
    return contract_at(w3, deployed.address, owned_contract.abi)


@pytest.mark.chain
def test_deploy_transact_call(
    w3: Web3, owned_contract: CompiledContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    deployed = deploy(w3, owned_contract, 7)
    assert deployed.gas_used > 21000 and deployed.block >= 1
    assert w3.eth.get_code(deployed.address) != b""
    owned = contract_at(w3, deployed.address, owned_contract.abi)
    assert call(owned.functions.owner()) == dev_account(0).address  # the default local signer
    assert call(owned.functions.value()) == 7
    receipt = transact(w3, owned.functions.set(42))
    assert receipt["status"] == 1
    assert call(owned.functions.value()) == 42


@pytest.mark.chain
def test_custom_error_is_decoded_before_sending(w3: Web3, owned: Any) -> None:
    stranger = dev_account(1)
    nonce = w3.eth.get_transaction_count(stranger.address)
    with pytest.raises(TransactionRevertedError) as info:
        transact(w3, owned.functions.set(1), account=stranger)
    err = info.value
    assert err.reason == f"NotOwner(caller={stranger.address})"
    assert err.data["error"] == "NotOwner"
    assert err.data["args"] == (stranger.address,)
    assert w3.eth.get_transaction_count(stranger.address) == nonce  # nothing was sent
    assert call(owned.functions.value()) == 7


@pytest.mark.chain
def test_error_string_and_panic_in_calls(owned: Any) -> None:
    with pytest.raises(TransactionRevertedError, match="b must be true"):
        call(owned.functions.needs(False))
    with pytest.raises(TransactionRevertedError, match=r"Panic\(0x12: division by zero\)"):
        call(owned.functions.divide(0))
    assert call(owned.functions.divide(7)) == 1


@pytest.mark.chain
def test_mined_revert_is_decoded_from_the_receipt(w3: Web3, owned: Any) -> None:
    """Two senders race for useOnce in one block: both estimates pass, the second mined
    transaction fails (status 0), and its reason is read by replaying it."""
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    results: dict[int, Any] = {}

    def send(n: int) -> None:
        try:
            results[n] = transact(w3, owned.functions.useOnce(), account=dev_account(n))
        except Exception as exc:  # noqa: BLE001 - inspected below
            results[n] = exc

    threads = [threading.Thread(target=send, args=(n,)) for n in (2, 3)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(w3.eth.get_block("pending")["transactions"]) < 2:
            assert time.monotonic() < deadline, "transactions never reached the pool"
            time.sleep(0.05)
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        for t in threads:
            t.join(60)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    failures = [r for r in results.values() if isinstance(r, Exception)]
    successes = [r for r in results.values() if not isinstance(r, Exception)]
    assert len(successes) == 1 and successes[0]["status"] == 1
    assert len(failures) == 1 and isinstance(failures[0], TransactionRevertedError)
    assert failures[0].reason == "AlreadyUsed(times=1)"
    assert failures[0].data["tx_hash"].startswith("0x")


@pytest.mark.chain
def test_env_key_is_the_signer(w3: Web3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "0x" + dev_account(4).key.hex().removeprefix("0x"))
    assert account(w3).address == dev_account(4).address
    monkeypatch.setenv(KEY_ENV, "not a key")
    with pytest.raises(InputError, match=KEY_ENV):
        account(w3)


@pytest.mark.chain
def test_no_dev_key_on_a_non_local_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with anvil_node(chain_id=5) as info:
        w3 = connect(info.rpc_url)
        with pytest.raises(ChainError) as err:
            account(w3)
        assert err.value.hint is not None and KEY_ENV in err.value.hint
        assert err.value.data["chain_id"] == 5
        monkeypatch.setenv(KEY_ENV, dev_account(0).key.hex())
        assert account(w3).address == dev_account(0).address


@pytest.mark.chain
def test_node_gone_midway_is_unreachable(owned_contract: CompiledContract) -> None:
    with anvil_node() as info:
        w3 = connect(info.rpc_url)
        deployed = deploy(w3, owned_contract, 1, account=dev_account(0))
        owned = contract_at(w3, deployed.address, owned_contract.abi)
    with pytest.raises(RpcUnreachableError):
        call(owned.functions.value())
    with pytest.raises(RpcUnreachableError):
        transact(w3, owned.functions.set(2), account=dev_account(0))


@pytest.mark.chain
def test_code_size_limit_is_eip170_unless_raised(anvil: ChainInfo) -> None:
    blob = "a" * 25_000  # a string literal kept in the runtime code: over EIP-170's 24576
    source = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Big { function blob() external pure returns (string memory) "
        f'{{ return "{blob}"; }} }}\n'
    )
    with pytest.warns(ContractSizeWarning):
        big = find_solc().compile({"Big.sol": source})["Big"]
    w3 = connect(anvil.rpc_url)
    with pytest.raises(DeploymentError, match="contract size limit") as refused:
        deploy(w3, big, account=dev_account(0))
    assert refused.value.data["runtime_size"] == big.runtime_size
    with anvil_node(code_size_limit=100_000) as roomy:
        deployed = deploy(connect(roomy.rpc_url), big, account=dev_account(0))
        assert deployed.gas_used > 0
