"""Training-step and inference export: torch == onnxruntime, the StepLayout order, ezkl loads them,
unsupported operators are named. Runs ezkl gen_settings/compile/gen_witness (seconds), never prove."""

from __future__ import annotations

import json
from pathlib import Path

import ezkl
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from zkgrad import engine
from zkgrad.circuits.config import committed
from zkgrad.circuits.float_graph import FloatGraph, check_agrees, float_graph
from zkgrad.circuits.onnx_ops import SUPPORTED_OPS, check_onnx_ops
from zkgrad.circuits.training import (
    StepGraph,
    export_inference,
    export_training_step,
    float_step,
)
from zkgrad.devices import cuda_devices
from zkgrad.errors import CircuitError, InputError, UnsupportedOperatorError
from zkgrad.layout import FIELD_MODULUS, AnswerLayout, StepLayout
from zkgrad.model.quant import (
    dequantize,
    felt_to_int,
    int_to_felt,
    quantize,
    witness_output_ints,
)
from zkgrad.model.spec import ModelSpec

MLP = dict(factory="zkgrad.models:digits_mlp", input_shape=(64,))
CNN = dict(factory="zkgrad.models:digits_cnn", input_shape=(1, 8, 8))

CASES = {
    "mlp-ce": ModelSpec(**MLP, loss="cross_entropy", lr=0.1, batch_size=8, target_shape=(10,)),
    "mlp-mse": ModelSpec(**MLP, loss="mse", lr=0.1, batch_size=8, target_shape=(10,)),
    "cnn-ce": ModelSpec(**CNN, loss="cross_entropy", lr=0.1, batch_size=4, target_shape=(10,)),
    "cnn-mse": ModelSpec(**CNN, loss="mse", lr=0.05, batch_size=4, target_shape=(10,)),
    "mlp-ce-momentum-wd": ModelSpec(**MLP, loss="cross_entropy", lr=0.1, momentum=0.9,
                                    weight_decay=1e-3, batch_size=8, target_shape=(10,)),
    "ln-mlp-ce": ModelSpec(factory="zkgrad.models:digits_ln_mlp", input_shape=(64,), loss="cross_entropy", lr=0.1,
                           batch_size=8, target_shape=(10,)),
}


def batch(spec: ModelSpec, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random(spec.x_shape).astype(np.float32)
    if spec.loss == "cross_entropy":
        y = np.eye(spec.num_classes, dtype=np.float32)[rng.integers(0, spec.num_classes, spec.batch_size)]
    else:
        y = rng.normal(size=spec.y_shape).astype(np.float32)
    return x, y


def start_state(spec: ModelSpec, seed: int = 1) -> list[np.ndarray]:
    """Parameters and (random, to exercise them) momentum buffers."""
    params = [p.detach().numpy() for p in spec.build_module().parameters()]
    rng = np.random.default_rng(seed)
    bufs = [rng.normal(scale=0.01, size=p.shape).astype(np.float32) for p in params] if spec.has_momentum else []
    return params + bufs


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StepGraph]:
    d = tmp_path_factory.mktemp("export")
    return {k: export_training_step(s, d / f"{k}.onnx") for k, s in CASES.items()}


def ezkl_loads(onnx_path: Path, input_data: list[np.ndarray], scale: int, tmp: Path, kind: str = "step",
               scheme: str = "public") -> dict:
    """gen_settings (zkgrad's ``committed`` config) + calibrate + compile + gen_witness; returns
    settings and witness."""
    cfg = committed(kind, scale, scheme)  # type: ignore[arg-type]
    ra = engine.run_args(input_visibility=cfg.input_visibility, output_visibility=cfg.output_visibility,
                         param_visibility=cfg.param_visibility, input_scale=scale, param_scale=scale,
                         scale_rebase_multiplier=1,
                         ignore_range_check_inputs_outputs=cfg.ignore_range_check_inputs_outputs)
    settings, compiled = tmp / "settings.json", tmp / "model.compiled"
    data, witness = tmp / "input.json", tmp / "witness.json"
    data.write_text(json.dumps({"input_data": [np.asarray(a, np.float64).reshape(-1).tolist() for a in input_data]}))
    assert ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=ra)
    assert ezkl.calibrate_settings(str(data), str(onnx_path), str(settings), "resources",
                                   scales=[scale], scale_rebase_multiplier=[1])
    assert ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    ezkl.gen_witness(str(data), str(compiled), str(witness))
    return {"settings": json.loads(settings.read_text()), "witness": json.loads(witness.read_text())}


