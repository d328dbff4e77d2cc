"""zkgrad.train.report_page: PNG + self-contained HTML from step records (no proving, no chain)."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Any

import pytest

from zkgrad.errors import InputError
from zkgrad.train.report_page import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLE = "digits <script>alert(1)</script> & co"


def _hex(n: int, width: int = 64) -> str:
    return "0x" + format(n, f"0{width}x")


def _records() -> list[dict[str, Any]]:
    """Three proven steps; step 2 was refused by the chain (no gas, no tx)."""
    out = []
    for v, loss, acc in [(1, 0.50, True), (2, 0.41, False), (3, 0.33, True)]:
        out.append({
            "version": v, "loss": loss, "float_loss": loss + 0.001, "max_abs_param_diff": 1e-4 * v,
            "timings": {"prove": 20.0 + v, "witness": 0.5},
            "accepted": acc, "gas_used": 600_000 + v * 1000 if acc else None,
            "tx_hash": _hex(0xAAAA00 + v) if acc else None, "prover": _hex(0xBEEF, 40) if acc else None,
            "block": 10 + v if acc else None,
            "before": _hex(0x100 + v), "after": _hex(0x101 + v), "batch": _hex(0x200 + v),
        })
    return out


def _png_size(data: bytes) -> tuple[int, int]:
    from matplotlib import image

    arr = image.imread(io.BytesIO(data), format="png")
    return arr.shape[1], arr.shape[0]


def test_report_writes_png_and_html(tmp_path: Path) -> None:
    recs = _records()
    png, page = write_report(recs, [0.5, 0.42, 0.34, 0.30], tmp_path / "rep", title=TITLE,
                             meta={"model id": 7, "chain id": 31337, "SRS warning": "dev SRS <unsafe>"})
    assert png.is_file() and page.is_file()
    assert png.parent == page.parent == tmp_path / "rep"
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert _png_size(data) == (1200, 900)

    text = page.read_text()
    # the same PNG is embedded as a data URI, so the page stands alone
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert m and base64.b64decode(m.group(1)) == data
    # every accepted step: its version row and its full tx hash
    for r in recs:
        if r["accepted"]:
            assert f'<td class="n">{r["version"]}</td>' in text
            assert r["tx_hash"] in text
    assert "1 of 3" not in text and "2 of 3" in text  # steps accepted
    assert '<tr class="rejected">' in text and text.count('<tr class="rejected">') == 1
    table = text.split("<h2>Steps</h2>")[1]
    assert "601,000" in table and "603,000" in table and "602,000" not in table  # refused: no gas
    # titles and meta values are escaped
    assert "<script>" not in text
    assert html.escape(TITLE) in text
    assert "dev SRS &lt;unsafe&gt;" in text


def test_report_summary_numbers(tmp_path: Path) -> None:
    _, page = write_report(_records(), [0.5, 0.42, 0.34], tmp_path, title="t")
    summary = page.read_text().split("<h2>Steps</h2>")[0]
    assert "22.00 s" in summary  # mean prove time of 21, 22, 23
    assert "602,000" in summary  # mean gas of accepted 601k and 603k only
    assert "0.0003" in summary  # max parameter difference
    assert "proven 0.33" in summary and "shadow 0.34" in summary


def test_report_with_no_records(tmp_path: Path) -> None:
    png, page = write_report([], [], tmp_path, title="empty run")
    assert png.read_bytes().startswith(PNG_MAGIC)
    text = page.read_text()
    assert "No proven steps" in text and "data:image/png;base64," in text


def test_report_without_chain_and_short_shadow(tmp_path: Path) -> None:
    recs = _records()
    for r in recs:
        r.update(accepted=None, gas_used=None, tx_hash=None, timings=None, loss=float("nan"))
    _, page = write_report(recs, [0.5], tmp_path, title="offline")
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "", page.read_text())  # the image may spell "nan"
    assert "not checked on chain" in text
    assert "nan" not in text.lower()
    assert '<td class="n">0.5</td>' in text  # step 1 has a shadow loss; the NaN losses show as —


@pytest.mark.parametrize("bad", [[{"loss": 1.0}], [{"version": 0}], [{"version": True}], ["x"]])
def test_report_refuses_records_without_version(tmp_path: Path, bad: list[Any]) -> None:
    with pytest.raises(InputError):
        write_report(bad, [], tmp_path, title="t")
    assert not (tmp_path / "report.html").exists()
