"""Where the step circuit's rows go: rows per kind of work, and what sets logrows.

    python -m benchmarks.profile                     # the demo's digits step (64-16-10, batch 8)
    python -m benchmarks.profile --model tiny        # the 4-8-3 MLP (seconds)
    python -m benchmarks.profile --model gpt --steps 40   # the language-model demo's step

Settings, calibration and compile only (no setup, no proof), as ``zkgrad model compile`` makes the
step circuit. ezkl prints no row breakdown, but its dummy layout (the pass that counts rows for
the settings) logs the region's row counter before each graph node at debug level: a child
process replays that pass with the calibrated run arguments and ezkl's log on, and each node's
rows are the counter's step across it. The node's op names its kind of work. A node that ezkl
fuses with a rescale ("REBASED") is split by a second pass with rescaling off (a huge rebase
multiplier): the node's rows there are its own op, the rest is the rescale. Only that split is an
attribution; every other number is ezkl's own count.

The committed tensors' Poseidon hashes, the matrix products' einsum (Freivalds) checks and the
lookup and range-check tables each sit in their own columns beside the main region: the circuit
needs 2^logrows >= the largest of them, not their sum.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SECTION = Path(__file__).parent / "sections" / "50-profile.md"
RESULTS = Path(__file__).parent / "results" / "profile.json"
GPT_SECTION = Path(__file__).parent / "sections" / "51-profile-gpt.md"
GPT_RESULTS = Path(__file__).parent / "results" / "profile-gpt.json"
BLINDING = 8  # ezkl's RESERVED_BLINDING_ROWS: rows every column keeps free
NO_REBASE = 10_000  # a rebase multiplier no scale reaches: no node rescales

KINDS = ("committed inputs (assigned and range-checked)", "matrix products", "rescaling", "ReLU (forward and backward mask)",
         "loss and its gradient (cross-entropy: max, exp, sum, 1/x, log)",
         "other arithmetic (SGD update, gradient sums, reshapes)")
_RELU = ("LEAKYRELU", "RELU", "LESSEQUAL", "LESS", "GREATER", "GREATEREQUAL", "IFF")


def inner_op(op: str) -> str:
    """The op a node computes, without ezkl's rescaling wrappers."""
    while True:
        m = re.match(r"^(?:REBASED \(div=[^)]*, rebasing_op=[^(]*\([^)]*\)\)|RESCALED INPUT) \((.*)\)$", op)
        if not m:
            return op
        op = m.group(1)


def kind(op: str, in_loss: bool = False) -> str:
    """The kind of work of a node, from its op (and whether it lies in the loss region)."""
    inner = inner_op(op)
    head = re.match(r"[A-Za-z]*", inner).group(0)  # type: ignore[union-attr]
    if head == "Input":
        return KINDS[0]
    if head == "EINSUM":
        return KINDS[1]
    if head in _RELU:
        return KINDS[3]
    if in_loss:
        return KINDS[4]
    if inner.startswith("IDENTITY (out_scale"):
        return KINDS[2]
    return KINDS[5]


_LOADED = re.compile(r'^ezkl\.graph\.utilities\|Loading node: Node \{ id: (\d+), name: "([^"]*)", inputs: \[([^\]]*)\], '
                     r"op: (.*?), outputs:")
_NODE = re.compile(r"^ezkl\.graph\.model\|laying out (\d+): (.*)$")
_ROWS = re.compile(r"^ezkl\.circuit\.ops\.region\|\(rows=(\d+), coord=(\d+)")
_OUTPUTS = re.compile(r"^ezkl\.graph\.model\|model outputs are nodes: \[(.*)\]$")


