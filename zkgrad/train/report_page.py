"""The report of a proven training run: one PNG (three panels) and one self-contained HTML page.

Input is plain data (``step_records`` rows and a float32 shadow run's losses), so the report can be
redrawn from a workspace at any time without proving anything.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fsio
from ..errors import InputError

PNG_NAME = "report.png"
HTML_NAME = "report.html"
_SIZE_IN, _DPI = (12.0, 9.0), 100  # 1200 x 900 pixels
_OK, _BAD, _SHADOW, _SAME = "#1f77b4", "#d62728", "#ff7f0e", "#7f7f7f"


@dataclass(frozen=True)
class _Step:
    """One record, validated and with numbers as floats (None where absent or not finite)."""

    version: int
    loss: float | None
    float_loss: float | None
    shadow_loss: float | None
    param_diff: float | None
    prove_s: float | None
    witness_s: float | None
    gas: int | None
    accepted: bool | None
    raw: Mapping[str, Any]
    accuracy: float | None = None  # the head's weights on the whole held-out set, computed
    shadow_accuracy: float | None = None  # the float32 shadow run's, same set
    proven_accuracy: float | None = None  # an accepted evaluation proof's (its held-out samples)


def write_report(
    records: list[dict[str, Any]],
    shadow_losses: list[float],
    out_dir: Path,
    *,
    title: str,
    meta: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``report.png`` and ``report.html`` (which embeds the PNG) into ``out_dir``.

    ``records`` are per proven step in version order (see ``loop.step_records``);
    ``shadow_losses[i]`` is the float32 shadow run's loss at step i+1. Returns (png, html).
    """
    steps = _steps(records, shadow_losses)
    shadow = [_num(x) for x in shadow_losses]
    png = _render_png(steps, shadow, title)
    out_dir = Path(out_dir)
    png_path = fsio.write_bytes(out_dir / PNG_NAME, png)
    html_path = fsio.write_text(out_dir / HTML_NAME, _render_html(steps, title, meta or {}, png))
    return png_path, html_path


# --- input ------------------------------------------------------------------------------
def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _steps(records: Sequence[Mapping[str, Any]], shadow: Sequence[Any]) -> list[_Step]:
    out: list[_Step] = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise InputError(f"report record {i} is a {type(r).__name__}, not a dict",
                             hint="pass the rows of step_records()", index=i)
        v = r.get("version")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"report record {i} has no valid version: {v!r}",
                             hint="versions are 1-based integers", index=i, version=v)
        t = r.get("timings") or {}
        gas = r.get("gas_used")
        acc = r.get("accepted")
        out.append(_Step(
            version=v, loss=_num(r.get("loss")), float_loss=_num(r.get("float_loss")),
            shadow_loss=_num(shadow[v - 1]) if v <= len(shadow) else None,
            param_diff=_num(r.get("max_abs_param_diff")),
            prove_s=_num(t.get("prove")) if isinstance(t, Mapping) else None,
            witness_s=_num(t.get("witness")) if isinstance(t, Mapping) else None,
            gas=int(gas) if isinstance(gas, int) and not isinstance(gas, bool) else None,
            accepted=None if acc is None else bool(acc), raw=r, accuracy=_num(r.get("accuracy")),
            shadow_accuracy=_num(r.get("shadow_accuracy")), proven_accuracy=_num(r.get("proven_accuracy")),
        ))
    return out


