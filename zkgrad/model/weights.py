"""A checkpoint's weights in the format people load: safetensors, under the module's parameter
names and shapes (``named_parameters()``), so ``module.load_state_dict(load_file(path))`` works.

Only the model's parameters are written (an optimizer's momentum is no weight). Each value is the
proven fixed-point integer divided by ``2**scale``, in float32: exact while the integer is under
2**24 in magnitude (the metadata says whether every one is), rounded to the nearest float32 beyond.
The metadata also names the version, the scale and the weights' commitment (the registry's
``headWeights`` at that version), so a file can be traced back to the chain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import fsio
from .checkpoint import Checkpoint

EXACT_BELOW = 2**24  # float32 holds every integer of smaller magnitude exactly
KIND = "safetensors weights"


def to_safetensors(ckpt: Checkpoint, **metadata: str) -> bytes:
    """The safetensors bytes of ``ckpt``'s parameters (float32), with zkgrad's metadata."""
    import torch
    from safetensors.torch import save

    names, state = ckpt.names[: ckpt.n_params], ckpt.state()[: ckpt.n_params]
    tensors = {n: torch.from_numpy((q / float(2**ckpt.scale)).astype(np.float32)) for n, q in zip(names, state)}
    exact = all(int(np.max(np.abs(q), initial=0)) < EXACT_BELOW for q in state)
    meta = {"format": "pt", "zkgrad_version": str(ckpt.version), "zkgrad_scale": str(ckpt.scale),
            "zkgrad_weights_commitment": "0x" + ckpt.weights_commitment.hex(),
            "zkgrad_exact": "true" if exact else "false", **metadata}
    return save(tensors, metadata=meta)


def save_weights(ckpt: Checkpoint, path: Path, **metadata: str) -> Path:
    """Write ``ckpt``'s weights to ``path`` atomically; a file there is replaced only when zkgrad
    wrote it (safetensors with zkgrad's metadata)."""
    fsio.check_file_target(path, KIND, written_by_zkgrad)
    return fsio.write_bytes(Path(path), to_safetensors(ckpt, **metadata))


def written_by_zkgrad(path: Path) -> bool:
    """Whether ``path`` is a safetensors file whose metadata zkgrad wrote (read from its header only)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError):
        return False
    return "zkgrad_weights_commitment" in meta
