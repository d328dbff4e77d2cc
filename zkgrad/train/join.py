"""Carry on a model from what the chain publishes: no workspace, no other prover needed.

``join_model`` builds a workspace for a registered model from its registration alone (the
published spec in the ``ModelRegistered`` event, checked against the registered digest), the data
file (checked against the registered dataset root) and the SRS files the spec names (by sha256):
the circuits are rebuilt as ``zkgrad audit`` rebuilds them, and refused unless the registered
step verifier holds exactly the code they give.

``published_head`` is the head's checkpoint from the chain: under the ``public`` commitment every
accepted update's public values, in its transaction's calldata, hold the new state's exact
quantized values, and the registry itself hashed those words into the head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from eth_utils import keccak

from ..chain.client import chain_id
from ..chain.deployments import verifier_mismatch
from ..chain.registry import Registry
from ..circuits.checkpoint import Checkpoint
from ..circuits.config import CalibrationPlan
from ..circuits.dataset import check, load_for
from ..circuits.published import PublishedSpec
from ..circuits.quant import felts_to_ints
from ..circuits.srs import find_srs
from ..errors import ChainError, InputError
from ..progress import Reporter
from .workspace import Workspace


def published(registry: Registry, model_id: int) -> PublishedSpec:
    """The model's published spec, refused unless its keccak is the registered digest."""
    info, reg = registry.model(model_id), registry.registration(model_id)
    if keccak(reg.spec) != info.spec_digest:
        raise ChainError(f"model {model_id}'s published spec does not hash to its registered digest",
                         hint="the node serves another event than the one registered: ask another node")
    return PublishedSpec.parse(reg.spec)


def model_srs(pub: PublishedSpec, names: tuple[str, ...], srs_dirs: tuple[Path, ...]) -> dict[str, Path]:
    """The SRS file of each named circuit, found by the sha256 the published spec records."""
    found = {}
    for name in names:
        rec = pub.circuits[name]
        path = find_srs(rec["srs"]["sha256"], int(rec["logrows"]), srs_dirs)
        if path is None:
            raise InputError(f"no SRS file with sha256 {rec['srs']['sha256'][:16]}… ({rec['srs']['kind']}, logrows "
                             f"{rec['logrows']}) for the {name} circuit",
                             hint="pass the folder holding the model's SRS files with --srs-dir")
        found[name] = path
    return found


def join_model(registry: Registry, model_id: int, root: Path, *, data: str | None = None,
               srs_dirs: tuple[Path, ...] = (), reporter: Reporter | None = None) -> Workspace:
    """A workspace at ``root`` for model ``model_id``, built from the chain, the data and the SRS."""
    info = registry.model(model_id)
    pub = published(registry, model_id)
    spec = pub.spec
    source = data or pub.dataset.source
    if not source.startswith("digits") and not Path(source).is_file():
        raise InputError(f"no data file {source} here", hint="pass the model's training data with --data")
    ds = load_for(spec, source)
    tree = check(pub.dataset, spec, ds)
    if tree.root != info.terms.dataset_root:
        raise InputError(f"{source} is not model {model_id}'s committed data (its schedule's root is "
                         f"0x{tree.root.hex()[:16]}…, the registered one 0x{info.terms.dataset_root.hex()[:16]}…)",
                         hint="pass the data file the model committed to with --data")
    srs = model_srs(pub, ("step", "answer"), srs_dirs)
    cal = pub.calibration
    plan = CalibrationPlan(steps=int(cal["steps"]), margin=float(cal["margin"]), seed=int(cal["seed"]))
    ws = Workspace.create(root, spec)
    ws.record_dataset(pub.dataset)
    circuits, _ = ws.compile(ds, srs=srs, plan=plan, reporter=reporter)
    why = verifier_mismatch(registry.w3, circuits.step, info.terms.step_verifier)
    if why is not None:
        raise ChainError(f"the step circuit rebuilt from model {model_id}'s published spec does not match its "
                         f"registered verifier {info.terms.step_verifier}: {why}",
                         hint=f"'zkgrad audit {model_id}' names what differs; this model cannot be trained from here")
    ws.record_deployment(chain_id(registry.w3), {
        "registry": registry.address, "model_id": model_id, "step_verifier": info.terms.step_verifier,
        "answer_verifier": info.terms.answer_verifier, "eval_verifier": info.terms.eval_verifier,
        "dataset_root": "0x" + info.terms.dataset_root.hex(), "genesis": "0x" + info.genesis.hex(),
        "joined": True})
    return ws


def published_head(registry: Registry, model_id: int, genesis: Checkpoint) -> Checkpoint:
    """The head's checkpoint, rebuilt from the last accepted update's calldata and checked against the
    head commitment the registry holds (``genesis`` gives the tensors' names and shapes)."""
    head, version = registry.head(model_id), registry.version(model_id)
    if version == 0:
        if genesis.commitment != head:
            raise ChainError(f"model {model_id}'s genesis on chain is not this spec's genesis")
        return genesis
    if genesis.commitment_scheme != "public":
        raise InputError("a hashed model's weights are not published: only its provers hold them",
                         hint="continue from a workspace that holds the head")
    last = registry.head_update(model_id)
    if last is None or last.record.after != head or not last.instances:
        raise ChainError(f"the transaction of model {model_id}'s version {version} holds no update to its head",
                         hint="the node serves another history than the registry's: ask another node")
    words = list(last.instances[registry.model(model_id).step_layout.after])
    tensors, at = [], 0
    for q in genesis.state():
        tensors.append(felts_to_ints(words[at : at + q.size], q.shape))
        at += q.size
    params = dict(zip(genesis.names, (np.asarray(t, dtype=np.int64) for t in tensors)))
    ckpt = Checkpoint(version=version, scale=genesis.scale, params=params, n_params=genesis.n_params,
                      commitment_scheme="public", parent=last.record.before)
    if ckpt.commitment != head:
        raise ChainError(f"the weights published with model {model_id}'s version {version} do not hash to its head")
    return ckpt