def _mean(xs: Sequence[float | int | None]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


# --- PNG --------------------------------------------------------------------------------
def _render_png(steps: list[_Step], shadow: list[float | None], title: str) -> bytes:
    # Figure + Agg canvas directly: no pyplot state, no display, safe in any thread or process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=_SIZE_IN, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=15)
    ax_loss, ax_time, ax_gas = fig.subplots(3, 1, sharex=True)
    last = max([s.version for s in steps] + [len(shadow)], default=0)

    # 1. loss: the float shadow as a line, proven steps as markers (hollow red when not accepted).
    sx = [i + 1 for i, y in enumerate(shadow) if y is not None]
    if sx:
        ax_loss.plot(sx, [y for y in shadow if y is not None], color=_SHADOW, lw=1.8,
                     label="float32 shadow run")
    same = [(s.version, s.float_loss) for s in steps if s.float_loss is not None]
    if same:
        ax_loss.scatter(*zip(*same), marker="_", s=140, color=_SAME, zorder=3,
                        label="float32, same start as proven step")
    ok = [(s.version, s.loss) for s in steps if s.loss is not None and s.accepted is not False]
    bad = [(s.version, s.loss) for s in steps if s.loss is not None and s.accepted is False]
    if ok:
        ax_loss.scatter(*zip(*ok), color=_OK, s=36, zorder=4, label="proven step")
    if bad:
        ax_loss.scatter(*zip(*bad), facecolors="none", edgecolors=_BAD, s=60, lw=1.6, zorder=4,
                        label="proven, not accepted on chain")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("Loss per step: proven vs float32 shadow", loc="left")
    if sx or same or ok or bad:
        ax_loss.legend(loc="upper right", fontsize=9)
    else:
        _empty(ax_loss, "no proven steps")

    # 2. prove time per step.
    tx = [(s.version, s.prove_s, _OK if s.accepted is not False else _BAD) for s in steps
          if s.prove_s is not None]
    if tx:
        v, t, c = zip(*tx)
        ax_time.bar(v, t, color=c, width=0.7)
        m = _mean(t)
        ax_time.axhline(m, color="black", ls="--", lw=1.2, label=f"mean {m:.1f} s")
        ax_time.set_ylim(0, max(max(t) * 1.25, 1e-3))  # headroom for the legend
        ax_time.legend(loc="upper right", fontsize=9)
    else:
        _empty(ax_time, "no prove times recorded")
    ax_time.set_ylabel("seconds")
    ax_time.set_title("Prove time per step" + (" (red: not accepted)" if any(
        s.accepted is False for s in steps) else ""), loc="left")

    # 3. gas per accepted update; steps the chain did not accept are left out.
    gx = [(s.version, s.gas) for s in steps if s.accepted is True and s.gas is not None]
    if gx:
        v, g = zip(*gx)
        ax_gas.bar(v, [x / 1e3 for x in g], color=_OK, width=0.7)
        m = _mean(g) or 0.0
        ax_gas.axhline(m / 1e3, color="black", ls="--", lw=1.2, label=f"mean {m:,.0f} gas")
        ax_gas.set_ylim(0, max(max(g) / 1e3 * 1.25, 1e-3))
        ax_gas.legend(loc="upper right", fontsize=9)
    else:
        unchecked = bool(steps) and all(s.accepted is None for s in steps)
        _empty(ax_gas, "chain not consulted" if unchecked else "no accepted updates with gas recorded")
    ax_gas.set_ylabel("gas (thousands)")
    ax_gas.set_title("Gas per accepted update", loc="left")
    ax_gas.set_xlabel("step (model version)")

    if last:
        ax_gas.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_gas.set_xlim(0.4, last + 0.6)
    else:
        ax_gas.set_xticks([])
    for ax in (ax_loss, ax_time, ax_gas):
        ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _empty(ax: Any, text: str) -> None:
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#555",
            fontsize=12)


