"""Modules rewritten, before tracing, into operations ezkl lays out; the math and the parameters
(names, shapes, order) stay the same, so checkpoints, published weights and a user's own torch
code see the module as written.

- ``nn.LayerNorm``: the exporters write ONNX ``LayerNormalization``, which ezkl 23 accepts but
  cannot lay out ("General synthesis error" in gen_settings, forward and training step alike,
  tried on a 4-8-3 MLP). Written from mean, variance and ``rsqrt`` it compiles, and its backward
  is traced from the same ops (fidelity: tests/test_training_export.py).
- ``nn.Embedding``: a circuit's inputs are field elements, not indices, so token ids enter as
  numbers (``x`` of shape ``(B, T)``). A lookup of id ``i`` is then the one-hot row
  ``relu(1 - |i - k|)``, ``k = 0 .. V-1`` (exactly 1 at ``k = i`` for an integer id, 0 elsewhere),
  times the table: a MatMul ezkl lays out, whose backward is one more. Integer ids (a constant
  ``torch.arange`` of positions) keep the plain lookup, which tract folds.
- ``nn.GELU()`` (exact, erf): its forward compiles, but the gradient torch writes for it makes
  ezkl 23 fail ("Unknown op: Dummy", General synthesis error, in every step graph tried).
  Written as ``0.5 * x * (1 + erf(x / sqrt 2))``, autograd traces a backward that compiles. The
  tanh approximation compiles as torch writes it and is left alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError


class LayerNormOps(nn.Module):
    """``nn.LayerNorm`` from reductions and ``rsqrt``, holding the same ``weight`` and ``bias``."""

    def __init__(self, norm: nn.LayerNorm) -> None:
        super().__init__()
        self.normalized_shape = tuple(norm.normalized_shape)
        self.eps = float(norm.eps)
        self.weight = norm.weight  # the same Parameter objects (or None): named as before
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(-len(self.normalized_shape), 0))
        centred = x - x.mean(dim=dims, keepdim=True)
        y = centred * torch.rsqrt((centred * centred).mean(dim=dims, keepdim=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y


class EmbeddingOps(nn.Module):
    """``nn.Embedding`` that also takes ids as floats (a circuit's inputs), holding the same ``weight``."""

    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        if table.max_norm is not None:
            raise InputError("an nn.Embedding with max_norm renormalises its table in place, which no circuit does",
                             hint="drop max_norm (or normalise the table explicitly in forward)")
        self.weight = table.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not ids.is_floating_point():
            return F.embedding(ids, self.weight)
        classes = torch.arange(self.weight.shape[0], dtype=ids.dtype)
        return torch.relu(1 - (ids.unsqueeze(-1) - classes).abs()) @ self.weight


class GELUOps(nn.Module):
    """Exact ``nn.GELU`` written out from ``erf``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 * (1 + torch.erf(x * (1 / math.sqrt(2))))


def ezkl_ready(module: nn.Module) -> nn.Module:
    """``module`` with each ``nn.LayerNorm``, ``nn.Embedding`` and exact ``nn.GELU`` in it (itself
    included) replaced, in place, by ``LayerNormOps``, ``EmbeddingOps`` and ``GELUOps``."""
    if isinstance(module, nn.LayerNorm):
        return LayerNormOps(module)
    if isinstance(module, nn.Embedding):
        return EmbeddingOps(module)
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return GELUOps()
    for name, child in module.named_children():
        setattr(module, name, ezkl_ready(child))
    return module
