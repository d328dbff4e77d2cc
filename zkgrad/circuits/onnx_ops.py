"""Which ONNX nodes ezkl 23 can turn into a circuit, and a check that refuses the others up front.

ezkl reads ONNX through tract (sonos/tract 37132e03, the revision ezkl v23.0.4/PyPI 23.0.5 pins).
tract-onnx looks each node up by ``op_type`` alone (domains ignored, model-local functions not
expanded) in its registry (``onnx/src/ops/**``); a name it lacks fails to load. It then lowers the
graph to tract ops and folds every node whose inputs are all constant (shapes are fixed, so a node
fed only by constants and ``Shape`` is folded too). ezkl's ``new_op_from_onnx``
(``src/graph/utilities.rs``) maps the remaining tract ops to circuit ops and unrolls ``Scan``, which
RNN, LSTM and GRU lower to; any other op becomes ``Unknown`` and fails as "General synthesis error"
without naming the node. So a node is refused here when tract cannot translate it at all, or when
it computes on the model's inputs and ezkl has no circuit for it. docs/OPERATORS.md records the
runs of ezkl that these tables were checked against.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CircuitError, MissingFileError, UnsupportedOperatorError

TRACT_OPS: frozenset[str] = frozenset("""
    Abs Acos Acosh Add And ArgMax ArgMin ArrayFeatureExtractor Asin Asinh Atan Atanh AveragePool
    BatchNormalization BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor BlackmanWindow Cast CastLike
    CategoryMapper Ceil Celu Clip Compress Concat Constant ConstantLike ConstantOfShape Conv ConvInteger
    ConvTranspose Cos Cosh CumSum DFT DepthToSpace DequantizeLinear Div Dropout DynamicQuantizeLinear
    Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor GRU Gather GatherElements GatherND Gemm
    GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual HammingWindow HannWindow
    HardSigmoid HardSwish Hardmax Identity If InstanceNormalization IsInf IsNaN LRN LSTM
    LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax MatMul MatMulInteger Max MaxPool Mean
    MelWeightMatrix Min Mod Mul Multinomial Neg NonMaxSuppression NonZero Not OneHot Or PRelu Pad
    ParametricSoftplus Pow QLinearConv QLinearMatMul QuantizeLinear RNN RandomNormal RandomNormalLike
    RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp
    ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Round Rsqrt
    STFT Scan ScaledTanh Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size
    Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu
    Tile TopK Transpose TreeEnsembleClassifier Trilu Unsqueeze Where Xor
""".split())
"""Every ONNX op name tract-onnx's registry translates (read from tract 37132e03)."""

_DATA_SHAPED = "its output's shape depends on the data; use a fixed-size mask (torch.where, multiply by a 0/1 tensor)"
_SIGNAL = ("compute it outside the model and pass the result in as a constant, or write a DFT as a MatMul with "
           "constant cos/sin matrices")
_RANDOM = "a circuit is deterministic: draw the random values outside and pass them in as a model input"
_TREES = "convert the tree ensemble to tensor operations with hummingbird-ml, as ezkl's own tree examples are"
_RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial"})
_BITWISE = "use boolean tensors with And/Or/Xor/Not (torch.logical_*), which ezkl compiles"

NO_CIRCUIT: dict[str, str] = {
    "Mod": "write it as x - floor(x / y) * y (torch.remainder exports that way), as ezkl's own remainder example does",
    "IsNaN": "circuit values are always finite: drop the check (torch.nan_to_num exports it)",
    "IsInf": "circuit values are always finite: drop the check (torch.nan_to_num exports it)",
    "BitwiseAnd": _BITWISE, "BitwiseOr": _BITWISE, "BitwiseXor": _BITWISE, "BitwiseNot": _BITWISE,
    "LRN": "express the local response normalisation with Pow, AveragePool and Div, or use BatchNormalization",
    "If": "make the condition depend only on constants and shapes, or compute both branches and pick with torch.where",
    "Tile": "ezkl compiles Tile only where it repeats dimensions of size 1: write x.repeat(...) as "
            "x.unsqueeze(d).expand(...).reshape(...)",
    "NonZero": _DATA_SHAPED, "Compress": _DATA_SHAPED, "NonMaxSuppression": _DATA_SHAPED,
    "DFT": _SIGNAL, "STFT": _SIGNAL, "MelWeightMatrix": _SIGNAL,
    "BlackmanWindow": _SIGNAL, "HammingWindow": _SIGNAL, "HannWindow": _SIGNAL,
    **{op: _RANDOM for op in _RANDOM_OPS},
    "TreeEnsembleClassifier": _TREES, "CategoryMapper": "map categories to integers before the model",
}
"""Ops tract translates but ezkl has no circuit for (seen failing in ezkl unless folded), with a
workaround. They are refused only where they compute on the model's inputs; random ops always."""

SUPPORTED_OPS: frozenset[str] = TRACT_OPS - NO_CIRCUIT.keys()
"""Ops ezkl compiles whatever they are fed (some attribute values aside: ezkl refuses those itself)."""

UNTRANSLATED_HINTS: dict[str, str] = {
    "Gelu": "export with opset 18 (zkgrad's default): Gelu exists from opset 20, earlier opsets write it with Erf",
    "Mish": "export with dynamo=False (as zkgrad export does), which writes Mish as x * tanh(softplus(x))",
    "GroupNormalization": "export from PyTorch: both its exporters write group norm as InstanceNormalization",
    "Loop": "unroll the loop: a Python for-loop over a fixed range exports as plain nodes",
    "Bernoulli": _RANDOM,
}
"""Workarounds for some ops tract has no translation for; every op not in TRACT_OPS is refused."""

