"""ezkl's failures reach users as one zkgrad error: its bare Exceptions and its Rust panics, which
pyo3 raises as a BaseException that an ``except Exception`` would let through as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkgrad import engine
from zkgrad.errors import CircuitError, ProverError


class PanicException(BaseException):  # what pyo3 raises when ezkl panics (not an Exception)
    pass


def _raise(err: BaseException):  # type: ignore[no-untyped-def]
    def fn() -> None:
        raise err
    return fn


@pytest.mark.parametrize("err, error, needles", [
    (PanicException("capacity overflow"), CircuitError, ("ezkl crashed", "capacity overflow", "OPERATORS.md")),
    (RuntimeError("Failed to compile: General synthesis error"), CircuitError, ("General synthesis", "OPERATORS.md")),
    (Exception("Failed to generate witness"), ProverError, ("gen_witness", "Failed to generate witness")),
])
def test_ezkl_failures_become_one_zkgrad_error(err, error, needles) -> None:  # type: ignore[no-untyped-def]
    stage = "gen_witness" if error is ProverError else "compile_circuit"
    with pytest.raises(error) as info:
        engine._call(stage, error, _raise(err))
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize("err", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupts_are_not_swallowed(err: BaseException) -> None:
    with pytest.raises(type(err)):
        engine._call("prove", ProverError, _raise(err))


def test_a_real_ezkl_error_is_translated() -> None:
    with pytest.raises(CircuitError, match="ezkl compile_circuit failed"):
        engine.compile_circuit(model=Path("/nonexistent.onnx"), compiled=Path("/nonexistent.ezkl"),
                               settings=Path("/nonexistent.json"))
