"""The typed records that cross a layer or a file: each comes back from its ``to_dict`` as it went
in, keeps the file format it had (circuit keys and workspaces written before stay valid), and a
damaged one is refused in one line."""

from __future__ import annotations

import pytest

from zkgrad.circuits.extras import HeldOut, ModelExtra
from zkgrad.errors import CircuitError, InputError
from zkgrad.prover.step import StepSummary
from zkgrad.train.register import RegistrationProgress, RegistrationTarget

TARGET = RegistrationTarget("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "00" * 20,
                            "0x" + "ab" * 32, "0x" + "cd" * 32)


def test_registration_progress_keeps_zeros_and_its_file_format() -> None:
    """A model count of 0 and block 0 are progress too (the first model on a fresh chain)."""
    p = RegistrationProgress(TARGET, models_before=0, fund_from_block=0)
    d = p.to_dict()
    assert d == {**TARGET.to_dict(), "models_before": 0, "fund_from_block": 0}  # flat, as before
    assert RegistrationProgress.from_dict(d) == p
    done = RegistrationProgress(TARGET, models_before=3, model_id=4, fund_from_block=9, funded=True)
    assert RegistrationProgress.from_dict(done.to_dict()) == done
    assert RegistrationProgress.from_dict({}) == RegistrationProgress(None)  # none begun
    assert RegistrationProgress.from_dict({**d, "models_before": "many"}) == RegistrationProgress(None)


def test_a_step_summary_round_trips_and_a_damaged_one_is_refused() -> None:
    s = StepSummary(version=2, before="0x01", after="0x02", batch="0x03", weights_after="0x04", loss=0.5,
                    claim=hex(77), float_loss=0.49, max_abs_param_diff=1e-4, step_circuit="k",
                    timings={"witness": 0.1, "prove": 3.0})
    assert "proved_at" not in s.to_dict() and StepSummary.from_dict(s.to_dict()) == s
    proved = StepSummary.from_dict({**s.to_dict(), "proved_at": 1.5})
    assert proved.proved_at == 1.5 and proved.claim_word == 77 and proved.prove_s == 3.0
    with pytest.raises(InputError, match="step.json is not a step summary") as info:
        StepSummary.from_dict({k: v for k, v in s.to_dict().items() if k != "after"})
    assert "\n" not in str(info.value)


def test_model_extras_keep_the_json_that_circuit_keys_hash() -> None:
    step = ModelExtra({"factory": "f"}, {"state_words": 3}, {"steps": 1}, n_params=2, state_names=("a", "b"))
    assert step.to_dict() == {"spec": {"factory": "f"}, "layout": {"state_words": 3}, "calibration": {"steps": 1},
                              "n_params": 2, "state_names": ["a", "b"]}
    ev = ModelExtra({}, {"weights_words": 5}, {}, held_out=HeldOut(100, "0x" + "ee" * 32))
    assert ev.to_dict()["held_out"] == {"size": 100, "commitment": "0x" + "ee" * 32}
    assert ModelExtra.from_dict(step.to_dict()) == step and ModelExtra.from_dict(ev.to_dict()) == ev
    with pytest.raises(CircuitError, match="lacks layout, calibration"):
        ModelExtra.from_dict({"spec": {}}, "plain")