def node_rows(log: str) -> tuple[list[dict[str, Any]], int]:
    """Rows per node of the last dummy layout in an ezkl debug log, and the region's final rows.
    The counter is logged before each node and once after the last one."""
    blocks = log.split("calculating num of constraints using dummy model layout")
    if len(blocks) < 2:
        raise RuntimeError("ezkl's log has no dummy layout: is its debug logging on?")
    nodes: list[dict[str, Any]] = []
    marks: list[int] = []
    pending: dict[str, Any] | None = None
    for line in blocks[-1].splitlines():
        if m := _NODE.match(line):
            pending = {"node": int(m.group(1)), "op": m.group(2)}
        elif m := _ROWS.match(line):
            marks.append(int(m.group(1)))
            if pending is not None:
                nodes.append(pending)
                pending = None
    if len(marks) != len(nodes) + 1:
        raise RuntimeError(f"ezkl's log has {len(marks)} row counts for {len(nodes)} nodes")
    for i, n in enumerate(nodes):
        n["rows"] = marks[i + 1] - marks[i]
    return nodes, marks[-1]


def graph(log: str) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """The graph ezkl loaded (id -> name, input ids, tract op) and its output nodes, from its debug log."""
    nodes: dict[int, dict[str, Any]] = {}
    outputs: list[int] = []
    for line in log.splitlines():
        if m := _LOADED.match(line):
            ins = [int(t.split("/")[0]) for t in m.group(3).split(",") if t.strip()]
            nodes[int(m.group(1))] = {"name": m.group(2), "inputs": ins, "tract_op": m.group(4)}
        elif m := _OUTPUTS.match(line):
            outputs = [int(t) for t in re.findall(r"\((\d+), \d+\)", m.group(1))]
    return nodes, outputs


def loss_region(g: dict[int, dict[str, Any]], outputs: list[int], target: str = "y") -> set[int]:
    """Nodes computing the loss and its gradient at the model's output: ancestors of the loss (the
    step's last output) or of the gradient G (the input of the first matrix product that depends on
    the targets), that themselves depend on the targets or on the softmax (a max or exp). G is where
    backpropagation enters the model; empty when the graph has no such product."""
    ids = sorted(g)

    def ancestors(roots: list[int]) -> set[int]:
        seen, todo = set(), list(roots)
        while todo:
            n = todo.pop()
            if n not in seen and n in g:
                seen.add(n)
                todo.extend(g[n]["inputs"])
        return seen

    ys = [n for n in ids if g[n]["name"] == target]
    seeds = set(ys) | {n for n in ids if g[n]["tract_op"].startswith(("ElementWiseOp(Exp", "Reduce { axes: [1], reducer: Max"))}
    below: set[int] = set()
    for n in ids:  # ids are topological: tract numbers a node after its inputs
        if n in seeds or any(i in below for i in g[n]["inputs"]):
            below.add(n)
    grad = []
    for n in ids:
        if g[n]["tract_op"].startswith("EinSum") and n in below:
            grad = [i for i in g[n]["inputs"] if i in below]
            break
    roots = grad + outputs[-1:]
    return {n for n in ancestors(roots) & below if not g[n]["tract_op"].startswith("TypedSource")}


def layout_log(onnx: Path, run_args: dict[str, Any], folder: Path) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """ezkl's dummy layout of ``onnx`` with ``run_args``, in a child process with ezkl's debug log on."""
    args, log, settings = folder / "run_args.json", folder / "ezkl.log", folder / "settings.json"
    args.write_text(json.dumps(run_args))
    subprocess.run([sys.executable, "-m", "benchmarks.profile", "--layout-child", str(onnx), str(args), str(settings),
                    str(log)], check=True, cwd=Path(__file__).resolve().parent.parent)
    text = log.read_text()
    nodes, total = node_rows(text)
    g, outputs = graph(text)
    loss = loss_region(g, outputs)
    for n in nodes:
        n["loss"] = n["node"] in loss
        n["name"] = g.get(n["node"], {}).get("name", "")
    return nodes, total, json.loads(settings.read_text())


def _layout_child(onnx: str, args: str, settings: str, log: str) -> None:
    from zkgrad import (
        engine,  # sets the ezkl loggers' level: raised below, before ezkl's first record
    )

    handler = logging.FileHandler(log, mode="w")
    handler.setFormatter(logging.Formatter("%(name)s|%(message)s"))
    ezkl_log = logging.getLogger("ezkl")  # pyo3-log names Rust targets ezkl::graph::model -> ezkl.graph.model
    ezkl_log.setLevel(logging.DEBUG)
    ezkl_log.addHandler(handler)
    ra = json.loads(Path(args).read_text())
    ra["lookup_range"] = tuple(ra["lookup_range"])
    engine.gen_settings(model=Path(onnx), settings=Path(settings), args=engine.run_args(**ra))