_SHAPE_ONLY = frozenset({"Shape", "Size"})  # their output is fixed once shapes are: tract folds them
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH] + \
        [g for a in node.attribute if a.type == onnx.AttributeProto.GRAPHS for g in a.graphs]


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name the nodes of ``graph`` (and their subgraphs) read, outer scope included."""
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for sub in _subgraphs(node):
            names |= _names_read(sub)
    return names


class _Checker:
    """Walks a model's graph in order, tracking which values depend on the model's inputs."""

    def __init__(self, model: onnx.ModelProto, path: Path) -> None:
        self.path = path
        self.functions = {(f.domain, f.name) for f in model.functions}
        self.tensors = {t.name: t for t in _initializers(model.graph)}  # constant values, by name
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # onnx's inference rejects some valid models; shapes are only a refinement
            inferred = model.graph
        self.shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
                       for v in [*inferred.input, *inferred.value_info] if v.type.tensor_type.HasField("shape")}

    def graph(self, graph: onnx.GraphProto, dynamic: set[str]) -> None:
        dynamic = dynamic | {i.name for i in graph.input} - {t.name for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.tensors[node.output[0]] = node.attribute[0].t
            reads = set(node.input) | {n for sub in _subgraphs(node) for n in _names_read(sub)}
            live = node.op_type in _RANDOM_OPS or (node.op_type not in _SHAPE_ONLY and bool(reads & dynamic))
            self.node(node, live, dynamic)
            for sub in self._compiled_subgraphs(node):
                self.graph(sub, dynamic)
            if live:
                dynamic.update(n for n in node.output if n)

    def node(self, node: onnx.NodeProto, live: bool, dynamic: set[str]) -> None:
        op = node.op_type
        if op not in TRACT_OPS:
            local = (node.domain, op) in self.functions
            self.refuse(node, "it is a model-local function, which ezkl's loader does not expand: inline it first "
                              "(onnx.inliner.inline_local_functions)" if local else UNTRANSLATED_HINTS.get(
                                  op, "tract, ezkl's ONNX loader, has no translation for it: rewrite that part of "
                                      "the model with the operators in docs/OPERATORS.md"))
        if op == "If":
            live = node.input[0] in dynamic
        if not live:
            return  # tract computes it while loading the model: ezkl never sees it
        attrs = {a.name: a for a in node.attribute}
        hint = None if op == "Tile" and not self._tile_repeats_long_axis(node) else NO_CIRCUIT.get(op)
        if op in ("ArgMax", "ArgMin") and "select_last_index" in attrs and attrs["select_last_index"].i:
            hint = "ezkl compiles only select_last_index=0 (what torch.argmax exports)"
        if op in ("RNN", "LSTM", "GRU") and "direction" in attrs and attrs["direction"].s == b"bidirectional":
            hint = ("ezkl 23 panics on bidirectional layers: use two unidirectional ones, the second run on "
                    "x.flip(1) and its output flipped back, and concatenate their outputs")
        if hint is not None:
            self.refuse(node, hint)

    def _compiled_subgraphs(self, node: onnx.NodeProto) -> list[onnx.GraphProto]:
        """Scan's body is unrolled; of an If (its condition constant) tract inlines one branch."""
        cond = self.value(node.input[0]) if node.op_type == "If" else None
        if cond is not None and cond.size == 1:
            taken = "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"
            return [a.g for a in node.attribute if a.name == taken]
        return _subgraphs(node)

    def value(self, name: str) -> np.ndarray | None:
        t = self.tensors.get(name)
        return None if t is None or t.data_location == onnx.TensorProto.EXTERNAL else numpy_helper.to_array(t)

    def _tile_repeats_long_axis(self, node: onnx.NodeProto) -> bool:
        """True when the shapes show the Tile repeats an axis longer than 1 (ezkl has no circuit for
        that; repeating size-1 axes is a broadcast, which it compiles). Unknown shapes are left to ezkl."""
        shape, repeats = self.shapes.get(node.input[0]), self.value(node.input[1])
        if shape is None or repeats is None or len(shape) != repeats.size:
            return False
        return any(r > 1 and d is not None and d > 1 for d, r in zip(shape, repeats.reshape(-1).tolist()))

    def refuse(self, node: onnx.NodeProto, hint: str) -> NoReturn:
        op = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"
        raise UnsupportedOperatorError(op, node=node.name or (node.output[0] if node.output else ""), path=self.path,
                                       hint=hint)


def check_onnx_ops(path: Path | str) -> None:
    """Raise ``UnsupportedOperatorError`` naming the first node ezkl cannot compile, with a
    workaround, and ``CircuitError`` when tensors are stored as external data (tract cannot load those)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise CircuitError(f"cannot read ONNX model {path}: {e}", hint="re-export the model", path=str(path)) from e
    external = [t.name for t in _initializers(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise CircuitError(
            f"ONNX model {path} stores tensor '{external[0]}' as external data, which ezkl cannot load",
            hint="export with external_data=False", path=str(path),
        )
    _Checker(model, path).graph(model.graph, set())


def _initializers(graph: onnx.GraphProto) -> Iterable[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for sub in _subgraphs(node):
            yield from _initializers(sub)
