"""Carry on a model from what the chain publishes: no workspace, no other prover needed.

``join_model`` builds a workspace for a registered model from its registration alone (the
published spec in the ``ModelRegistered`` event, checked against the registered digest), the data
file (checked against the registered dataset root) and the SRS files the spec names (by sha256):
the circuits are rebuilt as ``zkgrad audit`` rebuilds them, and the workspace appears only once the
registered step verifier is seen to hold exactly the code they give.

``published_state`` is a version's checkpoint (the head's by default) from the chain: under the ``public`` commitment every
accepted update's public values, in its transaction's calldata, hold the new state's exact
quantized values, and the registry itself hashed those words into the head.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from eth_utils import keccak

from .. import fsio
from ..chain.deployments import verifier_mismatch
from ..chain.published import PublishedSpec
from ..chain.records import ModelInfo
from ..chain.registry import Registry
from ..circuits.srs import find_srs
from ..errors import ChainError, InputError
from ..model.checkpoint import Checkpoint, genesis
from ..model.data import Dataset
from ..model.dataset import check, load_for
from ..model.quant import felts_to_ints
from ..model.spec import ModelSpec
from ..progress import Reporter
from .workspace import Workspace

NODE_HINT = "the node serves other data than the registry holds: ask another node"


def published(registry: Registry, model_id: int) -> PublishedSpec | None:
    """The model's published spec; None when its keccak is not the registered digest."""
    info, reg = registry.model(model_id), registry.registration(model_id)
    return PublishedSpec.parse(reg.spec) if keccak(reg.spec) == info.spec_digest else None


def data_file(source: str, spec: ModelSpec, option: str = "--data") -> Dataset:
    """A model's data from a file (or a built-in name), refused in one line when it is not here."""
    if not source.startswith("digits") and not Path(source).is_file():
        raise InputError(f"no data file {source} here", hint=f"pass the model's data file with {option}")
    return load_for(spec, source)


def model_srs(pub: PublishedSpec, name: str, srs_dirs: tuple[Path, ...]) -> Path | None:
    """The SRS file of circuit ``name``, found by the sha256 the published spec records."""
    rec = pub.circuits[name]
    return find_srs(rec["srs"]["sha256"], int(rec["logrows"]), srs_dirs)


def joined_workspace(root: Path, info: ModelInfo, registry: Registry) -> Workspace | None:
    """The workspace ``join_model`` built at ``root`` for this very model, if there is one."""
    if not (root / "spec.json").is_file():
        return None
    ws = Workspace(root)
    rec = ws.deployment(registry.chain_id) or {}
    ours = rec.get("joined") and str(rec.get("registry", "")).lower() == registry.address.lower() \
        and rec.get("model_id") == info.model_id and rec.get("spec_digest") == "0x" + info.spec_digest.hex()
    return ws if ours else None


