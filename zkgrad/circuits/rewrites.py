"""Modules rewritten, before tracing, into operations ezkl lays out; the math and the parameters
(names, shapes, order) stay the same, so checkpoints, published weights and a user's own torch
code see the module as written.

- ``nn.LayerNorm``: the exporters write ONNX ``LayerNormalization``, which ezkl 23 accepts but
  cannot lay out ("General synthesis error" in gen_settings, forward and training step alike,
  tried on a 4-8-3 MLP). Written from mean, variance and ``rsqrt`` it compiles, and its backward
  is traced from the same ops (fidelity: tests/test_training_export.py).
"""

from __future__ import annotations

import torch
from torch import nn


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


def ezkl_ready(module: nn.Module) -> nn.Module:
    """``module`` with each ``nn.LayerNorm`` in it replaced, in place, by ``LayerNormOps``."""
    for name, child in module.named_children():
        if isinstance(child, nn.LayerNorm):
            setattr(module, name, LayerNormOps(child))
        else:
            ezkl_ready(child)
    return module
