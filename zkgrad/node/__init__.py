"""The web3 edge: talking to an EVM node over web3.py (connect, sign, deploy, transact, call).

web3's exceptions become zkgrad's here and never leak further (``failures``). It is also the one
place that copes with a faulty node (``Patience``): a request the node rate limits, lets time out
or drops is tried again by the provider ``connect`` builds (a send only by ``transact``, which
first asks whether the lost one got through); a transaction that does not land is replaced at the
same nonce at a higher fee; every hash that may land goes to the caller's journal, so that a rerun
finds it (``find_landed``). The signing key comes from ``ZKGRAD_PRIVATE_KEY`` only, never from a
command-line argument.
"""

from .accounts import DEV_ACCOUNTS, DEV_MNEMONIC, LOCAL_CHAIN_ID, account, dev_account
from .connection import (
    DEFAULT_PATIENCE,
    MAX_FEE_ENV,
    MAX_FEE_GWEI,
    RETRY_STATUSES,
    Patience,
    check_rpc_url,
    connect,
    max_fee_wei,
)
from .failures import KEY_ENV, decode_revert, node_errors
from .reads import (
    block_number,
    chain_id,
    checksum_address,
    estimate_gas,
    eth_call,
    get_code,
    get_logs,
    get_receipt,
    get_transaction,
)
from .transactions import (
    GAS_MARGIN,
    RECEIPT_TIMEOUT_S,
    Deployed,
    call,
    contract_at,
    deploy,
    find_landed,
    landed_deployment,
    transact,
)

__all__ = [
    "DEFAULT_PATIENCE",
    "DEV_ACCOUNTS",
    "DEV_MNEMONIC",
    "Deployed",
    "GAS_MARGIN",
    "KEY_ENV",
    "LOCAL_CHAIN_ID",
    "MAX_FEE_ENV",
    "MAX_FEE_GWEI",
    "Patience",
    "RECEIPT_TIMEOUT_S",
    "RETRY_STATUSES",
    "account",
    "block_number",
    "call",
    "chain_id",
    "check_rpc_url",
    "checksum_address",
    "connect",
    "contract_at",
    "decode_revert",
    "deploy",
    "dev_account",
    "estimate_gas",
    "eth_call",
    "find_landed",
    "get_code",
    "get_logs",
    "get_receipt",
    "get_transaction",
    "landed_deployment",
    "max_fee_wei",
    "node_errors",
    "transact",
]