# --- torch == onnxruntime -------------------------------------------------------------------
def test_float_pass_refuses_a_graph_that_disagrees_or_overflows(exported: dict[str, StepGraph]) -> None:
    spec, graph = CASES["mlp-mse"], exported["mlp-mse"]
    state, (x, y) = start_state(spec), batch(spec)
    fg = float_graph(graph.onnx_path)
    assert float_graph(graph.onnx_path) is fg  # one session per unchanged file
    good = fg.run(*state, x, y)
    check_agrees(fg, [*state, x, y], good)  # its own outputs agree
    off = [o.copy() for o in good]
    off[0][0] += 1e-2  # one weight of the reference moved: the export check must notice
    with pytest.raises(CircuitError, match="differs from torch"):
        check_agrees(fg, [*state, x, y], off)
    big = x.copy()
    big[0, 0] = np.inf
    with pytest.raises(CircuitError, match="not finite"):
        check_agrees(fg, [*state, big, y], good)
    with pytest.raises(CircuitError, match="takes"):
        fg.run(x, y)
    if cuda_devices() == 0:
        assert fg.provider == "CPUExecutionProvider"


@pytest.mark.parametrize("case", list(CASES))
def test_step_graph_matches_torch(case: str, exported: dict[str, StepGraph]) -> None:
    spec, graph = CASES[case], exported[case]
    state = start_state(spec)
    x, y = batch(spec)
    fg = FloatGraph(graph.onnx_path)
    assert fg.input_names == list(graph.input_names)
    outs = fg.run(*state, x, y)  # the float pass zkgrad uses for fidelity and shadow runs
    ref, ref_loss = float_step(spec, state, x, y)
    assert len(outs) == len(ref) + 1
    for got, want in zip(outs[:-1], ref):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=1e-5)
    assert outs[-1].shape == (1,)
    assert abs(float(outs[-1][0]) - ref_loss) < 1e-5
    # the step really moved the weights (a graph that returns its inputs would pass the above
    # only if float_step were equally broken)
    assert max(float(np.abs(o - s).max()) for o, s in zip(outs[: len(state)], state)) > 1e-4


