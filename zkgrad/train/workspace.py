"""A model workspace: the spec, its genesis, its circuits, its proven steps and where it lives on chain.

    spec.json                 the model spec
    genesis/                  version 0 checkpoint
    circuits/step, answer/    the two circuits (content-addressed)
    circuits/evaluation/      the evaluation circuit, its held-out set built in (classifiers)
    dataset.json              the committed dataset (zkgrad.model.dataset): the batch schedule's root
    steps/000001/ ...         one folder per proven step (zkgrad.prover.step)
    chain.json                per chain id: registry, model id, verifier addresses
    registering.json          per chain id: how far an unfinished 'zkgrad register' got

Created in a staging folder: the workspace appears only when complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import fsio
from ..circuits.artifacts import Circuit
from ..circuits.config import CalibrationPlan
from ..circuits.evaluation import compile_evaluation
from ..circuits.model_circuits import ModelCircuits, compile_circuits
from ..circuits.onnx_model import load_interface
from ..errors import InputError, MissingFileError
from ..layout import CLAIM_INPUT
from ..model.checkpoint import Checkpoint, genesis
from ..model.data import Dataset
from ..model.dataset import DatasetCommitment
from ..model.spec import ModelSpec
from ..progress import Reporter
from ..prover.step import STEP_JSON, StepSummary
from ..verifier.solidity import build_verifier


@dataclass(frozen=True)
class Workspace:
    root: Path

    spec_path = property(lambda self: self.root / "spec.json")
    genesis_dir = property(lambda self: self.root / "genesis")
    circuits_dir = property(lambda self: self.root / "circuits")
    steps_dir = property(lambda self: self.root / "steps")
    chain_path = property(lambda self: self.root / "chain.json")
    run_path = property(lambda self: self.root / "run.json")
    registering_path = property(lambda self: self.root / "registering.json")
    dataset_path = property(lambda self: self.root / "dataset.json")

    @classmethod
    def create(cls, root: Path | str, spec: ModelSpec) -> "Workspace":
        """Write the spec and its genesis into a staging folder that becomes ``root`` only when complete;
        an existing workspace must hold the same spec, and any other existing folder must be empty."""
        ws = cls(Path(root))
        if ws.spec_path.is_file():
            try:
                same = ModelSpec.load(ws.spec_path) == spec
            except (ValueError, TypeError, KeyError):  # not a model spec at all
                same = False
            if not same:
                raise InputError(f"{ws.root} already holds a different model spec",
                                 hint="choose another folder, or remove it")
            return ws
        with fsio.staged_dir(ws.root, "workspace", what="the workspace folder") as tmp:
            spec.save(tmp / "spec.json")
            genesis(spec).save(tmp / "genesis")
        return ws

    @classmethod
    def open(cls, root: Path | str) -> "Workspace":
        ws = cls(Path(root))
        if not ws.spec_path.is_file():
            raise MissingFileError(ws.spec_path, "model spec",
                                   hint="create a model with 'zkgrad model init' (or run 'zkgrad demo')")
        return ws

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.load(self.spec_path)

    def genesis(self) -> Checkpoint:
        return Checkpoint.load(self.genesis_dir)

    # --- circuits ------------------------------------------------------------------------
    def circuits(self) -> ModelCircuits:
        if not (self.circuits_dir / "step" / "manifest.json").is_file():
            raise MissingFileError(self.circuits_dir / "step", "compiled step circuit",
                                   hint=f"compile it with 'zkgrad model compile {self.root}'")
        circuits = ModelCircuits.open(self.spec, self.circuits_dir)
        if load_interface(circuits.step.onnx).inputs[-1].name != CLAIM_INPUT:
            raise InputError(f"{self.circuits_dir} was compiled by an older zkgrad: its step proofs cannot name "
                             "their submitter, and the registry refuses them",
                             hint=f"recompile: 'zkgrad model compile {self.root} --data DATA'")
        return circuits

    def compile(self, data: Dataset | tuple[np.ndarray, np.ndarray], *, srs: Path | None = None,
                plan: CalibrationPlan | None = None, reporter: Reporter | None = None) -> tuple[ModelCircuits, bool]:
        """Compile the circuits, calibrated along ``plan``'s run on ``data`` (``compile_circuits``)."""
        return compile_circuits(self.spec, self.genesis(), data, out=self.circuits_dir, srs=srs, plan=plan,
                                reporter=reporter, verifier=build_verifier)

    def compile_evaluation(self, data: Dataset, held_out: Dataset, *, size: int, srs: Path | None = None,
                           plan: CalibrationPlan | None = None, reporter: Reporter | None = None) -> tuple[Circuit, bool]:
        """Compile the evaluation circuit with the first ``size`` samples of ``held_out`` built in,
        calibrated like the step."""
        return compile_evaluation(self.spec, self.genesis(), data, held_out, out=self.circuits_dir / "evaluation",
                                  size=size, srs=srs, plan=plan, reporter=reporter, verifier=build_verifier)

    def dataset(self) -> DatasetCommitment:
        """The committed dataset the model trains on (``zkgrad data commit``)."""
        if not self.dataset_path.is_file():
            raise MissingFileError(self.dataset_path, "dataset commitment",
                                   hint=f"commit the training data first: 'zkgrad data commit DATA --model {self.root}'")
        return DatasetCommitment.load(self.dataset_path)

    def record_dataset(self, commitment: DatasetCommitment) -> bool:
        """Keep the model's dataset commitment; True when written now, False when it was already
        this one. A different one is refused: a model's data never changes."""
        if self.dataset_path.is_file():  # a malformed file is refused, never replaced
            old = self.dataset()
            differ = [k for k, v in commitment.to_dict().items()
                      if k != "source" and _bound(v) != _bound(old.to_dict()[k])]
            if not differ:
                return False
            raise InputError(f"{self.dataset_path} already commits to other data ({', '.join(differ)} differ: root "
                             f"{old.root} there, {commitment.root} here)", path=str(self.dataset_path),
                             hint="a registered model's data cannot change: make a new workspace with 'zkgrad model init'")
        commitment.save(self.dataset_path)
        return True

    # --- steps ---------------------------------------------------------------------------
    def step_dir(self, version: int) -> Path:
        return self.steps_dir / f"{version:06d}"

    def discard_partial_steps(self) -> None:
        """Remove what a killed run left of the step folders it was building (their staging folders)."""
        if self.steps_dir.is_dir():
            fsio.sweep_stale(self.steps_dir)

    def step_summaries(self) -> list[StepSummary]:
        """The summary of each proven step on disk, in version order."""
        return [StepSummary.load(d) for d in sorted(self.steps_dir.glob("[0-9]" * 6)) if (d / STEP_JSON).is_file()]

    def checkpoint_for(self, commitment: bytes) -> Checkpoint | None:
        """The local checkpoint with this commitment (genesis or a proven step's), if any."""
        g = self.genesis()
        if g.commitment == commitment:
            return g
        for d in sorted(self.steps_dir.glob("[0-9]" * 6), reverse=True):
            ck = d / "checkpoint" / "checkpoint.json"
            if ck.is_file() and _records(ck, "checkpoint").get("commitment") == "0x" + commitment.hex():
                return Checkpoint.load(d / "checkpoint")
        return None

    # --- the training run: which data and batch order ----------------------------------
    def record_run(self, data: str, seed: int) -> None:
        """Steps are only meaningful with their data and batch seed: a run keeps them fixed."""
        info = {"data": data, "seed": seed}
        if self.run_path.is_file():
            old = self.run_info()
            if old != info and self.step_summaries():
                raise InputError(f"{self.root} was trained on {old['data']} with seed {old['seed']}",
                                 hint="resume with the same --data and --seed, or use a new workspace")
        fsio.write_json(self.run_path, info)

    def run_info(self) -> dict[str, Any]:
        run = _records(self.run_path, "run record") if self.run_path.is_file() else {"data": "digits", "seed": 0}
        if not isinstance(run.get("data"), str) or not isinstance(run.get("seed"), int):
            raise InputError(f"{self.run_path} does not name the run's data and seed", hint=_RESTORE,
                             path=str(self.run_path))
        return run

    # --- chain ---------------------------------------------------------------------------
    def deployment(self, chain_id: int) -> dict[str, Any] | None:
        """The model's record on this chain (registry, model id, verifiers), checked: the file may be hand-edited."""
        from ..node import checksum_address

        rec = _records(self.chain_path, "chain record").get(str(chain_id))
        if rec is None:
            return None
        try:
            return {**rec, "model_id": int(rec["model_id"]),
                    "registry": checksum_address(rec["registry"], what=f"the registry in {self.chain_path}")}
        except (KeyError, TypeError, ValueError) as e:
            why = e.message if isinstance(e, InputError) else f"no valid {e}" if isinstance(e, KeyError) else str(e)
            raise InputError(f"{self.chain_path}, chain {chain_id}: {why}", hint=_RESTORE, path=str(self.chain_path)) from None

    def record_deployment(self, chain_id: int, record: dict[str, Any]) -> None:
        data = _records(self.chain_path, "chain record")
        data[str(chain_id)] = record
        fsio.write_json(self.chain_path, data)

    def registering(self, chain_id: int) -> dict[str, Any]:
        """What an unfinished registration on this chain has done so far (empty when none)."""
        data = _records(self.registering_path, "registration progress")
        return dict(data.get(str(chain_id)) or {})

    def record_registering(self, chain_id: int, progress: dict[str, Any] | None) -> None:
        """Record a registration's progress before and after each of its transactions; None: done."""
        data = _records(self.registering_path, "registration progress")
        if progress is None:
            data.pop(str(chain_id), None)
        else:
            data[str(chain_id)] = progress
        if data:
            fsio.write_json(self.registering_path, data)
        else:
            self.registering_path.unlink(missing_ok=True)


def _bound(v: object) -> object:
    """What a dataset field binds: a held-out set without its source name (paths differ by machine)."""
    return {k: x for k, x in v.items() if k != "source"} if isinstance(v, dict) else v


_RESTORE = "zkgrad writes this file: restore it, or delete it to start that record anew"


def _records(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from one of the workspace's record files, refused with one line when hand-edited
    into something else."""
    data = fsio.read_json(path, what) if path.is_file() else {}
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a {what} (a JSON object)", hint=_RESTORE, path=str(path))
    return data
