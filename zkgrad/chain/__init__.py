"""The chain layer: a local anvil node and a web3 client with zkgrad's errors."""

from zkgrad.chain.anvil import ChainInfo, LocalChain, anvil_node
from zkgrad.chain.client import (
    Deployed,
    account,
    call,
    connect,
    contract_at,
    decode_revert,
    deploy,
    dev_account,
    transact,
)

__all__ = [
    "ChainInfo",
    "Deployed",
    "LocalChain",
    "account",
    "anvil_node",
    "call",
    "connect",
    "contract_at",
    "decode_revert",
    "deploy",
    "dev_account",
    "transact",
]