def _run_args(settings: dict[str, Any], cfg: Any, **change: Any) -> dict[str, Any]:
    ra = settings["run_args"]
    keep = ("input_scale", "param_scale", "scale_rebase_multiplier", "num_inner_cols", "logrows", "decomp_base",
            "decomp_legs", "ignore_range_check_inputs_outputs", "bounded_log_lookup", "disable_freivalds")
    out = {k: ra[k] for k in keep if k in ra} | {"lookup_range": ra["lookup_range"],
                                                  "input_visibility": cfg.input_visibility,
                                                  "output_visibility": cfg.output_visibility,
                                                  "param_visibility": cfg.param_visibility}
    return out | change


def _logrows_for(rows: int) -> int:
    return max(1, math.ceil(math.log2(rows + BLINDING)))


def profile(spec: Any, ds: Any, steps: int, margin: float, work: Path, split_rescales: bool = True) -> dict[str, Any]:
    """Compile ``spec``'s step circuit as zkgrad does (calibrated along ``steps`` planned steps) and
    break its rows down by kind of work; ``split_rescales``: part fused rescales from their ops (a graph whose
    scales overflow the field without rescaling, as a GPT's do, cannot be laid out that way)."""
    from benchmarks.ranges import settings_for
    from zkgrad.circuits.config import CalibrationPlan, committed
    from zkgrad.circuits.model_circuits import calibration
    from zkgrad.circuits.training import export_training_step
    from zkgrad.model.checkpoint import genesis

    plan = CalibrationPlan(steps=steps, margin=margin)
    work.mkdir(parents=True, exist_ok=True)
    step = export_training_step(spec, work / "step.onnx")
    cal = calibration(spec, genesis(spec), ds, step.onnx_path, plan)
    compiled = settings_for(step.onnx_path, spec, cal, plan, work / "compiled")
    st = json.loads((work / "compiled" / "settings.json").read_text())
    cfg = committed("step", spec.scale, spec.commitment, lookup_safety_margin=margin)
    for sub in ("default", "no-rebase"):
        (work / sub).mkdir()
    nodes, model_rows, again = layout_log(step.onnx_path, _run_args(st, cfg), work / "default")
    poseidon = (st.get("module_sizes", {}).get("poseidon") or [0])[0]
    if max(model_rows, poseidon) != again["num_rows"] or abs(again["num_rows"] - st["num_rows"]) > BLINDING:
        raise RuntimeError(f"replayed layout: {model_rows} rows ({again['num_rows']} with Poseidon), "
                           f"the compiled circuit {st['num_rows']}")
    plain = layout_log(step.onnx_path, _run_args(st, cfg, scale_rebase_multiplier=NO_REBASE), work / "no-rebase")[0] \
        if split_rescales else []
    ignored = bool(st["run_args"].get("ignore_range_check_inputs_outputs"))
    (work / "input-checks-flipped").mkdir()
    _, flipped, _ = layout_log(step.onnx_path, _run_args(st, cfg, ignore_range_check_inputs_outputs=not ignored),
                               work / "input-checks-flipped")
    own = {n["node"]: n for n in plain}
    per_kind = {k: 0 for k in KINDS}
    rescale_after = {k: 0 for k in KINDS if k != KINDS[2]}  # the rescaling rows, by the kind of the op rescaled
    split = 0
    per_op: dict[str, int] = {}
    for n in nodes:
        head = re.match(r"[A-Z]*", inner_op(n["op"])).group(0) or n["op"]  # type: ignore[union-attr]
        per_op[head] = per_op.get(head, 0) + n["rows"]
        k = kind(n["op"], n["loss"])
        other = own.get(n["node"])
        if n["op"].startswith("REBASED") and other and not other["op"].startswith("REBASED"):
            n["own_rows"] = min(n["rows"], other["rows"])
            per_kind[KINDS[2]] += n["rows"] - n["own_rows"]
            rescale_after[k] += n["rows"] - n["own_rows"]
            per_kind[k] += n["own_rows"]
            split += n["rows"]
        else:
            per_kind[k] += n["rows"]
    ra = st["run_args"]
    lo, hi = ra["lookup_range"]
    einsum_rows = math.ceil(st.get("einsum_params", {}).get("total_einsum_col_size", 0) / ra["num_inner_cols"])
    range_tables = [hi_ - lo_ + 1 for lo_, hi_ in st.get("required_range_checks", [])]
    lookups = sorted(next(iter(x)) if isinstance(x, dict) else str(x) for x in st.get("required_lookups", []))
    columns = {"main region (the step's arithmetic)": model_rows,
               "Poseidon (commitments of inputs and outputs)": poseidon,
               "einsum checks (matrix products)": einsum_rows,
               "lookup tables (" + (", ".join(lookups) or "none") + ")": (hi - lo + 1) if lookups else 0,
               "range-check tables": max(range_tables, default=0)}
    return {
        "model": spec.factory + (f" {spec.factory_kwargs}" if spec.factory_kwargs else ""),
        "loss": spec.loss, "batch_size": spec.batch_size, "calibration": {"steps": steps, "margin": margin},
        "logrows": ra["logrows"], "num_rows": st["num_rows"], "replayed_num_rows": again["num_rows"],
        "num_inner_cols": ra["num_inner_cols"],
        "lookup_range": [lo, hi], "lookups": lookups, "range_checks": st.get("required_range_checks", []),
        "model_rows": model_rows, "per_kind": per_kind, "per_op": dict(sorted(per_op.items(), key=lambda kv: -kv[1])), "rebased_rows_split": split,
        "rescaling_after": {k: v for k, v in rescale_after.items() if v},
        "input_range_checks": {"ignored": ignored, "rows_the_other_way": flipped},
        "columns": columns, "columns_logrows": {k: _logrows_for(v) if v else 0 for k, v in columns.items()},
        "nodes": nodes, "calibrate_s": compiled["calibrate_s"],
    }


