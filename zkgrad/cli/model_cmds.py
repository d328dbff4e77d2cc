"""Model specs, their circuits and proven steps: zkgrad model init|compile, prove step|answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..circuits.config import LOOKUP_MARGIN, PLANNED_STEPS
from .data_opts import DATA_FORMS, load_data, source_name
from .options import Json, Rpc, Srs, address_option, resolve_rpc
from .output import Output

DEFAULT_FACTORY = "zkgrad.models:digits_mlp"
model_app = typer.Typer(help="Model specs: create one with its genesis checkpoint, compile its circuits.",
                        no_args_is_help=True)


def _shape(text: str, what: str) -> tuple[int, ...]:
    from ..errors import InputError

    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise InputError(f"{what} '{text}' is not a list of integers", hint="e.g. 64 or 1,8,8") from None


@model_app.command("init")
def init(
    out: Annotated[Path, typer.Argument(help="Workspace folder to create")],
    factory: Annotated[str, typer.Option(help="module:factory returning an nn.Module")] = DEFAULT_FACTORY,
    kwargs: Annotated[str, typer.Option(help="Factory keyword arguments as JSON")] = "{}",
    loss: Annotated[str, typer.Option(help="mse | cross_entropy | next_token (set by --text)")] = "cross_entropy",
    lr: Annotated[float, typer.Option(help="SGD learning rate")] = 0.5,
    momentum: Annotated[float, typer.Option(help="SGD momentum")] = 0.0,
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Samples per step")] = 8,
    input_shape: Annotated[str, typer.Option(help="Shape of one sample")] = "64",
    target_shape: Annotated[str, typer.Option(help="Shape of one target (classes for cross_entropy)")] = "10",
    scale: Annotated[int, typer.Option(help="Fixed-point bits")] = 12,
    seed: Annotated[int, typer.Option(help="Seed of the genesis weights")] = 0,
    commitment: Annotated[str, typer.Option(help="public (every value a public value) | hashed (a Poseidon hash "
                                            "per tensor, for models too big for a transaction)")] = "public",
    text: Annotated[Optional[str], typer.Option(help="A language model of this text: corpus (bundled) or a .txt "
                                                "file. Sets loss next_token, the text's characters as the "
                                                "vocabulary and windows of --context tokens; the factory "
                                                "defaults to zkgrad.models:char_gpt")] = None,
    context: Annotated[int, typer.Option(min=1, help="With --text: tokens per window")] = 8,
    json_: Json = False,
) -> None:
    """Create a model spec and its genesis checkpoint."""
    from ..errors import InputError
    from ..model.spec import ModelSpec
    from ..train.workspace import Workspace

    try:
        fk = json.loads(kwargs)
    except json.JSONDecodeError as e:
        raise InputError(f"--kwargs is not JSON: {e}", hint='e.g. --kwargs \'{"hidden": 16}\'') from None
    if not isinstance(fk, dict):
        raise InputError("--kwargs must be a JSON object", hint='e.g. --kwargs \'{"hidden": 16}\'')
    shapes = dict(input_shape=_shape(input_shape, "--input-shape"), target_shape=_shape(target_shape, "--target-shape"))
    vocab = None
    if text is not None:
        factory, fk, vocab = _language_model(text, factory, fk, context)
        loss, shapes = "next_token", dict(input_shape=(context,), target_shape=(context,))
    spec = ModelSpec(factory=factory, factory_kwargs=fk, loss=loss, lr=lr, momentum=momentum,  # type: ignore[arg-type]
                     weight_decay=weight_decay, batch_size=batch_size, scale=scale, seed=seed,
                     commitment=commitment, vocab=vocab, **shapes)  # type: ignore[arg-type]
    ws = Workspace.create(out, spec)
    g = ws.genesis()
    Output(json_).result({"workspace": str(ws.root), "spec": spec.to_dict(), "genesis": "0x" + g.commitment.hex()},
                         f"model workspace {ws.root}\n  genesis commitment 0x{g.commitment.hex()}")


def _language_model(text: str, factory: str, kwargs: dict, context: int) -> tuple[str, dict, str]:
    """(factory, its kwargs, vocabulary) of a language model of ``text``: the vocabulary is the
    text's characters; a factory that takes ``vocab`` and ``context`` is given them."""
    import inspect

    from ..model import text as texts
    from ..model.spec import import_factory

    if source_name(text) in ("corpus", "corpus:train", "corpus:test"):
        vocab = texts.vocabulary(texts.corpus())
    else:
        vocab = texts.vocabulary(texts.read_text(text))
    if factory == DEFAULT_FACTORY:
        factory = "zkgrad.models:char_gpt"
    taken = inspect.signature(import_factory(factory)).parameters
    for name, value in (("vocab", len(vocab)), ("context", context)):
        if name in taken:
            kwargs.setdefault(name, value)
    return factory, kwargs, vocab


