"""Reference models, as importable factories for a ModelSpec: classifiers for scikit-learn's 8x8
digits, and a character-level GPT for text.

Each factory takes no required argument and returns a fresh ``nn.Module``; the weights come from
``torch.manual_seed`` set by the caller (see ``ModelSpec.build_module``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over every earlier position, written as people write it: a
    boolean lower-triangular mask, ``masked_fill`` with ``-inf``, then softmax."""

    def __init__(self, dim: int, heads: int, context: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("mask", torch.tril(torch.ones(context, context, dtype=torch.bool)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
        att = F.softmax(att.masked_fill(~self.mask[:t, :t], float("-inf")), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x))."""

    def __init__(self, dim: int, heads: int, context: int, mlp: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, context)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A GPT: token and learned position embeddings, ``layers`` blocks, a final LayerNorm and a
    head, tied to the token embedding (``tie``) or its own with a bias. Takes token ids ``(B, T)``,
    returns logits ``(B, T, vocab)``."""

    def __init__(self, vocab: int, context: int, dim: int, heads: int, layers: int, mlp: int, tie: bool = True) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(context, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads, context, mlp) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=not tie)
        if tie:
            self.head.weight = self.tokens.weight  # one parameter, named tokens.weight
        for p in (self.tokens.weight, self.positions.weight):  # N(0, 1) calibrates to no lookup range
            nn.init.normal_(p, std=0.3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1])
        x = self.tokens(ids) + self.positions(positions)
        return self.head(self.ln_f(self.blocks(x)))


def char_gpt(vocab: int = 29, context: int = 8, dim: int = 8, heads: int = 1, layers: int = 1,
             mlp: int = 16, tie: bool = False) -> nn.Module:
    """A character-level GPT (``GPT``): by default one block, width 8, one head, context 8, its own
    head (under SGD an untied head with a bias learns the bigrams in fewer steps)."""
    return GPT(vocab, context, dim, heads, layers, mlp, tie)