# --- HTML -------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1250px;color:#222}
h1{font-size:1.6rem} h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.rejected td{color:#b00} code{font-size:.85rem} img{max-width:100%;height:auto}
.warn{color:#b00;font-weight:600}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _f(x: float | None, spec: str = ".6g") -> str:
    return "—" if x is None else format(x, spec)


def _short(x: Any) -> str:
    """A 0x value as 0x1234…abcd, with the full value in the tooltip."""
    if not x:
        return "—"
    s = str(x)
    text = s if len(s) <= 14 else f"{s[:6]}…{s[-4:]}"
    return f'<code title="{_e(s)}">{_e(text)}</code>'


def _summary(steps: list[_Step]) -> list[tuple[str, str]]:
    n = len(steps)
    checked = [s for s in steps if s.accepted is not None]
    acc = sum(1 for s in steps if s.accepted is True)
    gas = _mean([s.gas for s in steps if s.accepted is True])
    diffs = [s.param_diff for s in steps if s.param_diff is not None]
    rows = [
        ("steps proven", str(n)),
        ("steps accepted on chain", f"{acc} of {n}" if checked else "not checked on chain"),
        ("mean prove time", _f(_mean([s.prove_s for s in steps]), ".2f") + " s"),
        ("mean gas per accepted update", "—" if gas is None else f"{gas:,.0f}"),
        ("max |proven − float| parameter difference", _f(max(diffs) if diffs else None, ".3g")),
    ]
    if steps:
        f = steps[-1]
        rows.append((f"final loss (step {f.version})",
                     f"proven {_f(f.loss)} · float32 same start {_f(f.float_loss)}"
                     f" · float32 shadow {_f(f.shadow_loss)}"))
        if f.accuracy is not None:
            rows.append((f"held-out accuracy (step {f.version})",
                         f"accepted head {_pct(f.accuracy)} (computed) · float32 shadow {_pct(f.shadow_accuracy)}"
                         + ("" if f.proven_accuracy is None else f" · proven {_pct(f.proven_accuracy)}")))
    return rows


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _meta_value(v: Any) -> str:
    return json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else str(v)


def _render_html(steps: list[_Step], title: str, meta: Mapping[str, Any], png: bytes) -> str:
    p: list[str] = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                    f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
                    f"<h1>{_e(title)}</h1>"]
    if not steps:
        p.append('<p class="warn">No proven steps yet: nothing to report.</p>')
    p.append("<h2>Summary</h2><table>")
    p += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _summary(steps)]
    p.append("</table>")
    if meta:
        p.append("<h2>Run</h2><table>")
        for k, v in meta.items():
            cls = ' class="warn"' if "warn" in str(k).lower() else ""
            p.append(f"<tr><th>{_e(k)}</th><td{cls}>{_e(_meta_value(v))}</td></tr>")
        p.append("</table>")
    b64 = base64.b64encode(png).decode("ascii")
    p.append(f'<h2>Curves</h2><img alt="{_e(title)}: loss, prove time and gas per step" '
             f'src="data:image/png;base64,{b64}">')
    p.append("<h2>Steps</h2>")
    if steps:
        heads = ["version", "loss", "float loss", "shadow loss", "held-out acc (head)", "acc (float)",
                 "acc (proven)", "prove s", "witness s", "gas",
                 "accepted", "before → after", "batch", "tx", "prover", "block"]
        p.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>")
        for s in steps:
            r = s.raw
            acc = {True: "yes", False: "no", None: "—"}[s.accepted]
            block = r.get("block")
            cells = [
                f'<td class="n">{s.version}</td>', f'<td class="n">{_f(s.loss)}</td>',
                f'<td class="n">{_f(s.float_loss)}</td>', f'<td class="n">{_f(s.shadow_loss)}</td>',
                f'<td class="n">{_pct(s.accuracy)}</td>', f'<td class="n">{_pct(s.shadow_accuracy)}</td>',
                f'<td class="n">{_pct(s.proven_accuracy)}</td>',
                f'<td class="n">{_f(s.prove_s, ".2f")}</td>',
                f'<td class="n">{_f(s.witness_s, ".2f")}</td>',
                f'<td class="n">{"—" if s.gas is None else f"{s.gas:,}"}</td>',
                f"<td>{acc}</td>",
                f"<td>{_short(r.get('before'))} → {_short(r.get('after'))}</td>",
                f"<td>{_short(r.get('batch'))}</td>", f"<td>{_short(r.get('tx_hash'))}</td>",
                f"<td>{_short(r.get('prover'))}</td>",
                f'<td class="n">{"—" if block is None else _e(block)}</td>',
            ]
            cls = ' class="rejected"' if s.accepted is False else ""
            p.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        p.append("</table>")
    else:
        p.append("<p>No steps.</p>")
    p.append("</body></html>\n")
    return "\n".join(p)
