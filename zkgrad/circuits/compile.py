"""ONNX model + sample input → a complete, content-addressed circuit folder.

Stages: settings, calibration, compiled circuit, SRS, setup (proving and verification keys),
then, when the caller passes a builder from the verifier stage, the Solidity verifier. The folder
is built under a temporary name and appears only when complete; compiling the same inputs again
reuses it without redoing setup, as long as the SRS it was set up on is unchanged (by sha256).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from .. import __version__, engine, fsio
from ..errors import CircuitError, MissingFileError, SrsError
from ..fsio import zkgrad_home
from ..progress import Reporter, Timings
from . import srs as srs_mod
from .artifacts import (
    DEV_SRS_WARNING,
    FORMAT,
    Circuit,
    circuit_key,
    sha256_bytes,
    sha256_file,
)
from .config import CircuitConfig
from .onnx_model import OnnxInterface, load_interface, normalize_sample
from .onnx_ops import check_onnx_ops

VerifierBuilder = Callable[[Circuit, Path], dict[str, Any]]
"""Writes the Solidity verifier into a circuit folder being compiled, from its keys and the SRS at
the path given; returns the summary the manifest records (``zkgrad.verifier.solidity.build_verifier``)."""


def compile_model(
    onnx_path: Path | str,
    sample: Path | str | dict[str, Any],
    *,
    out: Path | str | None = None,
    srs: Path | str | None = None,
    config: CircuitConfig | None = None,
    reporter: Reporter | None = None,
    verifier: VerifierBuilder | None = None,
    calibration: list[dict[str, Any]] | None = None,
) -> tuple[Circuit, bool]:
    """Compile ``onnx_path`` into a circuit folder; returns (circuit, reused). With ``verifier``
    the folder holds the Solidity verifier too. ``calibration``: more inputs like ``sample`` that
    calibration measures with it (``calibration.json``), so the lookup ranges cover them all."""
    config = config or CircuitConfig()
    onnx_path = Path(onnx_path)
    iface = load_interface(onnx_path)
    check_onnx_ops(onnx_path)
    sample_data = normalize_sample(sample if isinstance(sample, dict) else fsio.read_json(Path(sample), "sample input"),
                                   iface, what="sample input")
    srs_path = Path(srs) if srs is not None else None
    if srs_path is not None and not srs_path.is_file():
        raise MissingFileError(srs_path, "SRS file", hint="pass the path of a ceremony SRS file, or omit --srs")
    if srs_path is not None:
        from .srs import load_srs_logrows

        load_srs_logrows(srs_path)  # a malformed file is refused before any work

    onnx_bytes = onnx_path.read_bytes()
    sample_bytes = json.dumps(sample_data, sort_keys=True).encode()
    calib_bytes = calibration_bytes(sample_data, calibration or [], iface)
    shas = {"onnx_sha": sha256_bytes(onnx_bytes), "sample_sha": sha256_bytes(sample_bytes + calib_bytes)}

    def key_for(srs_sha: str) -> str:
        return circuit_key(**shas, config=config, srs_sha=srs_sha, ezkl_version=engine.EZKL_VERSION)

    ceremony_sha = sha256_file(srs_path) if srs_path is not None else None
    # named before calibration picks logrows, and so before the development SRS to use is known
    target = Path(out) if out is not None else zkgrad_home() / "circuits" / key_for(ceremony_sha or "dev")[:16]
    if fsio.artifact_kind(target) == "circuit" and (target / "manifest.json").is_file():
        existing = Circuit(target)
        if _reusable(existing, key_for, ceremony_sha, with_verifier=verifier is not None):
            return existing, True

    timings = Timings(reporter)
    with fsio.staged_dir(target, "circuit") as tmp:
        c = Circuit(tmp)
        shutil.copyfile(onnx_path, c.onnx)
        fsio.write_bytes(c.sample, sample_bytes)
        calib_path = c.path / "calibration.json" if calib_bytes else c.sample
        if calib_bytes:
            fsio.write_bytes(calib_path, calib_bytes)
        with timings.stage("settings"):
            engine.gen_settings(model=c.onnx, settings=c.settings, args=engine.run_args(
                input_visibility=config.input_visibility, output_visibility=config.output_visibility,
                param_visibility=config.param_visibility, input_scale=config.scale, param_scale=config.scale,
                scale_rebase_multiplier=config.scale_rebase_multiplier, num_inner_cols=config.num_inner_cols,
                ignore_range_check_inputs_outputs=config.ignore_range_check_inputs_outputs))
        with timings.stage("calibrate"):
            engine.calibrate(data=calib_path, model=c.onnx, settings=c.settings, target=config.calibration_target,
                             scales=[config.scale] if config.scale is not None else None,
                             rebase_multipliers=[config.scale_rebase_multiplier] if config.scale_rebase_multiplier else None,
                             max_logrows=config.max_logrows, lookup_safety_margin=config.lookup_safety_margin)
        settings = _canonical(json.loads(c.settings.read_text()))
        fsio.write_json(c.settings, settings)
        _check_scales(settings, config)
        logrows = int(settings["run_args"]["logrows"])
        with timings.stage("compile"):
            engine.compile_circuit(model=c.onnx, compiled=c.compiled, settings=c.settings)
        with timings.stage("srs"):
            srs_info = _resolve_srs(srs_path, logrows)
        if ceremony_sha is not None and srs_info["sha256"] != ceremony_sha:
            raise SrsError(f"the SRS file {srs_path} changed while the circuit was compiled",
                           hint="compile again once the file is in place", path=str(srs_path))
        with timings.stage("setup"):
            engine.setup(compiled=c.compiled, vk=c.vk, pk=c.pk, srs=srs_info["path_obj"])
        summary = None
        if verifier is not None:
            with timings.stage("verifier"):
                summary = verifier(c, srs_info["path_obj"])
        manifest = {
            "zkgrad": __version__,
            "format": FORMAT,
            "ezkl": engine.EZKL_VERSION,
            "key": key_for(srs_info["sha256"]),
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
            "verifier": summary,
            "timings": dict(timings),
        }
        fsio.write_json(c.manifest_path, manifest)
    if reporter and srs_info["kind"] == "dev":
        reporter.note(f"warning: {DEV_SRS_WARNING}")
    return Circuit(target), False


def calibration_bytes(sample: dict[str, Any], more: list[dict[str, Any]], iface: OnnxInterface) -> bytes:
    """ezkl's form of several calibration inputs: per graph input, their values one after another."""
    if not more:
        return b""
    rows = [sample] + [normalize_sample(m, iface, what="calibration sample") for m in more]
    merged = [sum((r["input_data"][i] for r in rows), []) for i in range(len(iface.inputs))]
    return json.dumps({"input_data": merged}, sort_keys=True).encode()


