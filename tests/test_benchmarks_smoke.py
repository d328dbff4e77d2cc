"""The benchmark script's argument parsing and markdown writer, on a fake result (no proving)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import render
from benchmarks.run import main, parse_args

MACHINE = {"nproc": 2, "ram_gib": 23.4, "cpu": "AMD EPYC", "date": "2030-01-01 00:00:00 UTC", "loadavg": [3.1, 3, 3],
           "loadavg_end": [4.2, 4, 4], "python": "3.11.0", "ezkl": "23.0.5"}


def fake_results() -> dict[str, Any]:
    side = {"setup_s": 90.0, "setup_peak_rss": 6_000_000_000, "witness_s": 0.5, "prove_s": 130.0,
            "prove_runs_s": [130.0], "prove_peak_rss": 5_500_000_000, "pk_bytes": 2_785_941_035, "proof_bytes": 12_345}
    step = {"model": "digits MLP 64-16-10, batch 8", "logrows": 17, "num_rows": 123555, "repeat": 1,
            "config": {"input_visibility": "public", "scale": 12, "num_inner_cols": 2,
                       "lookup_safety_margin": 2.0, "calibration_target": "resources"},
            "zkgrad": {**side, "compile_total_s": 100.0, "prove_step_total_s": 133.0, "vk_bytes": 1, "proof_json_bytes": 2},
            "plain": {**side, "prove_s": 125.0, "prove_runs_s": [125.0], "calibrate_s": 0.6,
                      "settings_identical": True, "vk_identical": True},
            "ratio": {"setup": 1.0, "prove": 1.04, "peak": 1.0},
            "gas": {"runtime_size": 38284, "over_eip170": True, "deploy_gas": 8_000_000, "verify_gas_zkgrad": 700_123,
                    "verify_gas_plain": 700_123},
            "fidelity": {"loss": 2.4553, "float_loss": 2.4552, "max_abs_param_diff": 2.8e-4}}
    inf_side = {"setup_s": 5.0, "prove_s": 4.0, "witness_s": 0.1, "prove_peak_rss": 300_000_000, "pk_bytes": 50_000_000,
                "proof_bytes": 5000}
    inference = {"model": "digits MLP 64-16-10", "repeat": 1, "circuits": {"answer": {
        "what": "weights as public inputs", "logrows": 15, "num_instances": 15, "zkgrad": inf_side,
        "plain": {**inf_side, "settings_identical": True, "vk_identical": True}, "ratio": {"prove": 1.0, "peak": 1.0},
        "gas": {"runtime_size": 20000, "deploy_gas": 1, "verify_gas_zkgrad": 555_555}}}}
    sec = lambda d: {"command": "python -m benchmarks.run --repeat 1", "machine": MACHINE, "wall_s": 1.0, "data": d}
    return {"sections": {"step": sec(step), "inference": sec(inference)}}


def test_parse_args_defaults_and_quick(tmp_path: Path) -> None:
    full = parse_args(["--home", str(tmp_path)])
    assert full.repeat == 3 and full.only == ["step", "inference"]
    assert full.results == Path(__file__).parents[1] / "benchmarks" / "results" / "bench.json"
    quick = parse_args(["--quick", "--only", "inference", "--home", str(tmp_path)])
    assert quick.repeat == 1 and quick.only == ["inference"]
    assert quick.results.name == "results-quick.json"
    assert quick.out == tmp_path / "bench" / "BENCHMARKS-quick.md"  # a smoke run never replaces the real file
    assert full.out.name == "BENCHMARKS.md" and full.out.parent == Path(__file__).resolve().parent.parent
    assert parse_args(["--only", "gpt-step"]).only == ["gpt-step"]  # opt-in: not in the default run


@pytest.mark.parametrize("argv", [["--only", "nonsense"], ["--repeat", "0"]])
def test_parse_args_refuses_bad_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2


def test_render_states_command_machine_and_numbers() -> None:
    md = render(fake_results())
    assert md.startswith("# Benchmarks")
    assert md.count("Command: `python -m benchmarks.run --repeat 1`") == 2
    assert "2 cores (AMD EPYC), 23.4 GiB RAM" in md
    assert "| prove (median of 1) | 130.0 s | 125.0 s | 1.04x |" in md
    assert "700,123" in md and "555,555" in md
    assert "VkaVerifier" in md  # how an oversized verifier is deployed is said


def test_render_only_writes_markdown_from_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path))  # main() points ZKGRAD_HOME at --home: undone after the test
    results, out = tmp_path / "results.json", tmp_path / "B.md"
    results.write_text(json.dumps(fake_results()))
    assert main(["--render-only", "--results", str(results), "--out", str(out), "--home", str(tmp_path)]) == 0
    text = out.read_text()
    assert "## Training step" in text and "## Inference" in text and "Levers" not in text
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary left behind
