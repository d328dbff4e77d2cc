"""The op check refuses exactly what ezkl cannot compile: each case is run through the check and
through ezkl itself (gen_settings, where ezkl loads the graph), and the two must agree. RNN, LSTM and
GRU models exported from PyTorch compile, prove and verify."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zkgrad import engine
from zkgrad.circuits.compile import compile_model
from zkgrad.circuits.export import export_module, sample_json
from zkgrad.circuits.onnx_ops import SUPPORTED_OPS, TRACT_OPS, check_onnx_ops
from zkgrad.errors import UnsupportedOperatorError, ZkgradError
from zkgrad.prover.prove import prove
from zkgrad.verifier.offchain import verify

from .helpers import flip_proof_byte


def _const(name: str, value: object, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], shape: tuple[int, ...] = (2, 3),
           functions: list[onnx.FunctionProto] = (), opset: int = 18) -> onnx.ModelProto:  # type: ignore[assignment]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("local", 1)],
                             functions=list(functions))


def _branch(op: str) -> onnx.GraphProto:
    return helper.make_graph([helper.make_node(op, ["x"], [f"{op}_out"])], op, [],
                             [helper.make_tensor_value_info(f"{op}_out", TensorProto.FLOAT, [2, 3])])


def _if(cond_nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> onnx.ModelProto:
    return _model([*cond_nodes, helper.make_node("If", ["cond"], ["y"], name="pick", then_branch=_branch("Neg"),
                                                 else_branch=_branch("Abs"))], inits)


def _local_function() -> onnx.ModelProto:
    fn = helper.make_function("local", "Double", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 18)])
    return _model([helper.make_node("Double", ["x"], ["y"], name="twice", domain="local")], [], functions=[fn])


H = helper.make_node
CASES: dict[str, tuple[Callable[[], onnx.ModelProto], str | None]] = {
    # name: (model, the node refused or None when ezkl compiles it)
    "mod-on-input": (lambda: _model([H("Mod", ["x", "m"], ["y"], name="rem", fmod=1)], [_const("m", 0.5)]), "rem"),
    "mod-of-constants-is-folded": (lambda: _model([H("Mod", ["a", "m"], ["c"], fmod=1), H("Add", ["x", "c"], ["y"])],
                                                  [_const("a", np.full((2, 3), 5.0)), _const("m", 3.0)]), None),
    "isnan-on-input": (lambda: _model([H("IsNaN", ["x"], ["n"], name="nan"), H("Cast", ["n"], ["c"], to=1),
                                       H("Add", ["x", "c"], ["y"])], []), "nan"),
    "tile-repeating-a-long-axis": (lambda: _model([H("Tile", ["x", "r"], ["y"], name="rep")],
                                                  [_const("r", [1, 2], np.int64)]), "rep"),
    "tile-broadcasting-size-1": (lambda: _model([H("Tile", ["x", "r"], ["y"], name="rep")],
                                                [_const("r", [2, 1], np.int64)], shape=(1, 3)), None),
    "tile-of-constants-is-folded": (lambda: _model(
        [H("Tile", ["a", "r"], ["c"]), H("Concat", ["x", "x"], ["xx"], axis=1), H("Add", ["xx", "c"], ["y"])],
        [_const("a", np.ones((2, 3))), _const("r", [1, 2], np.int64)]), None),
    "if-on-data": (lambda: _if([H("ReduceSum", ["x"], ["s"], keepdims=0), H("Greater", ["s", "z"], ["cond"])],
                               [_const("z", 0.0)]), "pick"),
    "if-on-a-constant": (lambda: _if([], [_const("cond", True, np.bool_)]), None),
    "if-on-a-shape": (lambda: _if([H("Shape", ["x"], ["s"]), H("ReduceSum", ["s"], ["n"], keepdims=0),
                                   H("Equal", ["n", "five"], ["cond"])], [_const("five", 5, np.int64)]), None),
    "nonzero-of-constants-is-folded": (lambda: _model([H("NonZero", ["a"], ["nz"]), H("Cast", ["nz"], ["f"], to=1),
                                                       H("ReduceSum", ["f"], ["s"], keepdims=0),
                                                       H("Add", ["x", "s"], ["y"])],
                                                      [_const("a", np.eye(2, 3))]), None),
    "random": (lambda: _model([H("RandomNormal", [], ["n"], name="noise", shape=[2, 3]), H("Add", ["x", "n"], ["y"])],
                              []), "noise"),
    "gelu-opset-20": (lambda: _model([H("Gelu", ["x"], ["y"], name="act")], [], opset=20), "act"),
    "lrn-on-input": (lambda: _model([H("Unsqueeze", ["x", "ax"], ["x4"]), H("LRN", ["x4"], ["l"], name="lrn", size=1),
                                     H("Squeeze", ["l", "ax"], ["y"])], [_const("ax", [2, 3], np.int64)]), "lrn"),
    "local-function": (_local_function, "twice"),
}


@pytest.mark.parametrize("case", CASES)
def test_check_agrees_with_ezkl(case: str, tmp_path: Path) -> None:
    build, refused_node = CASES[case]
    path = tmp_path / "m.onnx"
    onnx.save(build(), str(path))
    if refused_node is None:
        check_onnx_ops(path)
        engine.gen_settings(model=path, settings=tmp_path / "s.json", args=engine.run_args())
        return
    with pytest.raises(UnsupportedOperatorError) as info:
        check_onnx_ops(path)
    err = info.value
    assert err.data["node"] == refused_node and f"'{refused_node}'" in str(err)
    assert f"'{err.operator}'" in str(err) and err.hint and err.hint in str(err) and "\n" not in str(err)
    with pytest.raises(ZkgradError):  # the refusal is real: ezkl fails on the same graph
        engine.gen_settings(model=path, settings=tmp_path / "s.json", args=engine.run_args())


def test_workarounds_in_hints_compile(tmp_path: Path) -> None:
    """The Tile hint's rewrite and the Mod hint's formula are accepted by the check and by ezkl."""
    rewrites = {"repeat": lambda x: x.unsqueeze(1).expand(2, 2, 3).reshape(2, 6),
                "remainder": lambda x: x - torch.floor(x / 0.5) * 0.5}
    x = torch.randn(2, 3)
    assert torch.equal(rewrites["repeat"](x), x.repeat(1, 2))
    for name, fn in rewrites.items():
        path = export_module(_Lambda(fn), x, tmp_path / f"{name}.onnx")
        check_onnx_ops(path)
        engine.gen_settings(model=path, settings=tmp_path / f"{name}.json", args=engine.run_args())


class _Lambda(torch.nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Bidirectional(torch.nn.Module):
    """A bidirectional LSTM, or (``split``) the rewrite the refusal suggests: two one-way layers."""

    def __init__(self, split: bool) -> None:
        super().__init__()
        self.split = split
        self.both = torch.nn.LSTM(2, 3, batch_first=True, bidirectional=True)
        self.fwd, self.bwd = torch.nn.LSTM(2, 3, batch_first=True), torch.nn.LSTM(2, 3, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.split:
            return self.both(x)[0]
        return torch.cat([self.fwd(x)[0], self.bwd(x.flip(1))[0].flip(1)], dim=-1)


def test_bidirectional_recurrence_is_refused_and_the_rewrite_compiles(tmp_path: Path) -> None:
    x = torch.randn(1, 3, 2)
    bidi = export_module(Bidirectional(split=False), x, tmp_path / "bidi.onnx")
    with pytest.raises(UnsupportedOperatorError, match="bidirectional") as info:
        check_onnx_ops(bidi)
    assert info.value.operator == "LSTM"
    with pytest.raises(BaseException):  # ezkl 23 panics (pyo3 PanicException is no Exception)
        engine.gen_settings(model=bidi, settings=tmp_path / "b.json", args=engine.run_args())
    split = export_module(Bidirectional(split=True), x, tmp_path / "split.onnx")
    check_onnx_ops(split)
    engine.gen_settings(model=split, settings=tmp_path / "s.json", args=engine.run_args())


def test_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = export_module(_Lambda(lambda x: x.repeat(1, 2)), torch.randn(2, 3), tmp_path / "rep.onnx")
    with pytest.raises(UnsupportedOperatorError) as info:
        compile_model(path, sample_json(torch.randn(2, 3)), out=tmp_path / "circuit")
    assert info.value.operator == "Tile" and "expand" in str(info.value)
    assert not (tmp_path / "circuit").exists()


def test_tables_are_consistent() -> None:
    assert SUPPORTED_OPS < TRACT_OPS
    assert {"RNN", "LSTM", "GRU", "Scan", "ScatterND", "ReduceL1", "ReduceLogSumExp", "Celu"} <= SUPPORTED_OPS
    assert {"Mod", "Tile", "IsNaN", "If", "RandomNormal"}.isdisjoint(SUPPORTED_OPS)
    assert {"Gelu", "Loop", "GroupNormalization", "Mish"}.isdisjoint(TRACT_OPS)


# --- recurrent models, end to end ------------------------------------------------------------
class Recurrent(torch.nn.Module):
    """A tiny torch.nn.RNN/LSTM/GRU (input 2, hidden 3) returning its output sequence."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(input_size=2, hidden_size=3, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