@model_app.command("compile")
def compile_(
    workspace: Annotated[Path, typer.Argument(help="Workspace from 'zkgrad model init'")],
    data: Annotated[Optional[str], typer.Option(help=f"Calibration data: {DATA_FORMS}; default digits")] = None,
    srs: Srs = None,
    steps: Annotated[int, typer.Option(min=1, help="Planned training steps: the lookup ranges are measured along "
                                       "a float32 run of them")] = PLANNED_STEPS,
    margin: Annotated[float, typer.Option(min=1.0, max=16.0, help="Lookup range = margin x the extremes of that run")] = LOOKUP_MARGIN,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the batch order, as 'zkgrad train --seed'")] = 0,
    held_out: Annotated[Optional[str], typer.Option("--held-out", help="Held-out data (file or digits:test:SEED): "
                                                    "also compile the evaluation circuit with its first samples built in")] = None,
    held_out_size: Annotated[int, typer.Option(min=1, help="Held-out samples the evaluation counts on (at least 100 predictions)")] = 100,
    json_: Json = False,
) -> None:
    """Compile the model's training-step and inference circuits, and with --held-out its evaluation
    circuit (reused when unchanged)."""
    from ..circuits.config import CalibrationPlan
    from ..model.dataset import load_for
    from ..train.workspace import Workspace

    o = Output(json_)
    ws = Workspace.open(workspace)
    ds = load_data(data, ws.spec)
    plan = CalibrationPlan(steps=steps, margin=margin, seed=seed)
    held = load_for(ws.spec, source_name(held_out)) if held_out is not None else None
    circuits, reused = ws.compile(ds, srs=srs, plan=plan, reporter=o.reporter())
    parts = {"step": circuits.step, "answer": circuits.answer}
    if held is not None:
        parts["evaluation"], reused_e = ws.compile_evaluation(ds, held, size=held_out_size, srs=srs, plan=plan,
                                                              reporter=o.reporter())
        reused = reused and reused_e
    o.result({"reused": reused, **{n: {"path": str(c.path), "logrows": c.logrows, "key": c.key} for n, c in parts.items()},
              "dev_srs": circuits.step.dev_srs},
             "\n".join(f"{n} circuit {c.path} (logrows {c.logrows})" for n, c in parts.items())
             + ("\n  [yellow]development SRS: NOT secure, for testing only[/]" if circuits.step.dev_srs else ""))


def prove_step(
    workspace: Annotated[Path, typer.Option("--model", help="Workspace (spec.json, circuits/)")],
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to start from (folder)")],
    batch_file: Annotated[Path, typer.Option("--batch", help="Batch .npz with x (B,...) and y (B,...)")],
    out: Annotated[Path, typer.Option(help="Step folder to write")],
    model_id: Annotated[Optional[int], typer.Option("--model-id", min=1, help="Bind the proof to this account's "
                        "submission to this registered model (its claim); without it no one can submit the proof")] = None,
    rpc: Rpc = None,
    registry: Annotated[Optional[str], address_option("--registry", "Registry address; default: the recorded one")] = None,
    json_: Json = False,
) -> None:
    """Prove one training step: proof, new checkpoint, commitments, loss and fidelity."""
    import numpy as np

    from ..errors import InputError
    from ..model.checkpoint import Checkpoint
    from ..prover.step import prove_step as prove
    from ..train.workspace import Workspace

    o = Output(json_)
    ws = Workspace.open(workspace)
    circuits = ws.circuits()
    before = Checkpoint.load(checkpoint)
    from ..model.data import load as load_file

    ds = load_file(batch_file, ws.spec.num_classes if ws.spec.loss == "cross_entropy" else None)
    x = ds.x.reshape(circuits.spec.x_shape) if ds.x.size == int(np.prod(circuits.spec.x_shape)) else None
    if x is None:
        raise InputError(f"batch {batch_file} has {len(ds)} samples of {ds.x.shape[1:]}, the spec wants "
                         f"{list(circuits.spec.x_shape)}", hint="give exactly one batch")
    claim = 0
    if model_id is not None:
        from ..chain.registry import Registry
        from ..node import connect
        from ..train.register import registry_address

        w3 = connect(resolve_rpc(rpc))
        reg = Registry(w3, registry_address(w3, registry))
        info = reg.model(model_id)
        if before.commitment != info.head:
            raise InputError(f"checkpoint {checkpoint} is not the head of model {model_id} at {reg.address} "
                             f"(version {info.version}): only a step from the head can be accepted",
                             hint="start from the model's head ('zkgrad history' names it)")
        claim = reg.claim(model_id, info.version + 1)
    sp = prove(circuits, before, x, ds.targets().reshape(circuits.spec.y_shape), folder=out, claim=claim,
               reporter=o.reporter())
    if not claim:
        o.note("this proof names no submitter, so the registry will refuse it: prove with --model-id to submit it")
    s = sp.summary
    o.result({"folder": str(out), **s.to_dict()},
             f"step {s.version} proven in {s.prove_s:.1f} s: {out}\n"
             f"  before {s.before}\n  after  {s.after}\n  batch  {s.batch}\n"
             f"  loss {s.loss:.6f} (float32 {s.float_loss:.6f}), max |proven - float| param "
             f"{s.max_abs_param_diff:.2e}")


def prove_answer(
    workspace: Annotated[Path, typer.Option("--model", help="Workspace (spec.json, circuits/)")],
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint whose weights answer")],
    input: Annotated[Path, typer.Option(help='One sample: {"input_data": [[...]]} or a .npz with x')],
    out: Annotated[Path, typer.Option(help="Proof file to write")] = Path("answer.json"),
    json_: Json = False,
) -> None:
    """Prove the model's answer for one input, bound to the checkpoint's weights commitment."""
    from .. import fsio
    from ..model.checkpoint import Checkpoint
    from ..model.data import load_sample
    from ..train.answer import prove_answer as prove
    from ..train.workspace import Workspace

    fsio.check_file_target(out, "proof", fsio.json_with("instances", "proof"))
    o = Output(json_)
    ws = Workspace.open(workspace)
    x = load_sample(input)
    ans = prove(ws.circuits(), Checkpoint.load(checkpoint), x, out=out, reporter=o.reporter())
    o.result({"proof": str(out), "logits": ans.logits, "prediction": ans.prediction,
              "weights": "0x" + ans.weights_commitment.hex(), "timings": ans.result.timings},
             f"answer {ans.prediction} proven: {out}\n  weights 0x{ans.weights_commitment.hex()}")
