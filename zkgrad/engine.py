"""The one typed, keyword-only wrapper over ezkl's Python bindings.

Every ezkl call in zkgrad goes through here, so that:
- ezkl's ``RuntimeError("Failed to ...")`` becomes a zkgrad error carrying the stage and paths;
- its async calls are awaited here and nowhere else (an un-awaited coroutine is truthy);
- what ezkl prints (on stdout, and its Rust log: the "Numerical Fidelity Report" table, "Reusable
  verifier support is experimental", SRS and timing notices) stays off the terminal unless
  ``ZKGRAD_DEBUG=1`` (``--debug``), which sends it to stderr, keeping ``--json`` output clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import ezkl

from .errors import CircuitError, ProverError, UnsupportedOperatorError, ZkgradError

EZKL_VERSION: str = getattr(ezkl, "__version__", "23.0.5")

T = TypeVar("T")
_stdout_lock = threading.Lock()


def _debug() -> bool:
    return os.environ.get("ZKGRAD_DEBUG") == "1"


class _EzklLog(logging.Handler):
    """ezkl's Rust log reaches Python logging (pyo3-log) as the ``ezkl.*`` loggers; printed only
    while debugging (read per record, so ``--debug`` in one command does not leak into the next)."""

    def emit(self, record: logging.LogRecord) -> None:
        if _debug():
            try:
                sys.stderr.write(f"ezkl {record.levelname.lower()}: {record.getMessage()}\n")
            except Exception:  # noqa: BLE001 - a closed stderr must not fail the ezkl call
                self.handleError(record)


_ezkl_log = logging.getLogger("ezkl")
_ezkl_log.setLevel(logging.INFO)  # fixed: pyo3-log caches each logger's level at its first record
_ezkl_log.propagate = False  # not Python's last-resort handler, which prints warnings to stderr
_ezkl_log.addHandler(_EzklLog())


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """ezkl (Rust) prints tables to fd 1: drop them, or send them to stderr with ZKGRAD_DEBUG=1."""
    try:
        sys.stdout.flush()
        out_fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no real stdout (captured): nothing to redirect
        yield
        return
    with _stdout_lock:
        saved = os.dup(out_fd)
        sink = os.dup(sys.stderr.fileno()) if _debug() else os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(sink, out_fd)
            yield
        finally:
            os.dup2(saved, out_fd)
            os.close(saved)
            os.close(sink)


_OP_PATTERNS = (
    re.compile(r"unsupported operation[:\s]+\"?([A-Za-z0-9_]+)", re.I),
    re.compile(r"op(?:erator)? ([A-Z][A-Za-z0-9]+) is not supported", re.I),
    re.compile(r"unknown op(?:erator)?[:\s]+\"?([A-Za-z0-9_]+)", re.I),
)


def _translate(err: BaseException, stage: str, error: type[ZkgradError], **paths: Any) -> ZkgradError:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    for pat in _OP_PATTERNS:
        m = pat.search(str(err))
        if m:
            return UnsupportedOperatorError(m.group(1), detail=text)
    panicked = not isinstance(err, Exception)
    hint = ("ezkl cannot lay out this model: see docs/OPERATORS.md for what it compiles"
            if panicked or "synthesis error" in text.lower() else None)
    return error(f"ezkl {stage} failed: {'ezkl crashed: ' if panicked else ''}{text}", hint=hint, stage=stage,
                 **{k: str(v) for k, v in paths.items()})


def _call(stage: str, error: type[ZkgradError], fn: Callable[..., T], *args: Any, **paths: Any) -> T:
    try:
        with _stdout_to_stderr():
            return fn(*args)
    except (ZkgradError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # bare Exceptions, and pyo3's PanicException (a BaseException) when ezkl panics
        raise _translate(e, stage, error, **paths) from e


def _await(make: Callable[[], Any]) -> Any:
    """Call an async ezkl function inside a private event loop and await its result.
    ezkl needs the loop running when the call is made, not only when it is awaited."""

    async def _wrap() -> Any:
        res = make()
        if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
            return await res
        return res

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_wrap())
    result: dict[str, Any] = {}

    def _runner() -> None:  # already inside a loop (e.g. a notebook): use a thread
        try:
            result["v"] = asyncio.run(_wrap())
        except BaseException as e:  # noqa: BLE001 - re-raised below
            result["e"] = e

    t = threading.Thread(target=_runner)
    t.start()
    t.join()
    if "e" in result:
        raise result["e"]
    return result.get("v")


def run_args(**fields: Any) -> "ezkl.PyRunArgs":
    ra = ezkl.PyRunArgs()
    for k, v in fields.items():
        if v is not None:
            setattr(ra, k, v)
    return ra


# --- circuit ---------------------------------------------------------------------------
def gen_settings(*, model: Path, settings: Path, args: "ezkl.PyRunArgs") -> None:
    _call("gen_settings", CircuitError, lambda: ezkl.gen_settings(str(model), str(settings), py_run_args=args), model=model)


def calibrate(
    *,
    data: Path,
    model: Path,
    settings: Path,
    target: str,
    scales: Sequence[int] | None,
    rebase_multipliers: Sequence[int] | None,
    max_logrows: int | None,
    lookup_safety_margin: float,
) -> None:
    _call(
        "calibrate_settings",
        CircuitError,
        lambda: ezkl.calibrate_settings(
            str(data),
            str(model),
            str(settings),
            target,
            lookup_safety_margin,
            list(scales) if scales else None,
            list(rebase_multipliers) if rebase_multipliers else [1, 2, 10],
            max_logrows,
        ),
        model=model,
    )


def compile_circuit(*, model: Path, compiled: Path, settings: Path) -> None:
    _call("compile_circuit", CircuitError, lambda: ezkl.compile_circuit(str(model), str(compiled), str(settings)), model=model)


def gen_srs(*, path: Path, logrows: int) -> None:
    _call("gen_srs", CircuitError, lambda: ezkl.gen_srs(str(path), logrows), path=path)


def setup(*, compiled: Path, vk: Path, pk: Path, srs: Path) -> None:
    ok = _call(
        "setup",
        CircuitError,
        lambda: ezkl.setup(str(compiled), str(vk), str(pk), str(srs), None, False),
        compiled=compiled,
    )
    if ok is False:
        raise CircuitError("ezkl setup returned failure", hint="re-run with --debug")


# --- prover ----------------------------------------------------------------------------
def gen_witness(*, data: Path, compiled: Path, out: Path) -> dict[str, Any]:
    return _call(
        "gen_witness",
        ProverError,
        lambda: ezkl.gen_witness(str(data), str(compiled), str(out), None, None),
        data=data,
    )


def mock(*, witness: Path, compiled: Path) -> tuple[bool, str]:
    """(satisfied, the first failure): every constraint and lookup of the circuit checked on the
    witness, without a proof. As costly as synthesizing the circuit (seconds at logrows 17)."""
    try:
        with _stdout_to_stderr():
            ezkl.mock(str(witness), str(compiled))
        return True, ""
    except Exception as e:  # noqa: BLE001 - ezkl reports an unsatisfied circuit by raising
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return False, next((ln for ln in lines if "not satisfied" in ln), lines[0] if lines else "unsatisfied")


PROVE_STALL_S = 120.0
"""A prover that uses no CPU for this long has stopped: killed and reported (``ZKGRAD_PROVE_STALL_S``)."""


def prove_stall_s() -> float:
    """The stall period in force: ``ZKGRAD_PROVE_STALL_S`` when set, else :data:`PROVE_STALL_S`."""
    text = os.environ.get("ZKGRAD_PROVE_STALL_S", "")
    try:
        return float(text) if text else PROVE_STALL_S
    except ValueError:
        raise ProverError(f"ZKGRAD_PROVE_STALL_S={text!r} is not a number of seconds", hint="e.g. 120") from None


def prove(*, witness: Path, compiled: Path, pk: Path, proof: Path, srs: Path, what: str = "the proof",
          stall_s: float | None = None) -> None:
    """ezkl prove, in a child process watched by :func:`zkgrad.watchdog.run_watched`.

    ezkl 23 can wait forever, its threads only polling, instead of failing (a witness outside the
    circuit's lookup tables does it): a child that uses almost no CPU for ``stall_s`` seconds is killed
    and reported as a ProverError naming ``what``. Ctrl-C stops the child too."""
    from .watchdog import Stalled, run_watched

    stall = prove_stall_s() if stall_s is None else stall_s
    with tempfile.TemporaryDirectory(prefix="zkgrad-prove-") as tmp:
        err, log = Path(tmp) / "error.txt", Path(tmp) / "stderr.txt"
        args = [str(witness), str(compiled), str(pk), str(proof), str(srs), str(err)]
        try:
            with open(log, "wb") as sink:  # the child's stderr (a Rust panic, a Python traceback): kept for the error
                rc = run_watched([sys.executable, "-m", __name__, "prove", *args], stall_s=stall, env=_child_env(),
                                 stderr=None if _debug() else sink)
        except Stalled as e:
            raise ProverError(
                f"ezkl prove of {what} stopped making progress (no CPU time for {e.stall_s:.0f} s) and was stopped",
                hint="ezkl waits like this on a witness outside the circuit's lookup ranges: recompile the model "
                     "for the run (zkgrad model compile --steps N --margin M); on a very slow machine raise "
                     "ZKGRAD_PROVE_STALL_S", stage="prove", what=what, stall_s=e.stall_s, witness=str(witness)) from None
        if rc == 0:
            return
        text = err.read_text().strip() if err.is_file() else ""
        said = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                if ln.strip() and not ln.startswith("note: ")]  # Rust's "note: run with RUST_BACKTRACE=1"
    if text:
        raise ProverError(f"ezkl prove of {what} failed: {text}", stage="prove", what=what, witness=str(witness))
    why = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
    raise ProverError(f"ezkl prove of {what} {why}" + (f": {said[-1]}" if said else ""),
                      hint="out of memory? a large proving key needs several GB; re-run with ZKGRAD_DEBUG=1 to see "
                      "its output", stage="prove", what=what, returncode=rc)


def _child_env() -> dict[str, str]:
    """This process's environment, with this zkgrad importable first (it may not be installed)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _prove_child(witness: str, compiled: str, pk: str, proof: str, srs: str, err: str) -> int:
    """The child's side of :func:`prove`: the ezkl call, its failure written to ``err`` as one line."""
    try:
        _call("prove", ProverError, lambda: ezkl.prove(witness, compiled, pk, proof, srs))
    except ZkgradError as e:
        Path(err).write_text(e.message.removeprefix("ezkl prove failed: "))
        return 1
    return 0


def poseidon_hash(felts: Sequence[str]) -> list[str]:
    return _call("poseidon_hash", CircuitError, lambda: ezkl.poseidon_hash(list(felts)))


def float_to_felt(value: float, scale: int) -> str:
    return ezkl.float_to_felt(value, scale, ezkl.PyInputType.F64)


# --- verifier --------------------------------------------------------------------------
def verify(*, proof: Path, settings: Path, vk: Path, srs: Path) -> tuple[bool, str]:
    """(accepted, reason). ezkl raises on a refused proof; that is a refusal, not an error."""
    try:
        with _stdout_to_stderr():
            ok = bool(ezkl.verify(str(proof), str(settings), str(vk), str(srs), False))
        return ok, "" if ok else "the verifier returned false"
    except Exception as e:  # noqa: BLE001 - every ezkl failure here means "refused"
        return False, (str(e).strip().splitlines() or ["refused"])[0]


def create_evm_verifier(*, vk: Path, settings: Path, sol: Path, abi: Path, srs: Path, reusable: bool = False) -> None:
    """Writes the Solidity verifier (``reusable``: ezkl's circuit-independent one, which takes a VK
    artifact). ezkl then tries to fetch solc (offline: fails); we compile it ourselves, so that
    failure is ignored once the .sol file exists."""
    try:
        with _stdout_to_stderr():
            _await(lambda: ezkl.create_evm_verifier(str(vk), str(settings), str(sol), str(abi), str(srs), reusable))
    except Exception as e:  # noqa: BLE001
        if not sol.is_file() or sol.stat().st_size == 0:
            raise _translate(e, "create_evm_verifier", CircuitError, vk=vk) from e


def create_evm_vka(*, vk: Path, settings: Path, vka: Path, srs: Path) -> None:
    """The verification-key artifact a reusable verifier is called with."""
    try:
        with _stdout_to_stderr():
            ok = _await(lambda: ezkl.create_evm_vka(str(vk), str(settings), str(vka), str(srs)))
    except Exception as e:  # noqa: BLE001
        raise _translate(e, "create_evm_vka", CircuitError, vk=vk) from e
    if ok is False or not vka.is_file():
        raise CircuitError("ezkl create_evm_vka wrote no VK artifact", hint="re-run with ZKGRAD_DEBUG=1", vk=str(vk))


if __name__ == "__main__":  # python -m zkgrad.engine prove ...: the child of prove()
    if len(sys.argv) != 8 or sys.argv[1] != "prove":
        sys.exit("usage: python -m zkgrad.engine prove WITNESS COMPILED PK PROOF SRS ERROR_FILE")
    sys.exit(_prove_child(*sys.argv[2:]))
