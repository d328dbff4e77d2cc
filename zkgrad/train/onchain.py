"""A model on chain: the registry to use, and registering a workspace's model there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from web3 import Web3

from .. import fsio
from ..chain.client import account, block_number, chain_id, checksum_address, get_code
from ..chain.registry import Registry, deploy_registry
from ..chain.deployments import code_hash, code_matches, deploy_verifier
from ..chain.terms import DEFAULT_REFUND_DELAY, ZERO_ADDRESS, Terms
from ..circuits.published import published_spec
from ..fsio import zkgrad_home
from ..errors import DeploymentError, InputError
from .workspace import Workspace


def _registries_file() -> Path:
    return zkgrad_home() / "registries.json"


def _registries() -> dict[str, Any]:
    """~/.zkgrad/registries.json: chain id -> {address, code_hash}; refused when hand-edited into another shape."""
    f = _registries_file()
    data = fsio.read_json(f, "registry record") if f.is_file() else {}
    if not isinstance(data, dict) or not all(isinstance(r, dict) for r in data.values()):
        raise InputError(f"{f} is not a registry record (chain id -> {{address, code_hash}})",
                         hint="fix it, or delete it and pass --registry ADDRESS", path=str(f))
    return data


def known_registry(w3: Web3) -> str | None:
    """The registry recorded for this chain, if the code recorded with it is still there (local
    chains share chain id 31337 and forget everything when restarted)."""
    rec = _registries().get(str(chain_id(w3)))
    if rec is not None and code_matches(w3, rec, str(_registries_file())):
        return str(rec["address"])
    return None


def remember_registry(w3: Web3, address: str) -> None:
    data = _registries()
    data[str(chain_id(w3))] = {"address": address, "code_hash": code_hash(w3, address)}
    fsio.write_json(_registries_file(), data)


def registry_address(w3: Web3, address: str | None) -> str:
    """--registry, else $ZKGRAD_REGISTRY, else the one 'zkgrad registry deploy' recorded for this chain."""
    if address:
        return checksum_address(address, what="--registry")
    if os.environ.get("ZKGRAD_REGISTRY"):
        return checksum_address(os.environ["ZKGRAD_REGISTRY"], what="ZKGRAD_REGISTRY")
    found = known_registry(w3)
    if not found:
        raise DeploymentError(f"no registry known on chain {chain_id(w3)}",
                              hint="deploy one with 'zkgrad registry deploy' or pass --registry ADDRESS")
    return found


def ensure_registry(w3: Web3, address: str | None = None) -> Registry:
    """The given or recorded registry; a fresh one (recorded) when none is known."""
    found = address or known_registry(w3)
    if found and len(get_code(w3, found)) > 0:
        return Registry(w3, found)
    addr = deploy_registry(w3)
    remember_registry(w3, addr)
    return Registry(w3, addr)


def check_registrable(ws: Workspace) -> None:
    """Refuse a model the registry cannot train: one that commits with Poseidon hashes."""
    if ws.spec.commitment != "public":
        raise InputError(f"{ws.root} commits with Poseidon hashes: the registry can neither check whose its step proofs "
                         "are (their claim is hashed) nor publish its weights, so it cannot be trained on chain",
                         hint="prove it off chain, or create the model with the default '--commitment public'")


def register(ws: Workspace, registry: Registry, *, reward_wei: int = 0, fund_wei: int = 0, name: str | None = None,
             allow_dev_srs: bool = False, anew: bool = False, refund_delay: int = DEFAULT_REFUND_DELAY) -> dict[str, Any]:
    """Deploy the model's verifiers (step, answer, and evaluation when it has one), register it
    under terms fixed for good (its committed dataset, held-out set and reward, ``Terms``) with its
    published spec, and fund it, once per chain (``anew``: register again even if the workspace's
    model is there); returns the deployment record. An unfinished registration is always continued.

    Safe to rerun after a failure at any point: progress is recorded in the workspace before and
    after each transaction, and a rerun continues from it. Verifiers are reused where their code
    is, a registration that landed is found on chain (never a second model id), and funding
    that landed is found in the model's Funded events (never funded twice)."""
    check_registrable(ws)
    w3 = registry.w3
    cid = registry.chain_id
    rec = ws.deployment(cid)
    g = ws.genesis()
    if not anew and not ws.registering(cid) and rec and rec.get("registry", "").lower() == registry.address.lower() \
            and registered(registry, rec, g.commitment):
        return rec
    circuits = ws.circuits()
    dataset = ws.dataset()
    dataset.check_spec(circuits.spec)
    step = deploy_verifier(w3, circuits.step, allow_dev_srs=allow_dev_srs)
    answer = deploy_verifier(w3, circuits.answer, allow_dev_srs=allow_dev_srs)
    ev = circuits.evaluation
    ev_address = deploy_verifier(w3, ev, allow_dev_srs=allow_dev_srs).address if ev is not None else ZERO_ADDRESS
    held = dataset.held_out if ev is not None else None
    if ev is not None and (held is None or held.commitment != ev.manifest["config"]["extra"]["held_out"]["commitment"]):
        raise InputError("the evaluation circuit was built on another held-out set than the committed one",
                         hint=f"recompile it with the held-out data of {ws.dataset_path}")
    layout = circuits.evaluation_layout if ev is not None else None
    terms = Terms(step.address, answer.address, bytes.fromhex(dataset.root[2:]), dataset.n_batches,
                  reward_per_update=reward_wei, eval_verifier=ev_address,
                  held_out=bytes.fromhex(held.commitment[2:]) if held else bytes(32),
                  held_out_size=layout.held_out if layout else 0, eval_unit=layout.unit if layout else 0,
                  srs=bytes.fromhex(circuits.step.manifest["srs"]["sha256"]), refund_delay=refund_delay)
    base = {"registry": registry.address, "step_verifier": step.address, "answer_verifier": answer.address,
            "eval_verifier": ev_address, "dataset_root": dataset.root, "genesis": "0x" + g.commitment.hex()}
    todo = ws.registering(cid)
    if any(todo.get(k) != v for k, v in base.items()):
        todo = dict(base)  # nothing begun with these contracts
    me = account(w3).address
    model_id = _register_once(ws, registry, todo, me, lambda: registry.register_model(
        terms, circuits.step_layout, circuits.answer_layout, g.commitment, genesis_weights=g.weights_commitment,
        name=name or ws.root.name, spec=published_spec(circuits, dataset)))
    if fund_wei and not todo.get("funded"):
        _fund_once(ws, registry, todo, me, model_id, fund_wei)
    rec = {**base, "model_id": model_id, "verifier_gas": {"step": step.gas_used, "answer": answer.gas_used}}
    ws.record_deployment(cid, rec)
    ws.record_registering(cid, None)
    return rec


