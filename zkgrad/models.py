"""Reference models for scikit-learn's 8x8 digits, as importable factories for a ModelSpec.

Each factory takes no required argument and returns a fresh ``nn.Module``; the weights come from
``torch.manual_seed`` set by the caller (see ``ModelSpec.build_module``).
"""

from __future__ import annotations

from torch import nn


def digits_mlp(hidden: int = 16) -> nn.Module:
    """MLP 64-hidden-10 with ReLU; input (64,) flattened digit, output 10 logits."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def digits_ln_mlp(hidden: int = 16) -> nn.Module:
    """MLP 64-hidden-10 with a LayerNorm before the ReLU (zkgrad.circuits.rewrites makes it compile)."""
    return nn.Sequential(nn.Linear(64, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, 10))


def digits_linear() -> nn.Module:
    """Softmax regression 64-10: the demo's model (a linear layer; cross-entropy is the softmax)."""
    return nn.Linear(64, 10)


def digits_cnn(channels: int = 4) -> nn.Module:
    """Small conv net: input (1, 8, 8), conv 3x3 -> ReLU -> flatten -> linear to 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size=3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channels * 6 * 6, 10),
    )


def tiny_mlp() -> nn.Module:
    """MLP 4-8-3 with ReLU: the smallest model, for fast tests."""
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def tanh_mlp(inputs: int = 4, hidden: int = 8, classes: int = 3) -> nn.Module:
    """MLP inputs-hidden-classes with tanh (a lookup in the circuit): e.g. iris, 4 features, 3 classes."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, classes))
