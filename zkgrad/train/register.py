"""A model on chain: the registry to use, and registering a workspace's model there."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from web3 import Web3

from .. import fsio
from ..chain.deployments import code_hash, code_matches, deploy_verifier
from ..chain.published import published_spec
from ..chain.registry import Registry, deploy_registry
from ..chain.terms import DEFAULT_REFUND_DELAY, ZERO_ADDRESS, Terms
from ..circuits.extras import ModelExtra
from ..errors import DeploymentError, InputError
from ..fsio import zkgrad_home
from ..node import account, block_number, chain_id, checksum_address, get_code
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
    if ev is not None and (held is None or held.commitment != ModelExtra.of(ev).held_out.commitment):
        raise InputError("the evaluation circuit was built on another held-out set than the committed one",
                         hint=f"recompile it with the held-out data of {ws.dataset_path}")
    layout = circuits.evaluation_layout if ev is not None else None
    terms = Terms(step.address, answer.address, bytes.fromhex(dataset.root[2:]), dataset.n_batches,
                  reward_per_update=reward_wei, eval_verifier=ev_address,
                  held_out=bytes.fromhex(held.commitment[2:]) if held else bytes(32),
                  held_out_size=layout.held_out if layout else 0, eval_unit=layout.unit if layout else 0,
                  srs=bytes.fromhex(circuits.step.manifest["srs"]["sha256"]), refund_delay=refund_delay)
    target = RegistrationTarget(registry.address, step.address, answer.address, ev_address, dataset.root,
                          "0x" + g.commitment.hex())
    progress = RegistrationProgress.from_dict(ws.registering(cid))
    if progress.target != target:
        progress = RegistrationProgress(target)  # nothing begun with these contracts
    me = account(w3).address
    progress = _register_once(ws, registry, progress, me, lambda: registry.register_model(
        terms, circuits.step_layout, circuits.answer_layout, g.commitment, genesis_weights=g.weights_commitment,
        name=name or ws.root.name, spec=published_spec(circuits, dataset)))
    model_id = int(progress.model_id)  # type: ignore[arg-type]
    if fund_wei and not progress.funded:
        _fund_once(ws, registry, progress, me, model_id, fund_wei)
    rec = {**target.to_dict(), "model_id": model_id, "verifier_gas": {"step": step.gas_used, "answer": answer.gas_used}}
    ws.record_deployment(cid, rec)
    ws.record_registering(cid, None)
    return rec


@dataclass(frozen=True)
class RegistrationTarget:
    """What a registration registers (its progress is kept for this target only): the registry, the verifiers, the data and the genesis."""

    registry: str
    step_verifier: str
    answer_verifier: str
    eval_verifier: str
    dataset_root: str
    genesis: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class RegistrationProgress:
    """What an unfinished registration has done, recorded before and after each of its
    transactions (``WS/registering.json``) so that a rerun sends none of them twice."""

    target: RegistrationTarget | None
    models_before: int | None = None  # the model count just before registerModel was sent
    model_id: int | None = None
    fund_from_block: int | None = None  # the block just before fund was sent
    funded: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "target" and v is not None and v is not False}
        return {**(self.target.to_dict() if self.target else {}), **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RegistrationProgress":
        names = [f.name for f in fields(RegistrationTarget)]
        try:
            target = RegistrationTarget(**{k: str(d[k]) for k in names}) if all(k in d for k in names) else None
            return cls(target, _int(d.get("models_before")), _int(d.get("model_id")), _int(d.get("fund_from_block")),
                       bool(d.get("funded", False)))
        except (TypeError, ValueError):  # hand-edited: start over (each step checks the chain first)
            return cls(None)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _register_once(ws: Workspace, registry: Registry, progress: RegistrationProgress, me: str,
                   send: Callable[[], int]) -> RegistrationProgress:
    """This registration with its model id: recorded, else found on chain among the models
    registered since it was sent, else registered now (``send``), the model count recorded first."""
    cid = registry.chain_id
    target = progress.target
    assert target is not None
    if progress.model_id is not None and not _ours(registry, progress.model_id, target, me):
        progress = RegistrationProgress(target)  # a restarted local chain forgot it, and what was done for it
    model_id = progress.model_id
    if model_id is None and progress.models_before is not None:  # the registration was sent: did it land?
        model_id = next((i for i in range(progress.models_before + 1, registry.model_count() + 1)
                         if _ours(registry, i, target, me)), None)
    if model_id is None:
        progress = replace(progress, models_before=registry.model_count())
        ws.record_registering(cid, progress.to_dict())
        model_id = send()
    progress = replace(progress, model_id=int(model_id))
    ws.record_registering(cid, progress.to_dict())
    return progress


def _fund_once(ws: Workspace, registry: Registry, progress: RegistrationProgress, me: str, model_id: int,
               amount: int) -> None:
    """Fund the model unless our Funded event is on chain since the block recorded before sending."""
    cid = registry.chain_id
    sent = progress.fund_from_block is not None and any(
        f.lower() == me.lower() for f, _ in registry.fundings(model_id, progress.fund_from_block))
    if not sent:
        progress = replace(progress, fund_from_block=block_number(registry.w3))
        ws.record_registering(cid, progress.to_dict())
        registry.fund(model_id, amount)
    ws.record_registering(cid, replace(progress, funded=True).to_dict())


def _ours(registry: Registry, model_id: int, target: RegistrationTarget, owner: str) -> bool:
    """Whether model ``model_id`` is this registration: same registrant, genesis, verifiers and data."""
    from ..errors import ChainError

    try:
        m = registry.model(model_id)
    except ChainError:
        return False
    t = m.terms
    return "0x" + m.genesis.hex() == target.genesis and "0x" + t.dataset_root.hex() == target.dataset_root and all(
        a.lower() == b.lower() for a, b in [(m.registrant, owner), (t.step_verifier, target.step_verifier),
                                            (t.answer_verifier, target.answer_verifier),
                                            (t.eval_verifier, target.eval_verifier)])


def registered(registry: Registry, rec: dict[str, Any], genesis: bytes) -> bool:
    """Whether the recorded model id really is this model on this chain (a restarted anvil forgets)."""
    from ..errors import ChainError

    try:
        return registry.model(int(rec["model_id"])).genesis == genesis
    except ChainError:
        return False