@pytest.mark.proof
@pytest.mark.parametrize("kind", [pytest.param("RNN", marks=pytest.mark.slow), "LSTM",
                                  pytest.param("GRU", marks=pytest.mark.slow)])  # LSTM: the most gates
def test_recurrent_model_compiles_proves_and_verifies(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(5)
    net, x = Recurrent(kind), torch.randn(1, 3, 2)  # batch 1, sequence length 3
    path = export_module(net, x, tmp_path / "net.onnx")
    assert kind in {n.op_type for n in onnx.load(str(path)).graph.node}  # exported as the ONNX op, not unrolled
    (tmp_path / "input.json").write_text(json.dumps(sample_json(x)))
    circuit, _ = compile_model(path, tmp_path / "input.json", out=tmp_path / "circuit")
    result = prove(circuit, tmp_path / "input.json", out=tmp_path / "proof.json")
    with torch.no_grad():
        expected = net(x).flatten().tolist()
    assert result.outputs[0] == pytest.approx(expected, abs=0.05)
    assert verify(result.path, circuit)
    assert not verify(flip_proof_byte(result.path, tmp_path / "bad.json"), circuit)


# --- ezkl's own examples ----------------------------------------------------------------------
EZKL_REPO = Path(os.environ.get("EZKL_REPO", "/work/.mirror/zkonduit+ezkl/repo"))
"""A clone (bare or not) of zkonduit/ezkl at v23.0.4 or later; the examples are read with git, never copied here."""


def _ezkl_examples(dest: Path) -> list[Path]:
    """Write examples/onnx/*/{network.onnx,input.json} from the ezkl repository under ``dest``;
    files missing from a partial clone are skipped."""
    git = ["git", "-C", str(EZKL_REPO)]
    listing = subprocess.run([*git, "ls-tree", "-r", "HEAD", "examples/onnx"], capture_output=True, text=True,
                             check=True)
    for line in listing.stdout.splitlines():
        meta, path = line.split("\t", 1)
        if Path(path).name in ("network.onnx", "input.json"):
            blob = subprocess.run([*git, "cat-file", "blob", meta.split()[2]], capture_output=True)
            if blob.returncode == 0:
                (dest / path).parent.mkdir(parents=True, exist_ok=True)
                (dest / path).write_bytes(blob.stdout)
    return sorted(p.parent for p in dest.glob("examples/onnx/*/network.onnx"))


def _ezkl_compiles(example: Path, work: Path) -> str | None:
    """None when plain ezkl (through the engine) compiles the example, else its error. One scale
    (7) keeps calibration to minutes; a few examples need another scale, which says nothing about ops."""
    settings, model = work / f"{example.name}.json", example / "network.onnx"
    try:
        engine.gen_settings(model=model, settings=settings, args=engine.run_args())
        engine.calibrate(data=example / "input.json", model=model, settings=settings, target="resources",
                         scales=[7], rebase_multipliers=[1], max_logrows=None, lookup_safety_margin=2.0)
        engine.compile_circuit(model=model, compiled=work / f"{example.name}.ezkl", settings=settings)
    except ZkgradError as e:
        return str(e)
    return None


@pytest.mark.slow
def test_check_agrees_with_ezkl_on_its_examples(tmp_path: Path) -> None:
    """Nothing ezkl compiles is refused; what the check lets through and ezkl refuses fails with a
    translated error. docs/OPERATORS.md records a run."""
    if not (EZKL_REPO / "HEAD").exists() and not (EZKL_REPO / ".git").exists():
        pytest.skip(f"no ezkl repository at {EZKL_REPO} (set EZKL_REPO)")
    examples = _ezkl_examples(tmp_path)
    assert len(examples) > 100
    wrongly_refused, compiled = [], 0
    for example in examples:
        try:
            check_onnx_ops(example / "network.onnx")
            refused = None
        except ZkgradError as e:
            refused = e
        ezkl_error = _ezkl_compiles(example, tmp_path)  # a ZkgradError was translated by the engine
        compiled += ezkl_error is None
        if refused is not None and ezkl_error is None:
            wrongly_refused.append(f"{example.name}: {refused}")
    assert not wrongly_refused
    assert compiled >= 110
