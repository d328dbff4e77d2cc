"""The README's main command, shortened to 2 steps: a digits classifier trained by proven steps on a
private anvil, a held-out digit answered with an accepted proof, and the report of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import run_cli

pytestmark = [pytest.mark.proof, pytest.mark.chain]


def test_demo_two_steps_with_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["demo", "--steps", 2, "--hidden", 4, "--batch-size", 2, "--workdir", tmp_path / "demo",
                              "--report", tmp_path / "report", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["steps_accepted"] == 2
    assert [r["version"] for r in res["lineage"]] == [1, 2]
    assert 0.0 <= res["accuracy_proven"] <= 1.0 and 0.0 <= res["accuracy_float"] <= 1.0
    assert abs(res["accuracy_proven"] - res["accuracy_float"]) <= 0.05  # two steps barely diverge
    assert res["answer"]["version"] == 2 and res["answer"]["gas_used"] > 0
    assert res["mean_update_gas"] > 0 and res["mean_prove_s"] > 0
    assert res["dev_srs"] is True
    html = (tmp_path / "report" / "report.html").read_text()
    assert (tmp_path / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in res["lineage"]:
        assert r["tx"] in html  # every accepted step is in the report
