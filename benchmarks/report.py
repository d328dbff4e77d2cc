"""BENCHMARKS.md from the results JSON: the preamble below, then one section per measured part,
each stating the command that produced it and the machine it ran on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREAMBLE = """\
# Benchmarks

Written by `benchmarks/run.py`; do not edit by hand (edit the template in `benchmarks/report.py`).

How the numbers are taken:
- Every setup and prove runs in a fresh child process (`benchmarks/child.py`); its peak memory is
  that child's maximum resident set size (`os.wait4` rusage, `ru_maxrss`). A zkgrad prove of a
  training step runs `zkgrad.prover.step.prove_step` (witness, checkpoint hashing, fidelity check
  and proof), so its peak includes torch being imported in that process.
- "plain ezkl" calls `ezkl.gen_settings`, `calibrate_settings`, `compile_circuit`, `setup`,
  `gen_witness` and `prove` directly on the same ONNX file and sample, with the same run
  arguments, and compiles with the same settings (checked: identical settings, identical
  verification key). zkgrad and plain runs alternate inside one process run, so machine load hits
  both alike; the ratio column is zkgrad / plain.
- Times are medians over the repetitions given in each section's command; a single repetition
  is a single sample.
- Verification gas: the verifier is deployed on a private anvil (default limits) the way zkgrad
  deploys it (`zkgrad.chain.deployments.deploy_verifier`): one contract when it fits the EIP-170
  limit of 24,576 bytes, else ezkl's reusable verifier plus a `VkaVerifier` adapter holding the
  circuit's verifying-key artifact. Gas is `eth_estimateGas` of `verifyProof(bytes,uint256[])` on
  that address, for the zkgrad proof and for the plain-ezkl proof of the same circuit.
- SRS: a locally generated development SRS (not secure; fine for timing).
- The machine is shared: other engineers' proofs were running during these runs, so times are
  inflated and noisy (the load average at the start and end of each section is given). Compare
  ratios within one section, not absolute times across sections.
