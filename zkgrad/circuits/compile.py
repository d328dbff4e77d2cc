"""ONNX model + sample input → a complete, content-addressed circuit folder.

Stages: settings, calibration, compiled circuit, SRS, setup (proving and verification keys),
Solidity verifier compiled to ABI and bytecode. The folder is built under a temporary name and
appears only when complete; compiling the same inputs again reuses it without redoing setup.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import __version__, fsio
from ..fsio import zkgrad_home
from ..errors import CircuitError
from ..progress import Reporter, Timings
from . import engine
from .artifacts import DEV_SRS_WARNING, Circuit, circuit_key, sha256_bytes, sha256_file
from .config import CircuitConfig
from .onnx_model import load_interface, normalize_sample
from .onnx_ops import check_onnx_ops


def _srs_identity(srs: Path | None) -> str:
    return "dev" if srs is None else sha256_file(srs)


def compile_model(
    onnx_path: Path | str,
    sample: Path | str | dict[str, Any],
    *,
    out: Path | str | None = None,
    srs: Path | str | None = None,
    config: CircuitConfig | None = None,
    reporter: Reporter | None = None,
) -> tuple[Circuit, bool]:
    """Compile ``onnx_path`` into a circuit folder; returns (circuit, reused)."""
    config = config or CircuitConfig()
    onnx_path = Path(onnx_path)
    iface = load_interface(onnx_path)
    check_onnx_ops(onnx_path)
    sample_data = normalize_sample(sample if isinstance(sample, dict) else fsio.read_json(Path(sample), "sample input"),
                                   iface, what="sample input")
    srs_path = Path(srs) if srs is not None else None
    if srs_path is not None and not srs_path.is_file():
        from ..errors import MissingFileError
        raise MissingFileError(srs_path, "SRS file", hint="pass the path of a ceremony SRS file, or omit --srs")

    onnx_bytes = onnx_path.read_bytes()
    sample_bytes = json.dumps(sample_data, sort_keys=True).encode()
    key = circuit_key(onnx_sha=sha256_bytes(onnx_bytes), sample_sha=sha256_bytes(sample_bytes), config=config,
                      srs_id=_srs_identity(srs_path), ezkl_version=engine.EZKL_VERSION)
    target = Path(out) if out is not None else zkgrad_home() / "circuits" / key[:16]
    if (target / "manifest.json").is_file():
        existing = Circuit(target)
        if existing.manifest.get("key") == key:
            existing.check_complete()
            return existing, True

    timings = Timings(reporter)
    with fsio.staged_dir(target) as tmp:
        c = Circuit(tmp)
        shutil.copyfile(onnx_path, c.onnx)
        fsio.write_bytes(c.sample, sample_bytes)
        with timings.stage("settings"):
            engine.gen_settings(model=c.onnx, settings=c.settings, args=engine.run_args(
                input_visibility=config.input_visibility, output_visibility=config.output_visibility,
                param_visibility=config.param_visibility, input_scale=config.scale, param_scale=config.scale,
                scale_rebase_multiplier=config.scale_rebase_multiplier, num_inner_cols=config.num_inner_cols))
        with timings.stage("calibrate"):
            engine.calibrate(data=c.sample, model=c.onnx, settings=c.settings, target=config.calibration_target,
                             scales=[config.scale] if config.scale is not None else None,
                             rebase_multipliers=[config.scale_rebase_multiplier] if config.scale_rebase_multiplier else None,
                             max_logrows=config.max_logrows, lookup_safety_margin=config.lookup_safety_margin)
        settings = json.loads(c.settings.read_text())
        _check_scales(settings, config)
        logrows = int(settings["run_args"]["logrows"])
        with timings.stage("compile"):
            engine.compile_circuit(model=c.onnx, compiled=c.compiled, settings=c.settings)
        with timings.stage("srs"):
            srs_info = _resolve_srs(srs_path, logrows)
        with timings.stage("setup"):
            engine.setup(compiled=c.compiled, vk=c.vk, pk=c.pk, srs=srs_info["path_obj"])
        with timings.stage("verifier"):
            verifier = _build_verifier(c, srs_info["path_obj"])
        manifest = {
            "zkgrad": __version__,
            "format": 1,
            "ezkl": engine.EZKL_VERSION,
            "key": key,
            "kind": config.kind,
            "source": str(onnx_path),
            "onnx_sha256": sha256_bytes(onnx_bytes),
            "config": config.to_dict(),
            "logrows": logrows,
            "num_rows": settings.get("num_rows"),
            "scales": {"input": settings.get("model_input_scales"), "output": settings.get("model_output_scales")},
            "inputs": [{"name": i.name, "shape": list(i.shape)} for i in iface.inputs],
            "outputs": [{"name": o.name, "shape": list(o.shape)} for o in iface.outputs],
            "num_instances": sum(_prod(s) for s in settings.get("model_instance_shapes", [])),
            "srs": {k: v for k, v in srs_info.items() if k != "path_obj"},
            "verifier": verifier,
            "timings": dict(timings),
        }
        fsio.write_json(c.manifest_path, manifest)
    if reporter and srs_info["kind"] == "dev":
        reporter.note(f"warning: {DEV_SRS_WARNING}")
    return Circuit(target), False


def _prod(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_scales(settings: dict[str, Any], config: CircuitConfig) -> None:
    if config.kind != "step" or config.scale is None:
        return
    outs = settings.get("model_output_scales", [])
    # parameter outputs (all but the trailing loss) must come out at the input scale to chain
    bad = [i for i, s in enumerate(outs[:-1]) if s != config.scale]
    if bad:
        raise CircuitError(f"updated parameters leave the circuit at scales {outs[:-1]}, not {config.scale}",
                           hint="the step cannot chain exactly; report this model to zkgrad")


def _resolve_srs(srs: Path | None, logrows: int) -> dict[str, Any]:
    from . import srs as srs_mod

    if srs is None:
        info = srs_mod.dev_srs(logrows)
        warning: str | None = DEV_SRS_WARNING
    else:
        info = srs_mod.check_srs(srs, logrows)
        warning = None
    return {"kind": info.kind, "path": str(Path(info.path).resolve()), "path_obj": Path(info.path),
            "sha256": info.sha256, "logrows": info.logrows, "size": Path(info.path).stat().st_size,
            "warning": warning}


def _build_verifier(c: Circuit, srs: Path) -> dict[str, Any]:
    from ..verifier.solidity import build_verifier

    return build_verifier(vk=c.vk, settings=c.settings, srs=srs, sol=c.verifier_sol, out=c.verifier_json)


