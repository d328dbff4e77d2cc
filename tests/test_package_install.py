"""A non-editable ``pip install .`` is a working zkgrad: from a fresh virtual environment, outside
the repository, with no solc anywhere, its ``zkgrad`` command deploys a registry, registers a
model, proves and submits a training step and reads the history against anvil; an audit, which
rebuilds the verifiers, asks for solc in one line.

The fresh venv sees the test environment's dependencies through a .pth file (no downloads), and
zkgrad itself is built as a wheel from a copy of the sources and installed into it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkgrad.model.data import batch

from .conftest import TINY_SPEC
from .helpers import copy_workspace

pytestmark = [pytest.mark.chain, pytest.mark.proof]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("install")
    src = root / "src"  # the build writes build/ and *.egg-info next to pyproject: keep them out of the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, src / name)
    shutil.copytree(REPO / "zkgrad", src / "zkgrad", ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies of this environment, after the venv's own site-packages (where zkgrad goes)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-build-isolation", "--no-index", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": root, "venv": venv, "site": site, "python": python}


def _env(installed: dict[str, Path], home: Path) -> dict[str, str]:
    nowhere = installed["root"] / "nowhere"
    nowhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKGRAD_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=str(installed["venv"] / "bin"), HOME=str(home), ZKGRAD_HOME=str(home / ".zkgrad"),
               ZKGRAD_TOOLS=str(nowhere), ZKGRAD_SOLC=str(nowhere / "solc"), ZKGRAD_ANVIL=str(nowhere / "anvil"))
    return env


def _zkgrad(installed: dict[str, Path], home: Path, *args: Any) -> Any:
    done = subprocess.run([str(installed["venv"] / "bin" / "zkgrad"), *map(str, args), "--json"], cwd=home,
                          env=_env(installed, home), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"zkgrad {' '.join(map(str, args))}: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


def test_installed_package_is_imported_from_the_venv_with_its_contracts(installed: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    code = ("import zkgrad, zkgrad.contracts as c; print(zkgrad.__file__); print(c.build_file()); "
            "print(sorted(p.name for p in c.sources_dir().glob('*.sol')))")
    done = subprocess.run([str(installed["python"]), "-c", code], cwd=tmp_path, env=_env(installed, tmp_path),
                          capture_output=True, text=True, check=True)
    module, build, sources = done.stdout.splitlines()
    assert Path(module).is_relative_to(installed["site"]) and Path(build).is_file()
    assert Path(build).read_text() == (REPO / "zkgrad" / "contracts" / "build.json").read_text()
    assert sources == str(["Bounties.sol", "IVerifier.sol", "InstanceLayout.sol", "ModelBook.sol", "VkaVerifier.sol",
                           "ZkgradRegistry.sol"])


def test_installed_zkgrad_runs_a_registry_without_solc(installed: dict[str, Path], tiny_workspace, tiny_dataset,  # type: ignore[no-untyped-def]
                                                       anvil, zkgrad_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    ws = copy_workspace(tiny_workspace, home / "model")
    x, y = batch(tiny_dataset, TINY_SPEC["batch_size"], 0, 0)
    np.savez(home / "batch.npz", x=x, y=y)
    rpc = ["--rpc", anvil.rpc_url]

    registry = _zkgrad(installed, home, "registry", "deploy", *rpc)["registry"]
    on = [*rpc, "--registry", registry]
    model_id = _zkgrad(installed, home, "register", ws.root, *on)["model_id"]
    step = _zkgrad(installed, home, "prove", "step", "--model", ws.root, "--checkpoint", ws.genesis_dir,
                   "--batch", home / "batch.npz", "--out", ws.step_dir(1), "--model-id", model_id, *on)
    submitted = _zkgrad(installed, home, "submit", "update", ws.step_dir(1), "--model-id", model_id, *on)
    assert submitted["version"] == 1
    history = _zkgrad(installed, home, "history", model_id, *on)
    assert [u["version"] for u in history["updates"]] == [1]
    assert history["updates"][0]["after"] == step["after"]
    # an audit rebuilds the verifiers, which needs solc: without one it says so in one line
    done = subprocess.run([str(installed["venv"] / "bin" / "zkgrad"), "audit", str(model_id), *on, "--srs-dir",
                           str(zkgrad_home / "srs")], cwd=home, env=_env(installed, home), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 1 and "solc" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