"""


def _gb(b: int | None) -> str:
    return "-" if b is None else f"{b / 1e9:.2f} GB"


def _mb(b: int | None) -> str:
    return "-" if b is None else (f"{b / 1e6:.1f} MB" if b >= 1e6 else f"{b / 1e3:.1f} kB")


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} s"


def _n(v: Any) -> str:
    return "-" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _machine(sec: dict[str, Any]) -> str:
    m = sec["machine"]
    return (f"Command: `{sec['command']}`  \n"
            f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, ezkl {m['ezkl']}, Python {m['python']}; "
            f"{m['date']}; load average {m['loadavg'][0]} at start, {m.get('loadavg_end', ['?'])[0]} at end; "
            f"section wall time {sec.get('wall_s', '?')} s.\n")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def render_step(sec: dict[str, Any]) -> str:
    d = sec["data"]
    z, p, r, g = d["zkgrad"], d["plain"], d["ratio"], d["gas"]
    rows = [
        ["setup (keygen)", _s(z["setup_s"]), _s(p["setup_s"]), _x(r["setup"])],
        ["setup peak memory", "- (reused)" if d.get("reused_circuit") else _gb(z["setup_peak_rss"]),
         _gb(p["setup_peak_rss"]), "-"],
        ["witness", _s(z["witness_s"]), _s(p["witness_s"]), "-"],
        [f"prove (median of {d['repeat']})", _s(z["prove_s"]), _s(p["prove_s"]), _x(r["prove"])],
        ["prove runs", ", ".join(f"{v:.1f}" for v in z["prove_runs_s"]), ", ".join(f"{v:.1f}" for v in p["prove_runs_s"]), "-"],
        ["prove peak memory", _gb(z["prove_peak_rss"]), _gb(p["prove_peak_rss"]), _x(r["peak"])],
        ["proving key", _gb(z["pk_bytes"]), _gb(p["pk_bytes"]), "-"],
        ["proof", f"{z['proof_bytes']:,} B", f"{p['proof_bytes']:,} B", "-"],
        ["verifyProof gas", _n(g.get("verify_gas_zkgrad")), _n(g.get("verify_gas_plain")), "-"],
    ]
    out = [f"## Training step: {d['model']}\n", _machine(sec),
           f"\nlogrows {d['logrows']}, {_n(d['num_rows'])} rows; inputs and outputs `{d['config']['input_visibility']}`, "
           f"scale {d['config']['scale']}, {d['config']['num_inner_cols']} inner columns, "
           f"lookup margin {d['config']['lookup_safety_margin']}, calibration `{d['config']['calibration_target']}`."
           f"{' (circuit reused from an earlier run: setup time is from its manifest)' if d.get('reused_circuit') else ''}\n\n",
           _table(["", "zkgrad", "plain ezkl", "zkgrad / plain"], rows),
           f"\nSame circuit: settings identical {p['settings_identical']}"
           f"{' (differed in ' + ', '.join(p['settings_diff']) + '; plain compiled with zkgrad' + chr(39) + 's settings)' if p.get('settings_diff') else ''}"
           f", verification key identical {p['vk_identical']}"
           f"{'' if p['vk_identical'] else ' (this run let plain ezkl compile its own settings file: equal content, other list order, so an equivalent circuit with another key; its proof is not checked by zkgrad' + chr(39) + 's verifier)'}. "
           f"zkgrad's witness stage includes hashing the new checkpoint and the float32 fidelity check; its prove "
           f"peak includes torch in the process.  \n"
           f"Verifier: {g.get('kind', 'single')} ({g['runtime_size']:,} bytes of runtime code, largest contract), "
           f"deployment {_n(g['deploy_gas'])} gas in all, {_n(g.get('public_values'))} public values"
           f"{'; gas measured by `' + g['command'] + '`' if g.get('command') else ''}.  \n"
           f"Fidelity of the proven step: max |proven - float32| parameter difference "
           f"{d['fidelity']['max_abs_param_diff']:.2e}; loss {d['fidelity']['loss']:.6f} proven, "
           f"{d['fidelity']['float_loss']:.6f} float32.\n"]
    return "".join(out)


def render_inference(sec: dict[str, Any]) -> str:
    d = sec["data"]
    rows = []
    for name, c in d["circuits"].items():
        z, p, g = c["zkgrad"], c["plain"], c["gas"]
        rows.append([f"`{name}`: {c['what']}", str(c["logrows"]), _n(g.get("public_values", c["num_instances"])), _s(z["setup_s"]),
                     _s(p["setup_s"]), _s(z["prove_s"]), _s(p["prove_s"]), _x(c["ratio"]["prove"]),
                     _gb(z["prove_peak_rss"]), _gb(p["prove_peak_rss"]), _mb(z["pk_bytes"]), f"{z['proof_bytes']:,} B",
                     _n(g.get("verify_gas_zkgrad")), f"{g['runtime_size']:,} B",
                     f"{p['settings_identical']}/{p['vk_identical']}"])
    header = ["circuit", "logrows", "public values", "setup zkgrad", "setup plain", "prove zkgrad", "prove plain",
              "prove ratio", "peak zkgrad", "peak plain", "proving key", "proof", "verifyProof gas", "verifier code",
              "same settings/vk"]
    cmds = sorted({c["gas"]["command"] for c in d["circuits"].values() if c["gas"].get("command")})
    note = f"\nGas measured by `{cmds[0]}`.\n" if cmds else ""
    return "".join([f"## Inference: {d['model']} (median of {d['repeat']})\n", _machine(sec), "\n", _table(header, rows), note])


RENDERERS = {"step": render_step, "inference": render_inference, "gpt-step": render_step}


SECTIONS = Path(__file__).parent / "sections"


def render(results: dict[str, Any]) -> str:
    parts = [PREAMBLE]
    for name, draw in RENDERERS.items():
        sec = results.get("sections", {}).get(name)
        if sec:
            parts.append("\n" + draw(sec))
    if len(parts) == 1:
        parts.append("\nNo results yet: run `python -m benchmarks.run --quick`.\n")
    for extra_md in sorted(SECTIONS.glob("*.md")):  # measured by other scripts; each states its command
        parts.append("\n" + extra_md.read_text())
    return "".join(parts)