def _prod(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _canonical(settings: dict[str, Any]) -> dict[str, Any]:
    """ezkl lists required range checks and lookups in hash-set order, which changes from run to
    run and with it the circuit's layout and verifying key; sorted (and the timestamp zeroed), the same
    inputs give the same keys and verifier on every build (``zkgrad audit`` rebuilds them)."""
    for name in ("required_range_checks", "required_lookups"):
        if isinstance(settings.get(name), list):
            settings[name] = sorted(settings[name], key=lambda v: json.dumps(v, sort_keys=True))
    settings["timestamp"] = 0
    return settings


def _check_scales(settings: dict[str, Any], config: CircuitConfig) -> None:
    if config.kind != "step" or config.scale is None:
        return
    outs = settings.get("model_output_scales", [])
    # parameter outputs (all but the trailing loss) must come out at the input scale to chain
    bad = [i for i, s in enumerate(outs[:-1]) if s != config.scale]
    if bad:
        raise CircuitError(f"updated parameters leave the circuit at scales {outs[:-1]}, not {config.scale}",
                           hint="the step cannot chain exactly; report this model to zkgrad")


def _reusable(existing: Circuit, key_for: Callable[[str], str], ceremony_sha: str | None, *,
              with_verifier: bool) -> bool:
    """Whether a folder compiled before from the same inputs can serve as is: set up on the SRS
    asked for (the ceremony file given, else a development SRS), that SRS unchanged since, and
    holding a verifier if one is wanted."""
    recorded = existing.manifest.get("srs", {})
    srs_sha = ceremony_sha or (recorded.get("sha256") if recorded.get("kind") == "dev" else None)
    if srs_sha is None or existing.manifest.get("key") != key_for(srs_sha):
        return False
    try:
        existing.srs  # noqa: B018 - refuses an SRS file whose sha256 changed (a regenerated dev SRS)
    except SrsError:
        return False
    if with_verifier and not existing.verifier_json.is_file():
        return False
    existing.check_complete()
    return True


def _resolve_srs(srs: Path | None, logrows: int) -> dict[str, Any]:
    if srs is None:
        info = srs_mod.dev_srs(logrows)
        warning: str | None = DEV_SRS_WARNING
    else:
        info = srs_mod.check_srs(srs, logrows)
        warning = None
    return {"kind": info.kind, "path": str(Path(info.path).resolve()), "path_obj": Path(info.path),
            "sha256": info.sha256, "logrows": info.logrows, "size": Path(info.path).stat().st_size,
            "warning": warning}