def models() -> dict[str, tuple[Any, Any]]:
    from benchmarks.ranges import models as range_models

    from zkgrad.model.dataset import load_for
    from zkgrad.train.lm_demo import LmDemoConfig

    m = range_models()
    gpt = LmDemoConfig().spec()
    return {"digits": m["digits MLP 64-16-10"], "tiny": m["tiny 4-8-3 ReLU, MSE"],
            "gpt": (gpt, load_for(gpt, "corpus:train"))}


def render(res: dict[str, Any]) -> str:
    m, p = res["machine"], res["profile"]
    total = p["model_rows"]
    what = "the language-model step's" if res.get("by_op") else "the step circuit's"
    out = [f"## Where {what} rows go (settings, calibration and compile only)\n"
           f"Command: `{res['command']}` (results in `benchmarks/results/{res.get('results', 'profile.json')}`).  \n"
           f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, ezkl {m['ezkl']}; {m['date']}; load "
           f"average {m['loadavg'][0]} (shared machine: rows are deterministic, times are not).\n\n"
           f"Circuit: {res['label']}, calibrated along {p['calibration']['steps']} planned steps with margin "
           f"{p['calibration']['margin']}: **logrows {p['logrows']}**, num_rows {p['num_rows']:,}, "
           f"{p['num_inner_cols']} inner columns, lookup range [{p['lookup_range'][0]:,}, {p['lookup_range'][1]:,}].\n\n"
           ]
    if res.get("by_op"):  # the loss-region rule reads a classifier's graph; a GPT's softmaxes defeat it
        out.append("Rows of the main region per ezkl op (each node's rows, a rescale fused into it included):\n\n"
                   "| op | rows | share |\n|---|---|---|\n")
        out += [f"| `{k}` | {v:,} | {v / total:.1%} |\n" for k, v in p["per_op"].items()]
    else:
        out.append("Rows of the main region (the step's arithmetic, laid out in the inner columns) per kind of work:\n\n"
                   "| kind of work | rows | share |\n|---|---|---|\n")
        for k, v in p["per_kind"].items():
            out.append(f"| {k} | {v:,} | {v / total:.1%} |\n" if total else f"| {k} | {v:,} | - |\n")
            if k == KINDS[2]:
                for site, r in p["rescaling_after"].items():
                    out.append(f"| &nbsp;&nbsp;of which after {site} | {r:,} | {r / total:.1%} |\n")
    out.append(f"| **main region, total** | **{total:,}** | 100% |\n\n"
               "Each part of the circuit in its own columns, and the logrows it alone would need "
               "(2^logrows >= rows + 8 blinding rows); the circuit's logrows is the largest:\n\n"
               "| part | rows | needs logrows |\n|---|---|---|\n")
    for k, v in p["columns"].items():
        out.append(f"| {k} | {v:,} | {p['columns_logrows'][k] or '-'} |\n")
    setters = [k for k, v in p["columns_logrows"].items() if v == p["logrows"]]
    cap = 2 ** (p["logrows"] - 1) - BLINDING
    over = [f"{k.split(' (')[0]} ({p['columns'][k]:,})" for k, v in p["columns_logrows"].items() if v >= p["logrows"]]
    out.append(f"\nlogrows {p['logrows']} is needed by {len(setters)} part(s) on their own: "
               f"{'; '.join(setters)}. These parts sit side by side, each in its own columns, so the "
               f"circuit's num_rows is the largest of them, not their sum. logrows {p['logrows'] - 1} "
               f"holds at most {cap:,} rows in every part: it needs each of {', '.join(over)} below that.\n")
    if p.get("replayed_num_rows", p["num_rows"]) != p["num_rows"]:
        out.append(f"\nThe replayed layout has {p['replayed_num_rows']:,} rows, the compiled settings say "
                   f"{p['num_rows']:,} (calibration counted {p['num_rows'] - p['replayed_num_rows']} more; not traced).\n")
    top = sorted(p["nodes"], key=lambda n: -n["rows"])[:6]
    out.append("\nThe largest nodes (ONNX name, ezkl's op, rows; own op / rescale where split):\n\n"
               "| node | op | rows | own op + rescale |\n|---|---|---|---|\n")
    for n in top:
        parts = f"{n['own_rows']:,} + {n['rows'] - n['own_rows']:,}" if "own_rows" in n else "-"
        out.append(f"| `{n['name']}` | `{n['op'][:80]}` | {n['rows']:,} | {parts} |\n")
    checks = p.get("input_range_checks")
    if checks and checks["ignored"]:
        other = checks["rows_the_other_way"]
        out.append(f"\nThe committed inputs are not range-checked here (`ignore_range_check_inputs_outputs`, sound under "
                   f"the `public` commitment: zkgrad.circuits.config.committed); checked, as `hashed` needs, the main "
                   f"region would have {other:,} rows, {other - total:,} more.\n")
    elif checks:
        free = checks["rows_the_other_way"]
        out.append(f"\nWith `ignore_range_check_inputs_outputs` the main region has {free:,} rows: "
                   f"{total - free:,} fewer, of the {p['per_kind'][KINDS[0]]:,} above for committed inputs "
                   "(the rest copies them into the region).\n")
    cc = p.get("cross_check")
    if cc:
        upd, resc = KINDS[5], KINDS[2]
        moved = p["per_kind"][upd] + p["per_kind"][resc] - cc["per_kind"][upd] - cc["per_kind"][resc]
        out.append(f"\nCross-check by a differential compile: the same step with learning rate {cc['lr']:g} "
                   f"(no multiplication by the learning rate, so no rescale in the update) has "
                   f"{cc['model_rows']:,} main-region rows, {total - cc['model_rows']:,} fewer. The profiles of "
                   f"the two differ by {moved:,} rows in the update's arithmetic and rescaling, "
                   f"{p['rescaling_after'].get(upd, 0):,} of them the rescale after the update's subtraction.\n")
    out.append(HOW_BY_OP if res.get("by_op") else HOW.format(split=p["rebased_rows_split"]))
    return "".join(out)


