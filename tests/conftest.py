"""Shared pytest fixtures. Each section belongs to one part of zkgrad; add yours below."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3  # noqa: E402

# --- chain: a real anvil node and a web3 connection to it ------------------------------
from zkgrad.chain.anvil import ChainInfo, anvil_node
from zkgrad.node import connect


@pytest.fixture(scope="session")
def anvil() -> Iterator[ChainInfo]:
    """One private anvil (chain id 31337) for the whole session; mark users with ``chain``."""
    with anvil_node() as info:
        yield info


@pytest.fixture
def w3(anvil: ChainInfo) -> Web3:
    """A Web3 connected to the session's anvil."""
    return connect(anvil.rpc_url)


# --- isolation: a private ZKGRAD_HOME (SRS cache, circuits, chain state) per session ---
@pytest.fixture(scope="session", autouse=True)
def zkgrad_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    import os

    home = tmp_path_factory.mktemp("zkgrad-home")
    old = os.environ.get("ZKGRAD_HOME")
    os.environ["ZKGRAD_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("ZKGRAD_HOME", None)
    else:
        os.environ["ZKGRAD_HOME"] = old


# --- circuits: one tiny inference circuit, compiled once per session ----------------
@pytest.fixture(scope="session")
def tiny_model():  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return net, torch.randn(1, 4)


@pytest.fixture(scope="session")
def tiny_circuit(tmp_path_factory: pytest.TempPathFactory, tiny_model, zkgrad_home):  # type: ignore[no-untyped-def]
    """(folder, Circuit) for a 4-8-3 MLP with public input and output, on a dev SRS."""
    from zkgrad.circuits.compile import compile_model
    from zkgrad.circuits.export import export_module, sample_json
    from zkgrad.verifier.solidity import build_verifier

    net, x = tiny_model
    d = tmp_path_factory.mktemp("tiny")
    export_module(net, x, d / "net.onnx")
    (d / "input.json").write_text(__import__("json").dumps(sample_json(x)))
    circuit, reused = compile_model(d / "net.onnx", d / "input.json", out=d / "circuit", verifier=build_verifier)
    assert not reused
    return d, circuit


@pytest.fixture(scope="session")
def tiny_proof(tiny_circuit):  # type: ignore[no-untyped-def]
    from zkgrad.prover.prove import prove

    d, circuit = tiny_circuit
    return prove(circuit, d / "input.json", out=d / "proof.json")


# --- a tiny trainable model: workspace with compiled step and answer circuits ---------
TINY_SPEC = dict(factory="zkgrad.models:tiny_mlp", loss="mse", lr=0.25, batch_size=2, input_shape=(4,),
                 target_shape=(3,), scale=12, seed=3)


@pytest.fixture(scope="session")
def tiny_dataset():  # type: ignore[no-untyped-def]
    import numpy as np

    from zkgrad.model.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(16, 4))
    return Dataset(x, np.tanh(x[:, :3] * 0.5 + 0.1), None)


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory, tiny_dataset, zkgrad_home):  # type: ignore[no-untyped-def]
    """A compiled workspace for a 4-8-3 MLP (MSE, batch 2) whose committed data is ``tiny_dataset``
    (its 8 batches of seed 0, saved as data.npz beside it); tests that add steps copy it first."""
    import numpy as np

    from zkgrad.model.dataset import commit_dataset
    from zkgrad.model.spec import ModelSpec
    from zkgrad.train.workspace import Workspace

    spec = ModelSpec(**TINY_SPEC)  # type: ignore[arg-type]
    folder = tmp_path_factory.mktemp("tiny-ws")
    ws = Workspace.create(folder / "model", spec)
    ws.compile(tiny_dataset)  # calibrated on the committed data's schedule: an audit rebuilds it the same
    np.savez(folder / "data.npz", x=tiny_dataset.x, y=tiny_dataset.labels)
    ws.record_dataset(commit_dataset(spec, tiny_dataset, source=str(folder / "data.npz"), seed=0, n_batches=8))
    return ws


# --- tiers: a test that uses a real chain or compiled circuits is in that tier, marked or not ---
PROOF_FIXTURES = frozenset({"tiny_circuit", "tiny_proof", "tiny_workspace"})
CHAIN_FIXTURES = frozenset({"anvil", "w3"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by fixture: the fast tier (no chain, no proof) then holds only tests that need neither."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & PROOF_FIXTURES:
            item.add_marker(pytest.mark.proof)
        if used & CHAIN_FIXTURES:
            item.add_marker(pytest.mark.chain)
