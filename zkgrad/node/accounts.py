"""Signing accounts: ``ZKGRAD_PRIVATE_KEY``, or anvil's public development keys on a local chain only."""

from __future__ import annotations

import os
from functools import lru_cache

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ..errors import (
    ChainError,
    InputError,
)
from .failures import KEY_ENV
from .reads import chain_id

LOCAL_CHAIN_ID = 31337
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10  # anvil funds this many by default


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