HOW = """
How it is measured: ezkl's dummy layout (the pass that counts the rows written to the settings)
logs its row counter before each graph node (the debug log of `ezkl.graph.model` and
`ezkl.circuit.ops.region`, which pyo3-log hands to Python's logging); a node's rows are the
counter's step across it. The replay uses the calibrated run arguments and must reproduce the
compiled circuit's num_rows (the larger of the main region and, under the `hashed` commitment,
the Poseidon columns; under `public` there are none). A node's kind of work comes from its op (inputs, matrix products,
ReLU's max, comparison and select) or, for the loss, from the graph: the nodes between the model's
output and the gradient entering the first backward matrix product, and those computing the loss
(the step's last output). Row counts are ezkl's own; two things are attributions:
- ezkl fuses a rescale (a division by 2^scale, about 23 rows per element at 2 columns: the
  quotient's decomposition and the remainder's range check) into the node that needs it
  ("REBASED"); those nodes ({split:,} rows) are split by laying the graph out again with rescaling
  off: the node's rows there are its own op, the rest is rescaling;
- the loss region is found by the rule above (checked on the tiny MSE and the digits
  cross-entropy graphs, not on every graph).
"Committed inputs" is each input copied into the region and decomposed to range-check it (the
decomposition is what `ignore_range_check_inputs_outputs` removes); range checks inside an op (a
division's remainder) count with that op. Matrix products cost no main-region rows: ezkl checks them with Freivalds in
separate einsum columns (the second table). Lookups (exp, log) cost a row or so per value in the
main region; their price is the table, which spans the whole lookup range.
"""