def _register_once(ws: Workspace, registry: Registry, todo: dict[str, Any], me: str,
                   send: Callable[[], int]) -> int:
    """The model id of this registration: recorded, else found on chain among the models registered
    since it was sent, else registered now (``send``), the model count recorded first."""
    cid = registry.chain_id
    model_id = todo.get("model_id")
    if model_id is not None and not _ours(registry, int(model_id), todo, me):
        model_id = None  # a restarted local chain forgot it, and what was done for it
        for done in ("models_before", "fund_from_block", "funded"):
            todo.pop(done, None)
    if model_id is None and "models_before" in todo:  # the registration was sent: did it land?
        model_id = next((i for i in range(int(todo["models_before"]) + 1, registry.model_count() + 1)
                         if _ours(registry, i, todo, me)), None)
    if model_id is None:
        todo["models_before"] = registry.model_count()
        ws.record_registering(cid, todo)
        model_id = send()
    todo["model_id"] = int(model_id)
    ws.record_registering(cid, todo)
    return int(model_id)


def _fund_once(ws: Workspace, registry: Registry, todo: dict[str, Any], me: str, model_id: int, amount: int) -> None:
    """Fund the model unless our Funded event is on chain since the block recorded before sending."""
    cid = registry.chain_id
    sent = "fund_from_block" in todo and any(
        f.lower() == me.lower() for f, _ in registry.fundings(model_id, int(todo["fund_from_block"])))
    if not sent:
        todo["fund_from_block"] = block_number(registry.w3)
        ws.record_registering(cid, todo)
        registry.fund(model_id, amount)
    todo["funded"] = True
    ws.record_registering(cid, todo)


def _ours(registry: Registry, model_id: int, base: dict[str, Any], owner: str) -> bool:
    """Whether model ``model_id`` is this registration: same registrant, genesis, verifiers and data."""
    from ..errors import ChainError

    try:
        m = registry.model(model_id)
    except ChainError:
        return False
    t = m.terms
    return "0x" + m.genesis.hex() == base["genesis"] and "0x" + t.dataset_root.hex() == base["dataset_root"] and all(
        a.lower() == b.lower() for a, b in [(m.registrant, owner), (t.step_verifier, base["step_verifier"]),
                                            (t.answer_verifier, base["answer_verifier"]),
                                            (t.eval_verifier, base["eval_verifier"])])


def registered(registry: Registry, rec: dict[str, Any], genesis: bytes) -> bool:
    """Whether the recorded model id really is this model on this chain (a restarted anvil forgets)."""
    from ..errors import ChainError

    try:
        return registry.model(int(rec["model_id"])).genesis == genesis
    except ChainError:
        return False