def test_float_step_is_torch_sgd() -> None:
    """float_step equals torch.optim.SGD on the same module: loss, momentum, weight decay; its
    momentum state is torch's buffer times lr (the velocity)."""
    spec = CASES["mlp-ce-momentum-wd"]
    module = spec.build_module()
    x, y = batch(spec)
    opt = torch.optim.SGD(module.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    params0 = [p.detach().clone().numpy() for p in module.parameters()]
    state: list[np.ndarray] = params0 + [np.zeros_like(p) for p in params0]
    for step in range(2):
        opt.zero_grad()
        logits = module(torch.tensor(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y).argmax(1))
        loss.backward()
        opt.step()
        new, our_loss = float_step(spec, state, x, y)
        state = [t.numpy() for t in new]
        assert abs(our_loss - loss.item()) < 1e-5
        params = list(module.parameters())
        for ours, p in zip(state, params):
            np.testing.assert_allclose(ours, p.detach().numpy(), atol=1e-6)
        for v, p in zip(state[len(params):], params):
            np.testing.assert_allclose(v, spec.lr * opt.state[p]["momentum_buffer"].numpy(), atol=1e-6)


# --- names and order ------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_graph_io_follows_step_layout(case: str, exported: dict[str, StepGraph]) -> None:
    spec, graph = CASES[case], exported[case]
    module = spec.build_module()
    names = [n for n, _ in module.named_parameters()]
    shapes = [tuple(p.shape) for p in module.parameters()]
    model = onnx.load(str(graph.onnx_path))
    ins = [(i.name, tuple(d.dim_value for d in i.type.tensor_type.shape.dim)) for i in model.graph.input]
    outs = [(o.name, tuple(d.dim_value for d in o.type.tensor_type.shape.dim)) for o in model.graph.output]
    P = len(names)
    n_state = 2 * P if spec.has_momentum else P
    assert graph.param_names == tuple(names) and graph.n_state == n_state
    expected_in = [f"p{i}_{n.replace('.', '_')}" for i, n in enumerate(names)]
    if spec.has_momentum:
        expected_in += [f"m{i}_{n.replace('.', '_')}" for i, n in enumerate(names)]
    assert [n for n, _ in ins] == expected_in + ["x", "y", "claim"] == list(graph.input_names)
    assert [s for _, s in ins] == shapes * (n_state // P) + [spec.x_shape, spec.y_shape, (1,)]
    claim_readers = [n.op_type for n in model.graph.node if "claim" in n.input]
    assert claim_readers == []  # the claim is bound by the proof's transcript, not by any operation
    assert [n for n, _ in outs] == [f"new_{n}" for n in expected_in] + ["loss"]
    assert [s for _, s in outs] == shapes * (n_state // P) + [(1,)]
    # hashed: one public hash per tensor, in graph order; public: every value of every tensor
    hashed = graph.layout("hashed")
    assert hashed == StepLayout(n_state, 2, P) and hashed.length == len(ins) + len(outs)
    sizes = [int(np.prod(s)) for s in shapes]
    public = graph.layout("public")
    assert public == StepLayout(sum(sizes) * (n_state // P), int(np.prod(spec.x_shape)) + int(np.prod(spec.y_shape)),
                                sum(sizes))
    assert public.length == sum(int(np.prod(s)) for _, s in ins + outs)


def test_inference_graph(tmp_path: Path) -> None:
    spec = CASES["cnn-ce"]
    graph = export_inference(spec, tmp_path / "inf.onnx")
    module = spec.build_module()
    x, _ = batch(spec)
    params = [p.detach().numpy() for p in module.parameters()]
    (logits,) = ort.InferenceSession(str(graph.onnx_path)).run(None, dict(zip(graph.input_names, [*params, x])))
    np.testing.assert_allclose(logits, module(torch.tensor(x)).detach().numpy(), atol=1e-5)
    assert graph.input_names[-1] == "x" and graph.input_names[:-1] == tuple(
        f"p{i}_{n.replace('.', '_')}" for i, n in enumerate(graph.param_names))
    assert graph.layout("hashed") == AnswerLayout(len(params), 1, spec.batch_size * 10)
    assert graph.layout("public") == AnswerLayout(sum(p.size for p in params), x.size, spec.batch_size * 10)


# --- ezkl loads what we export ----------------------------------------------------------------
@pytest.mark.parametrize("case, scheme", [("mlp-ce", "public"), ("cnn-ce", "public"),
                                          ("mlp-ce-momentum-wd", "public"), ("mlp-ce", "hashed"),
                                          ("ln-mlp-ce", "public")])  # nn.LayerNorm: zkgrad.circuits.rewrites
def test_ezkl_compiles_step(case: str, scheme: str, exported: dict[str, StepGraph], tmp_path: Path) -> None:
    spec, graph = CASES[case], exported[case]
    state = [dequantize(quantize(t, 12), 12) for t in start_state(spec)]
    x, y = batch(spec)
    x = dequantize(quantize(x, 12), 12)
    out = ezkl_loads(graph.onnx_path, [*state, x, y, np.zeros(1)], 12, tmp_path, scheme=scheme)
    processed = (out["witness"]["processed_inputs"] or {}).get("poseidon_hash") or []
    assert len(processed) == (len(graph.input_names) if scheme == "hashed" else 0)
    # parameter outputs keep the input scale: the words of step t's output are step t+1's input words
    assert out["settings"]["model_output_scales"][: graph.n_state] == [12] * graph.n_state
    assert out["settings"]["model_input_scales"] == [12] * len(graph.input_names)
    proven = witness_output_ints(out["witness"], list(graph.output_shapes))
    ref, ref_loss = float_step(spec, state, x, y)
    err = max(float(np.abs(dequantize(p, 12) - r.numpy()).max()) for p, r in zip(proven, ref))
    assert err < 2e-3  # fixed point at 2**-12 plus lookup approximations
    assert abs(float(dequantize(proven[-1], out["settings"]["model_output_scales"][-1])[0]) - ref_loss) < 2e-2


@pytest.mark.parametrize("scheme", ["public", "hashed"])
def test_ezkl_compiles_inference(scheme: str, tmp_path: Path) -> None:
    spec = CASES["mlp-ce"]
    graph = export_inference(spec, tmp_path / "inf.onnx")
    params = [dequantize(quantize(p, 12), 12) for p in start_state(spec)]
    x, _ = batch(spec)
    out = ezkl_loads(graph.onnx_path, [*params, dequantize(quantize(x, 12), 12)], 12, tmp_path, "answer", scheme)
    layout = graph.layout(scheme)
    if scheme == "hashed":
        assert len(out["witness"]["processed_inputs"]["poseidon_hash"]) == len(params) + 1
    else:  # every input value is public: the quantized weights, then x
        ins = [felt_to_int(v) for t in out["witness"]["inputs"] for v in t]
        assert len(ins) == layout.weights_words + layout.input_words
        assert ins == [int(v) for a in [*params, x] for v in quantize(a, 12).reshape(-1)]


# --- unsupported operators ----------------------------------------------------------------------
class FmodNet(nn.Module):
    """A real model with an operator ezkl lacks: fmod exports as ONNX Mod (tract's Rem)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fmod(self.fc(x), 0.5)


def test_unsupported_operator_is_named(tmp_path: Path) -> None:
    spec = ModelSpec(factory="zkgrad.models:tiny_mlp", loss="mse", lr=0.1, batch_size=2,
                     input_shape=(4,), target_shape=(3,))
    with pytest.raises(UnsupportedOperatorError) as info:
        export_training_step(spec, tmp_path / "fmod.onnx", module=FmodNet())
    assert info.value.operator == "Mod"
    assert "'Mod'" in str(info.value) and info.value.data["node"] in str(info.value)
    assert "Mod" not in SUPPORTED_OPS


def test_unsupported_operator_really_fails_in_ezkl(tmp_path: Path) -> None:
    """The list is not wishful: the same Mod graph is refused by ezkl itself."""
    path = tmp_path / "fmod.onnx"
    torch.onnx.export(FmodNet(), (torch.randn(2, 4),), str(path), dynamo=True, opset_version=18,
                      external_data=False)
    with pytest.raises(UnsupportedOperatorError, match="Mod"):
        check_onnx_ops(path)
    with pytest.raises(RuntimeError):
        ezkl.gen_settings(str(path), str(tmp_path / "s.json"))


def test_every_exported_op_is_supported(exported: dict[str, StepGraph]) -> None:
    for graph in exported.values():
        check_onnx_ops(graph.onnx_path)  # raises on the first unsupported one
        ops = {n.op_type for n in onnx.load(str(graph.onnx_path)).graph.node}
        assert ops <= SUPPORTED_OPS


# --- spec ---------------------------------------------------------------------------------------
def test_spec_round_trip(tmp_path: Path) -> None:
    spec = CASES["mlp-ce-momentum-wd"]
    path = spec.save(tmp_path / "spec.json")
    assert ModelSpec.load(path) == spec
    doc = json.loads(path.read_text())
    assert doc["input_shape"] == [64] and doc["commitment"] == "public"  # the default
    hashed = ModelSpec.from_dict({**doc, "commitment": "hashed"})
    assert ModelSpec.load(hashed.save(tmp_path / "h.json")).commitment == "hashed" and hashed != spec


@pytest.mark.parametrize(
    "change, message",
    [
        ({"factory": "zkgrad.models"}, "module:function"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"optimizer": "adam"}, "unknown optimizer"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"momentum": 1.0}, "momentum must be < 1"),
        ({"batch_size": 0}, "batch_size"),
        ({"input_shape": []}, "input_shape"),
        ({"target_shape": [2, 5]}, "cross_entropy needs target_shape"),
        ({"scale": 40}, "scale"),
        ({"commitment": "poseidon"}, "unknown commitment"),
        ({"colour": "red"}, "unknown model spec field"),
    ],
)
def test_spec_rejects(change: dict, message: str) -> None:
    data = {**CASES["mlp-ce"].to_dict(), **change}
    with pytest.raises(InputError, match=message):
        ModelSpec.from_dict(data)


@pytest.mark.parametrize("factory, message", [
    ("zkgrad.no_such_module:f", "cannot import"),
    ("zkgrad.models:no_such_factory", "not a callable"),
])
def test_spec_bad_factory(factory: str, message: str) -> None:
    spec = ModelSpec(factory=factory, loss="mse", lr=0.1, batch_size=1, input_shape=(4,), target_shape=(3,))
    with pytest.raises(InputError, match=message):
        spec.build_module()


def test_spec_seed_fixes_the_weights() -> None:
    a, b = CASES["mlp-ce"].build_module(), CASES["mlp-ce"].build_module()
    c = CASES["mlp-ce"].build_module(seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


# --- fixed point ----------------------------------------------------------------------------------
def test_quantize_rounds_like_ezkl() -> None:
    # Rust f64::round: halves away from zero
    assert quantize(np.array([0.5, -0.5, 1.5, -1.5, 0.49]) / 2**4, 4).tolist() == [1, -1, 2, -2, 0]
    assert felt_to_int(FIELD_MODULUS - 3) == -3
    assert felt_to_int(int_to_felt(-3).to_bytes(32, "little").hex()) == -3


@pytest.mark.fuzzing
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.integers(1, 16))
def test_fixed_point_round_trips(values: list[int], scale: int) -> None:
    q = np.array(values, dtype=np.int64)
    assert np.array_equal(quantize(dequantize(q, scale), scale), q)
    assert [felt_to_int(int_to_felt(v)) for v in values] == values


class TwoConv(nn.Module):
    """Two convolutions: the second one's input gradient (a transposed conv) is in the graph."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 3, 3, padding=1)
        self.c2 = nn.Conv2d(3, 2, 3, stride=stride, padding=1)
        self.fc = nn.Linear(2 * (8 // stride) ** 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_gradient_decomposition_matches_autograd(stride: int, tmp_path: Path) -> None:
    """The exported conv backward (our decomposition) equals torch's own convolution_backward."""
    spec = CASES["cnn-mse"]
    torch.manual_seed(3)
    module = TwoConv(stride)
    graph = export_training_step(spec, tmp_path / "two.onnx", module=module)
    state = [p.detach().numpy() for p in module.parameters()]
    x, y = batch(spec)
    outs = ort.InferenceSession(str(graph.onnx_path)).run(None, dict(zip(graph.input_names, [*state, x, y, np.zeros(1, np.float32)])))
    ref, _ = float_step(spec, state, x, y, module=module)
    for got, want in zip(outs[:-1], ref):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=1e-5)
    assert "ConvTranspose" in {n.op_type for n in onnx.load(str(graph.onnx_path)).graph.node}


def test_layer_norm_is_rewritten_with_the_same_parameters_and_math(exported: dict[str, StepGraph]) -> None:
    """ezkl 23 cannot lay out ONNX LayerNormalization: nn.LayerNorm is traced as mean, variance and
    rsqrt instead (compiled and checked for fidelity in test_ezkl_compiles_step[ln-mlp-ce-public])."""
    from zkgrad.circuits.rewrites import LayerNormOps, ezkl_ready

    torch.manual_seed(0)
    original = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 2),
                                   torch.nn.Sequential(torch.nn.LayerNorm(2, elementwise_affine=False)))
    with torch.no_grad():
        original[1].weight.normal_()
        original[1].bias.normal_()
    x = torch.randn(5, 4)
    want = original(x)
    before = [(n, p) for n, p in original.named_parameters()]
    rewritten = ezkl_ready(original)
    assert isinstance(rewritten[1], LayerNormOps) and isinstance(rewritten[3][0], LayerNormOps)
    assert [(n, id(p)) for n, p in rewritten.named_parameters()] == [(n, id(p)) for n, p in before]
    assert torch.allclose(rewritten(x), want, atol=1e-5)
    ops = {n.op_type for n in onnx.load(str(exported["ln-mlp-ce"].onnx_path)).graph.node}
    assert "LayerNormalization" not in ops and {"ReduceMean", "Sqrt"} <= ops
