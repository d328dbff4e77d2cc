"""What accelerators this machine has, and which onnxruntime providers float passes use.

Below every stage: ``circuits`` runs float passes on them, ``prover`` proves on them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cuda_devices() -> int:
    """How many CUDA devices this machine shows: ``nvidia-smi -L``, else the driver's
    /proc entries, else torch when it is already loaded (0 when none, or no driver)."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.TimeoutExpired):
            pass
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return sum(1 for _ in proc.iterdir())
    torch = sys.modules.get("torch")
    try:
        return int(torch.cuda.device_count()) if torch is not None and torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken torch is "no device", not an error
        return 0


def float_providers() -> list[str]:
    """onnxruntime execution providers for float passes (export checks, shadow runs): CUDA first
    when onnxruntime-gpu is installed and a CUDA device is present, else the CPU only."""
    try:
        import onnxruntime as ort

        have = set(ort.get_available_providers())
    except Exception:  # noqa: BLE001 - no onnxruntime: the CPU list is still the right answer
        have = set()
    if "CUDAExecutionProvider" in have and cuda_devices() > 0:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
