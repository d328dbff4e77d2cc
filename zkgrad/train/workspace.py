"""A model workspace: the spec, its genesis, its circuits, its proven steps and where it lives on chain.

    spec.json                 the model spec
    genesis/                  version 0 checkpoint
    circuits/step, answer/    the two circuits (content-addressed)
    steps/000001/ ...         one folder per proven step (zkgrad.prover.step)
    chain.json                per chain id: registry, model id, verifier addresses
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import fsio
from ..circuits.checkpoint import Checkpoint, genesis
from ..circuits.model_circuits import ModelCircuits, compile_circuits
from ..circuits.spec import ModelSpec
from ..errors import InputError, MissingFileError
from ..progress import Reporter


@dataclass(frozen=True)
class Workspace:
    root: Path

    spec_path = property(lambda self: self.root / "spec.json")
    genesis_dir = property(lambda self: self.root / "genesis")
    circuits_dir = property(lambda self: self.root / "circuits")
    steps_dir = property(lambda self: self.root / "steps")
    chain_path = property(lambda self: self.root / "chain.json")
    run_path = property(lambda self: self.root / "run.json")

    @classmethod
    def create(cls, root: Path | str, spec: ModelSpec) -> "Workspace":
        """Write the spec and its genesis; an existing workspace must hold the same spec."""
        ws = cls(Path(root))
        if ws.spec_path.is_file():
            if ModelSpec.load(ws.spec_path) != spec:
                raise InputError(f"{ws.root} already holds a different model spec",
                                 hint="choose another folder, or remove it")
            return ws
        spec.save(ws.spec_path)
        genesis(spec).save(ws.genesis_dir)
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
        return ModelCircuits.open(self.spec, self.circuits_dir)

    def compile(self, sample: tuple[np.ndarray, np.ndarray], *, srs: Path | None = None,
                reporter: Reporter | None = None) -> tuple[ModelCircuits, bool]:
        return compile_circuits(self.spec, self.genesis(), sample, out=self.circuits_dir, srs=srs, reporter=reporter)

    # --- steps ---------------------------------------------------------------------------
    def step_dir(self, version: int) -> Path:
        return self.steps_dir / f"{version:06d}"

    def step_summaries(self) -> list[dict[str, Any]]:
        out = []
        for d in sorted(self.steps_dir.glob("[0-9]" * 6)):
            if (d / "step.json").is_file():
                out.append(json.loads((d / "step.json").read_text()))
        return out

    def checkpoint_for(self, commitment: bytes) -> Checkpoint | None:
        """The local checkpoint with this commitment (genesis or a proven step's), if any."""
        g = self.genesis()
        if g.commitment == commitment:
            return g
        for d in sorted(self.steps_dir.glob("[0-9]" * 6), reverse=True):
            ck = d / "checkpoint" / "checkpoint.json"
            if ck.is_file() and json.loads(ck.read_text()).get("commitment") == "0x" + commitment.hex():
                return Checkpoint.load(d / "checkpoint")
        return None

    # --- the training run: which data and batch order ----------------------------------
    def record_run(self, data: str, seed: int) -> None:
        """Steps are only meaningful with their data and batch seed: a run keeps them fixed."""
        info = {"data": data, "seed": seed}
        if self.run_path.is_file():
            old = json.loads(self.run_path.read_text())
            if old != info and self.step_summaries():
                raise InputError(f"{self.root} was trained on {old['data']} with seed {old['seed']}",
                                 hint="resume with the same --data and --seed, or use a new workspace")
        fsio.write_json(self.run_path, info)

    def run_info(self) -> dict[str, Any]:
        if self.run_path.is_file():
            return dict(json.loads(self.run_path.read_text()))
        return {"data": "digits", "seed": 0}

    # --- chain ---------------------------------------------------------------------------
    def deployment(self, chain_id: int) -> dict[str, Any] | None:
        if not self.chain_path.is_file():
            return None
        return json.loads(self.chain_path.read_text()).get(str(chain_id))

    def record_deployment(self, chain_id: int, record: dict[str, Any]) -> None:
        data = json.loads(self.chain_path.read_text()) if self.chain_path.is_file() else {}
        data[str(chain_id)] = record
        fsio.write_json(self.chain_path, data)
