"""The step-circuit profiler (``python -m benchmarks.profile``) on the tiny MLP: a real ezkl compile
(settings and calibration, no setup), its rows broken down by kind of work."""

from __future__ import annotations

from pathlib import Path

from benchmarks.profile import (
    KINDS,
    graph,
    inner_op,
    kind,
    loss_region,
    models,
    node_rows,
    profile,
    render,
)

LOG = """ezkl.graph.model|calculating num of constraints using dummy model layout...
ezkl.graph.model|laying out 0: Input
ezkl.circuit.ops.region|(rows=0, coord=0, constants=0)
ezkl.graph.model|laying out 2: REBASED (div=4096.0, rebasing_op=DIV (denom=4096)) (EINSUM mk,nk->mn)
ezkl.circuit.ops.region|(rows=40, coord=80, constants=2)
ezkl.graph.model|laying out 7: LEAKYRELU (slope=0)
ezkl.circuit.ops.region|(rows=408, coord=816, constants=2)
ezkl.graph.model|model outputs are nodes: [(7, 0)]
ezkl.circuit.ops.region|(rows=537, coord=1074, constants=2)
"""


def test_node_rows_are_the_counter_steps_of_the_last_layout() -> None:
    nodes, total = node_rows("ezkl.graph.model|calculating num of constraints using dummy model layout...\n"
                             "ezkl.graph.model|laying out 0: Input\nezkl.circuit.ops.region|(rows=0, coord=0)\n"
                             "ezkl.circuit.ops.region|(rows=9, coord=18)\n" + LOG)
    assert [(n["node"], n["rows"]) for n in nodes] == [(0, 40), (2, 368), (7, 129)]
    assert total == 537 == sum(n["rows"] for n in nodes)


def test_ops_are_sorted_into_kinds_of_work() -> None:
    assert inner_op("REBASED (div=4.0, rebasing_op=DIV (denom=4)) (RESCALED INPUT (SUB))") == "SUB"
    assert kind("REBASED (div=4096.0, rebasing_op=DIV (denom=4096)) (EINSUM mk,nk->mn)") == KINDS[1] == "matrix products"
    assert kind("Input") == KINDS[0] == "committed inputs (assigned and range-checked)"
    assert kind("RESCALED INPUT (IFF)") == kind("LEAKYRELU (slope=0)") == "ReLU (forward and backward mask)"
    assert kind("IDENTITY (out_scale=Some(14))") == "rescaling"
    assert kind("EXP(scale=4096, base=2.7182817)", in_loss=True) == KINDS[4]
    assert kind("REBASED (div=2.0, rebasing_op=DIV (denom=2)) (RESCALED INPUT (SUB))") == KINDS[5]


GRAPH = """ezkl.graph.utilities|Loading node: Node { id: 0, name: "x", inputs: [], op: TypedSource { fact: 2,4,F32 }, outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 1, name: "w", inputs: [], op: TypedSource { fact: 3,4,F32 }, outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 2, name: "logits", inputs: [0/0>, 1/0>], op: EinSum mk,nk->mn (F32), outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 3, name: "y", inputs: [], op: TypedSource { fact: 2,3,F32 }, outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 4, name: "err", inputs: [2/0>, 3/0>], op: TypedBinOp(Sub, None), outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 5, name: "gw", inputs: [4/0>, 0/0>], op: EinSum km,kn->mn (F32), outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 6, name: "w2", inputs: [1/0>, 5/0>], op: TypedBinOp(Sub, None), outputs: []}
ezkl.graph.utilities|Loading node: Node { id: 7, name: "loss", inputs: [4/0>], op: Reduce { axes: [0, 1], reducer: MeanOfSquares }, outputs: []}
ezkl.graph.model|model outputs are nodes: [(6, 0), (7, 0)]
"""


def test_loss_region_is_between_the_output_and_the_gradient() -> None:
    assert loss_region(*graph(GRAPH)) == {4, 7}  # not the forward product, the weight gradient or the update


def test_tiny_step_profile_adds_up(tmp_path: Path) -> None:
    spec, ds = models()["tiny"]
    p = profile(spec, ds, 2, 1.25, tmp_path)
    assert list(p["per_kind"]) == list(KINDS)
    assert sum(p["per_kind"].values()) == p["model_rows"] == sum(n["rows"] for n in p["nodes"]) > 0
    checks = p["input_range_checks"]  # public: compiled as zkgrad does, the inputs not range-checked
    assert checks["ignored"] and checks["rows_the_other_way"] > p["model_rows"]
    assert p["per_kind"][KINDS[0]] > 0 and p["per_kind"]["ReLU (forward and backward mask)"] > 0
    assert p["per_kind"]["rescaling"] > 0 and p["per_kind"][KINDS[4]] > 0  # MSE: the loss and its gradient
    # num_rows is the largest of the main region and the Poseidon columns; logrows the largest need of any part
    assert p["num_rows"] == max(p["model_rows"], p["columns"]["Poseidon (commitments of inputs and outputs)"])
    assert max(p["columns_logrows"].values()) == p["logrows"]
    md = render({"machine": {"nproc": 2, "cpu": "x", "ram_gib": 1, "ezkl": "23", "date": "d", "loadavg": [1.0]},
                 "command": "python -m benchmarks.profile --model tiny", "label": "tiny", "profile": p})
    assert f"| **main region, total** | **{p['model_rows']:,}** | 100% |" in md
    assert sum(p["per_op"].values()) == p["model_rows"] and list(p["per_op"].values()) == sorted(p["per_op"].values(), reverse=True)
    by_op = render({"machine": {"nproc": 2, "cpu": "x", "ram_gib": 1, "ezkl": "23", "date": "d", "loadavg": [1.0]},
                    "command": "c", "label": "tiny", "profile": p, "by_op": True})
    top = next(iter(p["per_op"]))
    assert f"| `{top}` | {p['per_op'][top]:,} |" in by_op and "| kind of work |" not in by_op
