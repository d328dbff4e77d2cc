"""Which ONNX operators ezkl 23 can turn into a circuit, and a check that names the first one it cannot.

ezkl loads ONNX through tract: tract-onnx first lowers each ONNX op to tract ops
(``onnx/src/ops/**`` in sonos/tract at the revision ezkl pins), then ezkl's
``new_op_from_onnx`` (``src/graph/utilities.rs``) maps tract ops to circuit ops; an op it does not
know becomes ``Unknown`` and fails later with an unhelpful message. The set below lists ONNX ops
whose tract lowering lands only on ops ezkl maps (read from ezkl v23.0.4 and tract 37132e03).
It is deliberately conservative: an op missing here may still work; one listed may still be
refused for its attributes (e.g. ezkl refuses Conv dilations other than 1, Div by a
non-constant is rewritten by tract first).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from ..errors import CircuitError, MissingFileError, UnsupportedOperatorError

SUPPORTED_OPS: frozenset[str] = frozenset({
    # elementwise arithmetic
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Sign", "Reciprocal", "Pow", "Sqrt", "Rsqrt",
    "Sum", "Max", "Min", "Mean", "Clip", "Ceil", "Floor", "Round",
    # lookups (nonlinear)
    "Exp", "Log", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh",
    "Asinh", "Acosh", "Atanh", "Erf", "Sigmoid", "HardSwish", "Relu", "LeakyRelu",
    "Softmax", "LogSoftmax", "Softplus", "Softsign", "HardSigmoid", "PRelu", "Elu", "Selu",
    # linear algebra and convolutions
    "MatMul", "Gemm", "Einsum", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization",
    # reductions
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
    "ReduceSumSquare", "ArgMax", "ArgMin",
    # comparisons and logic
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Where",
    "Not", "And", "Or", "Xor", "BitShift",
    # shapes and indexing (static shapes; tract folds the shape arithmetic)
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Expand", "Concat", "Slice",
    "Split", "Pad", "Gather", "GatherElements", "GatherND", "ScatterElements", "TopK",
    "OneHot", "Range", "Trilu", "Resize", "Cast", "Constant", "ConstantOfShape", "Shape",
    "Size", "Identity", "Dropout", "CumSum",
})
"""ONNX operator names (default domain) that ezkl 23 compiles. Not listed on purpose: ScatterND
(tract fails to translate the ScatterND that a flat-vector gradient produces), Mod (tract's Rem:
"Unknown op" in ezkl, seen), IsNaN (seen), Tile (seen), Gelu (opset 20: tract has no translation,
seen), IsInf, NonZero, Compress, If, Loop, LSTM/GRU/RNN, LRN, Hardmax, random ops, DFT/STFT.
Checked one op at a time against onnxruntime through ezkl gen_witness (scale 12, errors <= 3e-3):
CumSum, LayerNormalization, InstanceNormalization, BatchNormalization, Softplus, Softsign,
HardSigmoid, PRelu, Elu, Selu, ReduceL2, ReduceSumSquare, Mean, Sum, Clip, Softmax, LogSoftmax,
GlobalAveragePool, GlobalMaxPool, Reciprocal, Split. AveragePool needs an explicit ``strides``."""

_DEFAULT_DOMAINS = ("", "ai.onnx")


def _walk(nodes: list[onnx.NodeProto], functions: dict[tuple[str, str], onnx.FunctionProto],
          seen: set[tuple[str, str]]) -> onnx.NodeProto | None:
    """The first node, in graph order (model-local functions expanded), that is not supported."""
    for node in nodes:
        key = (node.domain, node.op_type)
        if key in functions:
            if key not in seen:
                seen.add(key)
                bad = _walk(list(functions[key].node), functions, seen)
                if bad is not None:
                    return bad
            continue
        if node.domain not in _DEFAULT_DOMAINS or node.op_type not in SUPPORTED_OPS:
            return node
    return None


def check_onnx_ops(path: Path | str) -> None:
    """Raise ``UnsupportedOperatorError`` naming the first operator ezkl cannot compile, and
    ``CircuitError`` when weights are stored as external data (tract cannot load those)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise CircuitError(f"cannot read ONNX model {path}: {e}", hint="re-export the model", path=str(path)) from e
    functions = {(f.domain, f.name): f for f in model.functions}
    bad = _walk(list(model.graph.node), functions, set())
    if bad is not None:
        name = bad.op_type if bad.domain in _DEFAULT_DOMAINS else f"{bad.domain}::{bad.op_type}"
        err = UnsupportedOperatorError(name, path=path, detail=f"node '{bad.name}'")
        err.data["node"] = bad.name
        raise err
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise CircuitError(
            f"ONNX model {path} stores tensor '{external[0]}' as external data, which ezkl cannot load",
            hint="export with external_data=False", path=str(path),
        )
