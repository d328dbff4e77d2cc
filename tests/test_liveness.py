"""No step can halt a model, and a reorganisation loses nothing and counts nothing twice. Real
anvil, real ezkl proofs, the real compiled step verifier.

- A model whose every quantized update rounds to zero (after == before) moves on by proven steps:
  the registry accepts a repeated state as a new version (it used to refuse it for good), and
  ``train`` reports each step accepted at the version the chain holds, never "landed before a
  restart".
- A reorganisation that drops accepted updates mid-run (``anvil_rollback``): the loop sees the head
  move back, re-submits its own still-valid proofs (without proving them again) and reports each
  version once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from zkgrad.chain.registry import Registry
from zkgrad.circuits.model_circuits import ModelCircuits
from zkgrad.cli.output import Output
from zkgrad.cli.train_cmds import _on_accepted
from zkgrad.model.dataset import commit_dataset
from zkgrad.model.spec import ModelSpec
from zkgrad.node import account, connect
from zkgrad.prover.step import PendingStep, StepProof
from zkgrad.train.loop import serial_prover, train
from zkgrad.train.register import ensure_registry, register
from zkgrad.train.submit import SENT
from zkgrad.train.workspace import Workspace

from .conftest import TINY_SPEC
from .helpers import copy_workspace

pytestmark = [pytest.mark.proof, pytest.mark.chain]


def _rpc(w3, method: str, *params):  # type: ignore[no-untyped-def]
    return w3.provider.make_request(method, list(params))


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory, tiny_dataset, zkgrad_home) -> Workspace:  # type: ignore[no-untyped-def]
    """The tiny MLP with a learning rate so small that every update rounds to zero at scale 10."""
    spec = ModelSpec(**{**TINY_SPEC, "lr": 1e-5, "scale": 10})  # type: ignore[arg-type]
    folder = tmp_path_factory.mktemp("frozen")
    ws = Workspace.create(folder / "model", spec)
    ws.compile(tiny_dataset)
    np.savez(folder / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    ws.record_dataset(commit_dataset(spec, tiny_dataset, source=str(folder / "data.npz"), seed=0, n_batches=8))
    return ws


def test_a_step_that_changes_nothing_moves_the_model_on(frozen, tiny_dataset, anvil, capsys) -> None:  # type: ignore[no-untyped-def]
    reg = ensure_registry(connect(anvil.rpc_url))
    mid = int(register(frozen, reg)["model_id"])
    genesis = reg.head(mid)
    accepted = train(frozen, tiny_dataset, reg, mid, steps=2, seed=0, on_accepted=_on_accepted(Output(False)))
    assert [(a.version, a.resumed, a.taken_by) for a in accepted] == [(1, False, None), (2, False, None)]
    assert all(a.gas_used > 0 and a.tx_hash for a in accepted)
    assert reg.version(mid) == 2 and reg.head(mid) == genesis  # the state never changed; the version did
    history = reg.history(mid)
    assert [(r.version, r.before, r.after) for r in history] == [(1, genesis, genesis), (2, genesis, genesis)]
    me = account(reg.w3).address
    assert [reg.update_at(mid, v).prover for v in (1, 2)] == [me, me]  # type: ignore[union-attr]
    shown = capsys.readouterr()
    assert "landed before a restart" not in shown.out + shown.err
    # rerun: nothing to do, nothing reported as accepted again
    assert train(frozen, tiny_dataset, reg, mid, steps=2, seed=0) == []


def test_a_reorg_that_drops_accepted_updates_loses_nothing(tiny_workspace, tiny_dataset, anvil,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    ws = copy_workspace(tiny_workspace, tmp_path / "model")
    reg: Registry = ensure_registry(connect(anvil.rpc_url))
    mid = int(register(ws, reg)["model_id"])
    proven: list[int] = []
    reorged: list[int] = []

    def counting(circuits: ModelCircuits, pendings: list[PendingStep]) -> Iterator[StepProof]:
        for sp in serial_prover(circuits, pendings):
            proven.append(sp.summary.version)
            yield sp

    def drop_two(a) -> None:  # type: ignore[no-untyped-def]
        if a.version == 2 and not reorged:  # the chain forgets both accepted updates
            reorged.append(reg.version(mid))
            assert _rpc(reg.w3, "anvil_rollback", 2).get("error") is None
            assert reg.version(mid) == 0

    accepted = train(ws, tiny_dataset, reg, mid, steps=3, seed=0, prover=counting, on_accepted=drop_two)
    assert reorged == [2]
    assert [a.version for a in accepted] == [1, 2, 3]  # each version once, by what the chain holds
    assert proven == [1, 2, 3]  # the dropped steps were re-submitted, not proven again
    history = reg.history(mid)
    assert [r.version for r in history] == [1, 2, 3] and reg.version(mid) == 3
    assert all(r.before == p.after for p, r in zip(history, history[1:]))
    assert [a.tx_hash for a in accepted] == [r.tx_hash for r in history]
    # the first submission of step 1 was dropped: its journal holds both transactions
    assert len(_journal(ws.step_dir(1) / SENT)) == 2


def _journal(path: Path) -> list[str]:
    import json

    return list(json.loads(path.read_text())["tx_hashes"])