HOW_BY_OP = """
How it is measured: as for the digits step above (ezkl's dummy layout replayed with the calibrated
run arguments, each node's rows the step of its row counter), grouped by the op ezkl lays out
(its rescaling wrappers removed, so an op's rows include the rescale fused into it). The rescales
are not split out: laid out without rescaling, this graph's scales overflow the field
("significant bit truncation").
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--layout-child"]:
        _layout_child(*argv[1:5])
        return 0
    from benchmarks.machine import machine
    from zkgrad import fsio

    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("digits", "tiny", "gpt"), default="digits")
    ap.add_argument("--steps", type=int, default=100, help="planned steps the circuit is calibrated along")
    ap.add_argument("--margin", type=float, default=1.25, help="lookup margin (zkgrad's default)")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/results/profile.json "
                    "for digits, profile-gpt.json for gpt; the section is written only then)")
    args = ap.parse_args(argv)
    spec, ds = models()[args.model]
    with tempfile.TemporaryDirectory(prefix="zkgrad-bench-profile-") as tmp:
        prof = profile(spec, ds, args.steps, args.margin, Path(tmp) / "spec", split_rescales=args.model != "gpt")
        if args.model != "gpt":  # the GPT's lr is 1 already: the per-kind rule does not read its graph
            # cross-check of the attribution by a differential compile: lr 1 multiplies by nothing, so
            # the rows the profile gives the update's rescale should go (calibrated on the first batch only)
            one = profile(dataclasses.replace(spec, lr=1.0), ds, 1, args.margin, Path(tmp) / "lr1")
            prof["cross_check"] = {"lr": 1.0, "model_rows": one["model_rows"], "per_kind": one["per_kind"],
                                   "rescaling_after": one["rescaling_after"]}
    label = {"digits": "the demo's digits step, MLP 64-16-10, batch 8, cross-entropy",
             "tiny": "MLP 4-8-3 (ReLU), batch 2, MSE",
             "gpt": f"the language-model demo's step, {spec.factory_kwargs}, batch {spec.batch_size}, next-token "
                    "cross-entropy over every position"}[args.model]
    command = "python -m benchmarks.profile" + ("" if args.model == "digits" else f" --model {args.model}") + \
        ("" if args.steps == 100 else f" --steps {args.steps}") + ("" if args.margin == 1.25 else f" --margin {args.margin}")
    res = {"machine": machine(), "command": command, "label": label, "profile": prof, "by_op": args.model == "gpt"}
    default = {"digits": (RESULTS, SECTION), "gpt": (GPT_RESULTS, GPT_SECTION)}.get(args.model)
    out = args.out or (default[0] if default else None)
    res["results"] = out.name if out is not None else None
    if out is not None:
        fsio.write_json(out, res)
    md = render(res)
    if default and out == default[0]:
        default[1].write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
