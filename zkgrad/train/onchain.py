"""A model on chain: the registry to use, and registering a workspace's model there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from web3 import Web3

from .. import fsio
from ..chain.registry import Registry, deploy_registry
from ..chain.verifier import code_hash, code_matches, deploy_verifier
from ..fsio import zkgrad_home
from ..errors import DeploymentError
from .workspace import Workspace


def _registries_file() -> Path:
    return zkgrad_home() / "registries.json"


def known_registry(w3: Web3) -> str | None:
    """The registry recorded for this chain, if the code recorded with it is still there (local
    chains share chain id 31337 and forget everything when restarted)."""
    f = _registries_file()
    rec = json.loads(f.read_text()).get(str(int(w3.eth.chain_id))) if f.is_file() else None
    if isinstance(rec, dict) and code_matches(w3, rec):
        return str(rec["address"])
    return None


def remember_registry(w3: Web3, address: str) -> None:
    f = _registries_file()
    data = json.loads(f.read_text()) if f.is_file() else {}
    data[str(int(w3.eth.chain_id))] = {"address": address, "code_hash": code_hash(w3, address)}
    fsio.write_json(f, data)


def registry_address(w3: Web3, address: str | None) -> str:
    """--registry, else $ZKGRAD_REGISTRY, else the one 'zkgrad registry deploy' recorded for this chain."""
    chain_id = int(w3.eth.chain_id)
    found = address or os.environ.get("ZKGRAD_REGISTRY") or known_registry(w3)
    if not found:
        raise DeploymentError(f"no registry known on chain {chain_id}",
                              hint="deploy one with 'zkgrad registry deploy' or pass --registry ADDRESS")
    return found


def ensure_registry(w3: Web3, address: str | None = None) -> Registry:
    """The given or recorded registry; a fresh one (recorded) when none is known."""
    found = address or known_registry(w3)
    if found and len(w3.eth.get_code(Web3.to_checksum_address(found))) > 0:
        return Registry(w3, found)
    addr = deploy_registry(w3)
    remember_registry(w3, addr)
    return Registry(w3, addr)


def register(ws: Workspace, registry: Registry, *, reward_wei: int = 0, fund_wei: int = 0, name: str | None = None,
             allow_dev_srs: bool = False) -> dict[str, Any]:
    """Deploy the model's two verifiers and register it (once per chain); returns the deployment record."""
    w3 = registry.w3
    chain_id = int(w3.eth.chain_id)
    rec = ws.deployment(chain_id)
    g = ws.genesis()
    if rec and rec.get("registry", "").lower() == registry.address.lower() and registered(registry, rec, g.commitment):
        return rec
    circuits = ws.circuits()
    if circuits.step_layout.n_params != circuits.answer_layout.n_params:
        raise DeploymentError("models with optimizer state (SGD momentum) cannot be registered yet: the registry "
                              "assumes the step's state is exactly the weights", hint="use momentum 0")
    step = deploy_verifier(w3, circuits.step, allow_dev_srs=allow_dev_srs)
    answer = deploy_verifier(w3, circuits.answer, allow_dev_srs=allow_dev_srs)
    layout = circuits.answer_layout
    model_id = registry.register_model(step.address, answer.address, circuits.step_layout.n_params, layout.n_outputs,
                                       g.commitment, reward_per_update=reward_wei, name=name or ws.root.name,
                                       spec_uri=str(ws.root.resolve()))
    if fund_wei:
        registry.fund(model_id, fund_wei)
    rec = {"registry": registry.address, "model_id": model_id, "step_verifier": step.address,
           "answer_verifier": answer.address, "genesis": "0x" + g.commitment.hex(),
           "verifier_gas": {"step": step.gas_used, "answer": answer.gas_used}}
    ws.record_deployment(chain_id, rec)
    return rec


def registered(registry: Registry, rec: dict[str, Any], genesis: bytes) -> bool:
    """Whether the recorded model id really is this model on this chain (a restarted anvil forgets)."""
    from ..errors import ChainError

    try:
        return registry.model(int(rec["model_id"])).genesis == genesis
    except ChainError:
        return False
