"""A whole training step (forward, loss, autograd backward, SGD update) as one ONNX graph.

Graph inputs, in order (``zkgrad.layout.StepLayout``)::

    p0_<name> .. p{P-1}_<name>   the model's parameters, in ``named_parameters()`` order
    [m0_<name> .. m{P-1}_<name>] SGD momentum velocities, only when spec.momentum > 0
    x, y                         the batch: (B, *input_shape), (B, *target_shape), float
    claim                        one value no operation reads: the proof's claim word (zkgrad.layout)

Outputs: the updated tensors in the same order (``new_p0_<name>`` .., ``new_m0_<name>`` ..),
then ``loss`` of shape [1]. With momentum the velocities are simply more committed state: the
layout's state covers all 2P tensors, and its weights the first P.

The learning rate multiplies the loss before differentiation, so the backward pass yields
``lr * gradient`` directly and the update is a plain subtraction: ezkl rescales after every
multiplication by a constant, and a multiply in the update cost a rescale of every parameter
(a third of the digits step's rows; BENCHMARKS.md).

Gradients are never hand-written: ``torch.func.grad_and_value`` of a ``functional_call`` loss,
traced by ``make_fx`` with the core ATen decompositions, then exported by the dynamo exporter.
Two traps avoided (shared NOTES): parameters are separate inputs (a flat vector turns into
ScatterND) and the ONNX file holds its weights inline (tract cannot read external data).
Non-parameter buffers of the module (e.g. BatchNorm statistics) become constants.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import onnx
import torch
from torch import nn
from torch.func import functional_call, grad_and_value
from torch.fx.experimental.proxy_tensor import make_fx

from .. import fsio
from ..errors import CircuitError, InputError
from ..layout import CLAIM_INPUT, AnswerLayout, StepLayout, word_count
from ..model.spec import ModelSpec
from .float_graph import FloatGraph, check_agrees
from .onnx_ops import check_onnx_ops
from .rewrites import ezkl_ready

Tensors = Sequence[torch.Tensor]


@dataclass(frozen=True)
class StepGraph:
    """What an exported graph takes and returns; ``kind`` is ``step`` or ``inference``."""

    kind: Literal["step", "inference"]
    onnx_path: Path
    param_names: tuple[str, ...]
    """The model's parameter names, ``named_parameters()`` order."""
    param_shapes: tuple[tuple[int, ...], ...]
    state_names: tuple[str, ...]
    """Every state tensor in graph order: the parameters, then momentum buffers (``momentum.<name>``)."""
    state_shapes: tuple[tuple[int, ...], ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def n_state(self) -> int:
        return len(self.state_names)

    def layout(self, commitment: str) -> StepLayout | AnswerLayout:
        """The public-instance layout of this graph's proofs under ``commitment`` (``zkgrad.layout``)."""
        words = [word_count(math.prod(s), commitment) for s in self.input_shapes]
        weights = sum(words[: self.n_params])
        if self.kind == "step":  # the last input is the claim, a word of its own
            return StepLayout(sum(words[: self.n_state]), sum(words[self.n_state : -1]), weights)
        return AnswerLayout(weights, sum(words[self.n_params :]), math.prod(self.output_shapes[0]))


def _safe(name: str) -> str:
    return name.replace(".", "_")


def param_input_names(names: Sequence[str], prefix: str = "p") -> list[str]:
    return [f"{prefix}{i}_{_safe(n)}" for i, n in enumerate(names)]


# --- the math ------------------------------------------------------------------------------
LOGIT_SPAN = 8.0
"""exp sees logits at most this far below each row's largest, which bounds its lookup table (the
table's size sets the circuit's logrows; BENCHMARKS.md). e^-8 is 1.4 quanta at scale 12: what the
clamp leaves out is about what rounding loses anyway (tests/test_language_model.py bounds it)."""


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    k = logits.shape[1]
    z = logits - logits.amax(dim=1, keepdim=True).detach()
    # only exp's argument is clamped: a target far below the largest logit keeps its full gradient
    logp = z - (torch.log(torch.exp(z.clamp(min=-LOGIT_SPAN)).mean(dim=1, keepdim=True)) + math.log(k))
    return -(target * logp).sum(dim=1).mean()


def one_hot(ids: torch.Tensor, classes: int) -> torch.Tensor:
    """Float one-hot rows of float integer ids, from ops a circuit has: ``relu(1 - |id - k|)``."""
    return torch.relu(1 - (ids.unsqueeze(-1) - torch.arange(classes, dtype=ids.dtype)).abs())


def loss_value(spec: ModelSpec, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The spec's loss as a scalar. Cross-entropy is written out so the graph keeps to ops ezkl
    has and its lookups to small ranges: a max-shifted log-softmax (the shift detached: the
    gradient does not depend on it), the shifted logits clamped at -LOGIT_SPAN, and the log taken
    of the mean of the exponentials (in [1/K, 1]) plus log K rather than of their sum.
    ``next_token``: the same over every position of ``(B, T, V)`` logits, against ``(B, T)`` ids."""
    if spec.loss == "mse":
        return ((out - y) ** 2).mean()
    if spec.loss == "next_token":
        v = out.shape[-1]
        return _cross_entropy(out.reshape(-1, v), one_hot(y.reshape(-1), v))
    return _cross_entropy(out, y)


def make_step_fn(spec: ModelSpec, module: nn.Module) -> tuple[Callable[..., tuple[torch.Tensor, ...]], list[str]]:
    """``step(*params, *momentum_bufs, x, y) -> (*new_params, *new_bufs, loss[1])`` and the param names."""
    names = [n for n, _ in module.named_parameters()]
    if not names:
        raise InputError("the model has no parameters to train")
    n = len(names)
    lr, mom, wd = float(spec.lr), float(spec.momentum), float(spec.weight_decay)

    def objective(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = loss_value(spec, functional_call(module, params, (x,)), y)
        return lr * loss, loss

    grad_fn = grad_and_value(objective, has_aux=True)

    def step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        params = dict(zip(names, args[:n]))
        bufs = args[n : 2 * n] if mom > 0 else ()
        x, y = args[-2], args[-1]
        steps, (_, loss) = grad_fn(params, x, y)  # lr * gradient: the update needs no multiply of its own
        new_params, new_bufs = [], []
        for i, name in enumerate(names):
            p, d = params[name], steps[name]
            if wd > 0:
                d = d + (lr * wd) * p
            if mom > 0:
                d = mom * bufs[i] + d
                new_bufs.append(d)
            new_params.append(p - d)
        return (*new_params, *new_bufs, loss.reshape(1))

    return step, names


def float_step(
    spec: ModelSpec, params: Sequence[torch.Tensor | np.ndarray], x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray, module: nn.Module | None = None,
) -> tuple[list[torch.Tensor], float]:
    """The same step in float32 torch: ``(new_state, loss)``; ``params`` are the state tensors
    (parameters, then momentum buffers when the spec has momentum), e.g. dequantized checkpoint values."""
    module = _module_of(spec, module)
    step, names = make_step_fn(spec, module)
    want = len(names) * (2 if spec.has_momentum else 1)
    if len(params) != want:
        raise InputError(f"float_step needs {want} state tensors, got {len(params)}")
    f32 = [torch.as_tensor(np.asarray(p), dtype=torch.float32) for p in params]
    with torch.no_grad():
        out = step(*f32, torch.as_tensor(np.asarray(x), dtype=torch.float32),
                   torch.as_tensor(np.asarray(y), dtype=torch.float32))
    return list(out[:-1]), float(out[-1].item())


# --- export --------------------------------------------------------------------------------
def _conv_backward(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias_sizes: list[int] | None,
    stride: list[int], padding: list[int], dilation: list[int], transposed: bool,
    output_padding: list[int], groups: int, output_mask: list[bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``aten.convolution_backward`` in plain convolutions, so the exporter (which has no
    translation for it) sees Conv/ConvTranspose/ReduceSum. groups=1, not transposed."""
    if transposed or groups != 1:
        raise InputError("the gradient of a grouped or transposed convolution cannot be exported",
                         hint="use groups=1 ordinary convolutions")
    nd = weight.dim() - 2
    spatial = list(range(2, 2 + nd))
    gi = gw = gb = None
    if output_mask[0]:
        # a strided conv maps several input sizes to one output size: output_padding picks x's
        out_size = [(grad_out.shape[d] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.shape[d] - 1) + 1
                    for i, d in enumerate(spatial)]
        extra = [x.shape[d] - o for d, o in zip(spatial, out_size)]
        gi = torch.ops.aten.convolution.default(
            grad_out, weight, None, stride, padding, dilation, True, extra, 1)
    if output_mask[1]:
        # dW[o, i] = sum_n x[n, i] (*) grad_out[n, o], strides and dilations swapped
        gw = torch.ops.aten.convolution.default(
            x.transpose(0, 1), grad_out.transpose(0, 1), None, dilation, padding, stride,
            False, [0] * nd, 1).transpose(0, 1)
        for d, k in zip(spatial, weight.shape[2:]):
            gw = gw.narrow(d, 0, k)
    if output_mask[2]:
        gb = grad_out.sum(dim=[0, *spatial])
    return gi, gw, gb


def _conv_split_bias(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
    padding: list[int], dilation: list[int], transposed: bool, output_padding: list[int], groups: int,
) -> torch.Tensor:
    """A convolution with a bias as a bias-free convolution plus an add: ezkl can only rescale a
    constant Conv bias, and here the bias is a graph input (a parameter)."""
    if bias is None:
        return NotImplemented  # type: ignore[return-value]  # make_fx then keeps the op
    out = torch.ops.aten.convolution.default(
        x, weight, None, stride, padding, dilation, transposed, output_padding, groups)
    # broadcast in full: tract would fuse an add of a (1, C, 1, 1) tensor back into the Conv's bias
    return out + bias.reshape(1, -1, *([1] * (out.dim() - 2))).expand(out.shape)


MASKED = 1024.0
"""What ``masked_fill(mask, -inf)`` writes instead of ``-inf`` (no circuit value is infinite): with
softmax's span below, any score this far under a row's largest gets weight exactly 0."""


def _masked_fill(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    if value == float("-inf"):
        value = -MASKED
    return torch.where(mask, torch.full_like(x, value), x)


def _softmax(x: torch.Tensor, dim: int, half_to_float: bool) -> torch.Tensor:
    """Softmax as ezkl lays it out cheaply: scores more than LOGIT_SPAN below the row's largest
    (a masked one among them) get weight exactly 0, which bounds exp's lookup as in the loss.
    Autograd still differentiates the op by its output, so the backward is unchanged."""
    z = (x - x.amax(dim=dim, keepdim=True)).clamp(min=-LOGIT_SPAN)
    e = torch.exp(z) * (z > -LOGIT_SPAN).to(x.dtype)
    return e / e.sum(dim=dim, keepdim=True)


def _decompositions() -> dict:
    table = dict(torch._decomp.core_aten_decompositions())
    table[torch.ops.aten.masked_fill.Scalar] = _masked_fill
    table[torch.ops.aten._softmax.default] = _softmax
    table[torch.ops.aten.convolution.default] = _conv_split_bias
    table[torch.ops.aten.convolution_backward.default] = _conv_backward
    return table


class _Traced(nn.Module):
    def __init__(self, gm: nn.Module) -> None:
        super().__init__()
        self.gm = gm

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.gm(*args))


def export_graph(fn: Callable[..., tuple[torch.Tensor, ...]], args: Sequence[torch.Tensor],
            input_names: list[str], output_names: list[str], out_path: Path, *, claim: bool = False) -> list[np.ndarray]:
    """Trace ``fn``, write its ONNX graph to ``out_path``; returns torch's outputs on ``args``.
    ``claim``: append the claim input (``zkgrad.layout.CLAIM_INPUT``), which no operation reads."""
    gm = make_fx(fn, decomposition_table=_decompositions())(*args)
    with torch.no_grad():
        expected = [t.detach().numpy() for t in gm(*args)]
    out_path = Path(out_path)
    with fsio.temp_path(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = logging.getLogger("torch.onnx")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with redirect_stdout(io.StringIO()):
                torch.onnx.export(
                    _Traced(gm), tuple(args), str(tmp), dynamo=True,
                    opset_version=18, external_data=False,
                    input_names=input_names, output_names=output_names,
                )
        except Exception as e:  # the exporter raises many types; ours carries the cause
            raise CircuitError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                               hint="the model uses an operation the exporter cannot trace") from e
        finally:
            quiet.setLevel(level)
        _strip_provenance(tmp, claim=claim)
        # the float pass of the written graph must agree with torch before the file is kept
        check_agrees(FloatGraph(tmp), [a.detach().numpy() for a in args], expected)
    check_onnx_ops(out_path)
    return expected


def _strip_provenance(path: Path, *, claim: bool = False) -> None:
    """Drop what the exporter records about where and when it ran (stack traces with file paths,
    trace counters, doc strings): the same spec then gives the same bytes on any machine, and so
    the same circuit and verifier (``zkgrad audit`` rebuilds them). ``claim``: add the claim input."""
    model = onnx.load(str(path))
    if claim:  # the exporter drops inputs no operation reads, so it is added here
        model.graph.input.append(onnx.helper.make_tensor_value_info(CLAIM_INPUT, onnx.TensorProto.FLOAT, [1]))
    for holder in (model, model.graph, *model.graph.node, *model.graph.input, *model.graph.output,
                   *model.graph.initializer, *model.graph.value_info):
        if hasattr(holder, "metadata_props"):
            del holder.metadata_props[:]
        if hasattr(holder, "doc_string"):
            holder.doc_string = ""
    onnx.save(model, str(path))


def _module_of(spec: ModelSpec, module: nn.Module | None) -> nn.Module:
    return ezkl_ready(module if module is not None else spec.build_module())


def example_x(spec: ModelSpec, batch_size: int) -> torch.Tensor:
    """Inputs to trace with: random floats, or a language model's random token ids."""
    if spec.loss == "next_token":
        return torch.randint(0, spec.num_classes, (batch_size, *spec.input_shape)).float()
    return torch.randn((batch_size, *spec.input_shape))


def export_training_step(spec: ModelSpec, out_path: Path | str, *, module: nn.Module | None = None) -> StepGraph:
    """Write the step graph of ``spec`` (``module`` overrides the factory) to ``out_path``."""
    module = _module_of(spec, module)
    step, names = make_step_fn(spec, module)
    params = [p.detach().clone() for _, p in module.named_parameters()]
    state = params + ([torch.zeros_like(p) for p in params] if spec.has_momentum else [])
    state_names = names + ([f"momentum.{n}" for n in names] if spec.has_momentum else [])
    in_names = param_input_names(names) + (param_input_names(names, "m") if spec.has_momentum else [])
    x = example_x(spec, spec.batch_size)
    y = torch.zeros(spec.y_shape)
    if spec.loss == "cross_entropy":
        y[torch.arange(spec.batch_size), torch.randint(0, spec.num_classes, (spec.batch_size,))] = 1.0
    if spec.loss == "next_token":
        y = example_x(spec, spec.batch_size)
    args = [*state, x, y]
    state_shapes = tuple(tuple(t.shape) for t in state)
    outs = export_graph(step, args, in_names + ["x", "y"], [f"new_{n}" for n in in_names] + ["loss"], Path(out_path),
                        claim=True)
    return StepGraph(
        kind="step", onnx_path=Path(out_path), param_names=tuple(names),
        param_shapes=tuple(tuple(p.shape) for p in params),
        state_names=tuple(state_names), state_shapes=state_shapes,
        input_names=tuple(in_names + ["x", "y", CLAIM_INPUT]),
        output_names=tuple([f"new_{n}" for n in in_names] + ["loss"]),
        input_shapes=(*state_shapes, spec.x_shape, spec.y_shape, (1,)),
        output_shapes=tuple(tuple(o.shape) for o in outs),
    )


def export_inference(spec: ModelSpec, out_path: Path | str, *, module: nn.Module | None = None,
                     batch_size: int | None = None) -> StepGraph:
    """The model's forward with its parameters as inputs: ``(*params, x) -> logits`` (AnswerLayout)."""
    module = _module_of(spec, module)
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone() for _, p in module.named_parameters()]
    n = len(names)

    def forward(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (functional_call(module, dict(zip(names, args[:n])), (args[n],)),)

    x = example_x(spec, batch_size or spec.batch_size)
    in_names = param_input_names(names)
    (out,) = export_graph(forward, [*params, x], in_names + ["x"], ["logits"], Path(out_path))
    shapes = tuple(tuple(p.shape) for p in params)
    return StepGraph(
        kind="inference", onnx_path=Path(out_path), param_names=tuple(names), param_shapes=shapes,
        state_names=tuple(names), state_shapes=shapes, input_names=tuple(in_names + ["x"]),
        output_names=("logits",), input_shapes=(*shapes, tuple(x.shape)), output_shapes=(tuple(out.shape),),
    )
