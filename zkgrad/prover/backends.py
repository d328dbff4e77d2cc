"""Prover backends: the CPU ezkl wheel, or an ezkl built with its GPU (icicle) feature.

Both wheels install the same Python module, ``ezkl``; they differ by distribution name
(``ezkl`` or ``ezkl-gpu``) and by what the native library links. Nothing in ``dir(ezkl)`` says
which build is loaded, so :func:`ezkl_build` looks at the distribution that owns the module and
at the native library itself (a GPU build carries the icicle crates and their environment
switches, ``ENABLE_ICICLE_GPU`` in 16.x and ``ICICLE_BACKEND_INSTALL_DIR`` in later releases;
the CPU wheel carries neither string).

Keys, proofs and verifiers must come from one ezkl release: :func:`check_build` refuses to prove
for a circuit whose manifest records another ezkl version than the one loaded here
(``zkgrad.prover.prove.prove_witness``, through which every proof is made, calls it).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import mmap
import os
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

from .. import engine
from ..circuits.artifacts import Circuit
from ..devices import cuda_devices
from ..errors import BackendUnavailableError, InputError, ProverError

Device = Literal["auto", "cpu", "gpu"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "gpu")

# markers of ezkl's GPU feature inside its native library (absent from the CPU wheel)
_GPU_MARKERS = (b"icicle", b"ENABLE_ICICLE_GPU", b"ICICLE_BACKEND_INSTALL_DIR")


@dataclass(frozen=True)
class EzklBuild:
    """The ezkl build this process loads."""

    version: str
    """The release, as the module reports it (``ezkl.__version__``) or its distribution does."""
    distribution: str
    """``ezkl`` (the CPU wheel) or ``ezkl-gpu`` (the GPU wheel), as pip installed it."""
    library: Path | None
    """The native library (``ezkl/ezkl*.so``) that was inspected."""
    gpu: bool
    """True when the library was built with ezkl's GPU (icicle) feature."""
    env_switch: str | None
    """The variable that turns the GPU on at run time for this build, when it is a GPU build."""


@lru_cache(maxsize=1)
def ezkl_build() -> EzklBuild:
    """Identify the loaded ezkl build (cached: it cannot change inside a process)."""
    dists = importlib.metadata.packages_distributions().get("ezkl", [])
    dist = "ezkl-gpu" if any(d.lower().replace("_", "-") == "ezkl-gpu" for d in dists) else (dists[0] if dists else "ezkl")
    version = engine.EZKL_VERSION
    try:
        version = str(getattr(engine.ezkl, "__version__", "")) or importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    lib = _native_library()
    found = _markers_in(lib) if lib else set()
    gpu = dist == "ezkl-gpu" or bool(found)
    switch = None
    if gpu:
        switch = "ICICLE_BACKEND_INSTALL_DIR" if b"ICICLE_BACKEND_INSTALL_DIR" in found else "ENABLE_ICICLE_GPU"
    return EzklBuild(version=version, distribution=dist, library=lib, gpu=gpu, env_switch=switch)


def _native_library() -> Path | None:
    spec = importlib.util.find_spec("ezkl")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        libs = sorted(Path(folder).glob("ezkl*.so")) + sorted(Path(folder).glob("ezkl*.pyd"))
        if libs:
            return libs[0]
    return None


def _markers_in(lib: Path) -> set[bytes]:
    try:
        with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return {marker for marker in _GPU_MARKERS if m.find(marker) != -1}
    except (OSError, ValueError):
        return set()


def check_build(circuit: Circuit) -> None:
    """Refuse to prove with another ezkl release than the one that made the circuit's keys."""
    made_with = str(circuit.manifest.get("ezkl", ""))
    here = ezkl_build()
    if made_with and made_with != here.version:
        raise ProverError(
            f"circuit {circuit.key[:16]} was set up with ezkl {made_with}, but this prover loads "
            f"{here.distribution} {here.version}",
            hint=f"install ezkl=={made_with} on this prover, or recompile the circuit with ezkl {here.version} "
                 "(keys, proofs and the verifier must come from one ezkl release)",
            circuit=circuit.key, circuit_ezkl=made_with, prover_ezkl=here.version, distribution=here.distribution,
        )


class Backend(ABC):
    """A device ezkl proves on; ``zkgrad.prover.prove.prove_witness`` makes the proof with it."""

    name: str

    @abstractmethod
    def available(self) -> bool:
        """Whether this backend can prove on this machine."""

    def unavailable_reason(self) -> str:
        """Why ``available()`` is false (empty when it is true)."""
        return ""

    @contextmanager
    def device(self) -> Iterator[None]:
        """Around one ezkl prove: whatever switches this build onto its device
        (``zkgrad.prover.prove.prove_witness`` is the one caller)."""
        yield


class CpuBackend(Backend):
    """The ezkl wheel on the CPU (multi-threaded: it uses every core)."""

    name = "cpu"

    def available(self) -> bool:
        return True


class GpuBackend(Backend):
    """ezkl built with its GPU feature (icicle, CUDA). Not yet run on a real GPU in this project."""

    name = "gpu"

    def available(self) -> bool:
        return not self.unavailable_reason()

    def unavailable_reason(self) -> str:
        build = ezkl_build()
        if not build.gpu:
            return f"the loaded ezkl ({build.distribution} {build.version}) is the CPU build"
        if cuda_devices() == 0:
            return "no CUDA device is visible (nvidia-smi / torch.cuda)"
        if build.env_switch == "ICICLE_BACKEND_INSTALL_DIR" and not os.environ.get("ICICLE_BACKEND_INSTALL_DIR"):
            return "ICICLE_BACKEND_INSTALL_DIR is not set (install icicle's CUDA backend with ezkl's setup-gpu.sh)"
        return ""

    @contextmanager
    def device(self) -> Iterator[None]:
        # ezkl 16.x reads ENABLE_ICICLE_GPU (it must be unset, not "false", to turn it off);
        # later builds pick CUDA when ICICLE_BACKEND_INSTALL_DIR is set, checked in available().
        switch = ezkl_build().env_switch
        if switch != "ENABLE_ICICLE_GPU":
            yield
            return
        old = os.environ.get(switch)
        os.environ[switch] = "true"
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(switch, None)
            else:
                os.environ[switch] = old


class BackendChoice(NamedTuple):
    """What :func:`select_backend` picked, and a one-line notice when it fell back."""

    backend: Backend
    notice: str | None


def gpu_hint() -> str:
    return ("a GPU prover needs an ezkl build with its GPU feature of the circuit's ezkl release "
            "(see docs/PROVING_POOL.md) and a CUDA device; or use --device cpu")


def select_backend(device: str = "auto") -> BackendChoice:
    """``auto``: the GPU when the GPU build and a CUDA device are both present, else the CPU with a
    notice. ``gpu``: the GPU or BackendUnavailableError. ``cpu``: the CPU."""
    if device not in DEVICES:
        raise InputError(f"unknown device '{device}'", hint="use one of: auto, cpu, gpu", device=device)
    if device == "cpu":
        return BackendChoice(CpuBackend(), None)
    gpu = GpuBackend()
    reason = gpu.unavailable_reason()
    if not reason:
        return BackendChoice(gpu, None)
    if device == "gpu":
        raise BackendUnavailableError(f"the GPU prover is not available: {reason}", hint=gpu_hint(),
                                      backend="gpu", reason=reason)
    return BackendChoice(CpuBackend(), f"proving on the CPU: {reason}")