def join_model(registry: Registry, model_id: int, root: Path, *, data: str | None = None,
               srs_dirs: tuple[Path, ...] = (), reporter: Reporter | None = None) -> Workspace:
    """A workspace at ``root`` for model ``model_id``, built from the chain, the data and the SRS;
    ``root`` appears only when complete and checked against the registered step verifier."""
    info = registry.model(model_id)
    pub = published(registry, model_id)
    if pub is None:
        raise ChainError(f"model {model_id}'s published spec does not hash to its registered digest", hint=NODE_HINT)
    spec = pub.spec
    g = genesis(spec)
    if g.commitment != info.genesis or g.weights_commitment != registry.version_record(model_id, 0).weights:
        raise ChainError(f"model {model_id}'s published spec does not give its registered genesis",
                         hint=f"'zkgrad audit {model_id}' shows what its registration claims")
    source = data or pub.dataset.source
    ds = data_file(source, spec)
    tree = check(pub.dataset, spec, ds)
    if tree.root != info.terms.dataset_root or pub.dataset.n_batches != info.terms.n_batches:
        raise InputError(f"{source} is not model {model_id}'s committed data (its schedule's root is "
                         f"0x{tree.root.hex()[:16]}…, the registered one 0x{info.terms.dataset_root.hex()[:16]}…)",
                         hint="pass the data file the model committed to with --data")
    srs = {name: model_srs(pub, name, srs_dirs) for name in ("step", "answer")}
    missing = [n for n, p in srs.items() if p is None]
    if missing:
        rec = pub.circuits[missing[0]]
        raise InputError(f"no SRS file with sha256 {rec['srs']['sha256'][:16]}… ({rec['srs']['kind']}, logrows "
                         f"{rec['logrows']}) for the {missing[0]} circuit",
                         hint="pass the folder holding the model's SRS files with --srs-dir")
    with fsio.staged_dir(root, "workspace", what="the model's workspace") as tmp:
        ws = Workspace.create(tmp, spec)
        ws.record_dataset(replace(pub.dataset, source=str(Path(source).resolve()) if Path(source).is_file() else source))
        circuits, _ = ws.compile(ds, srs=srs, plan=pub.plan, reporter=reporter)  # type: ignore[arg-type]
        why = verifier_mismatch(registry.w3, circuits.step, info.terms.step_verifier)
        if why is not None:
            raise ChainError(f"the step circuit rebuilt from model {model_id}'s published spec does not match its "
                             f"registered verifier {info.terms.step_verifier}: {why}",
                             hint=f"'zkgrad audit {model_id}' names what differs; this model cannot be trained from here")
        ws.record_deployment(registry.chain_id, {
            "registry": registry.address, "model_id": model_id, "step_verifier": info.terms.step_verifier,
            "answer_verifier": info.terms.answer_verifier, "eval_verifier": info.terms.eval_verifier,
            "dataset_root": "0x" + info.terms.dataset_root.hex(), "genesis": "0x" + info.genesis.hex(),
            "spec_digest": "0x" + info.spec_digest.hex(), "joined": True})
    return Workspace.open(root)


def published_state(registry: Registry, model_id: int, start: Checkpoint, version: int | None = None) -> Checkpoint:
    """Version ``version``'s checkpoint (default: the head's), rebuilt from the update that made it
    and checked against the commitment the registry holds for that version; ``start`` is the
    workspace's genesis, which must be the model's."""
    info = registry.model(model_id)
    version = info.version if version is None else version
    if not 0 <= version <= info.version:
        raise InputError(f"model {model_id} has no version {version} (its head is version {info.version})",
                         hint="pick a version from 'zkgrad history'")
    if start.commitment != info.genesis:
        raise InputError(f"this workspace's genesis is not model {model_id}'s",
                         hint="train that model with 'zkgrad train --model-id N' and no workspace")
    if version == 0:
        return start
    if start.commitment_scheme != "public" or info.step_layout.state_words != len(start.words()):
        raise InputError(f"model {model_id} does not publish this workspace's state",
                         hint="train it with 'zkgrad train --model-id N' and no workspace")
    last = registry.submitted(model_id, version)
    if last is None or not last.instances:
        raise ChainError(f"the transaction that made model {model_id}'s version {version} holds no update to it",
                         hint=NODE_HINT)
    words = list(last.instances[info.step_layout.after])
    tensors, at = [], 0
    for q in start.state():
        tensors.append(felts_to_ints(words[at : at + q.size], q.shape))
        at += q.size
    ckpt = Checkpoint(version=last.record.version, scale=start.scale, params=dict(zip(start.names, tensors)),
                      n_params=start.n_params, parent=last.record.before, batch_commitment=last.record.batch)
    if ckpt.commitment != last.record.after or ckpt.commitment != registry.version_record(model_id, version).state:
        raise ChainError(f"the weights published with model {model_id}'s version {last.record.version} do not hash "
                         "to its commitment", hint=NODE_HINT)
    return ckpt
