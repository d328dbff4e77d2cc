"""The main job: zkgrad demo, zkgrad train, zkgrad report."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .data_opts import DATA_FORMS, default_source, load_data, source_name
from .options import Json, Rpc, address_option, resolve_rpc, rpc_url

if TYPE_CHECKING:
    from ..chain.registry import Registry
    from ..train.workspace import Workspace
from .output import Output

Pool = Annotated[str, typer.Option("--pool", help="Provers: serial | local:N | ray:local:N | ray://HOST:PORT")]
Device = Annotated[str, typer.Option("--device", help="Prover device: auto | cpu | gpu")]


@contextmanager
def _prover(pool: str, device: str, o: Output):  # type: ignore[no-untyped-def]
    from ..train.provers import make_prover

    with make_prover(pool, device, on_notice=o.note) as (prover, notice):
        if notice:
            o.note(notice)
        yield prover


def _on_accepted(o: Output):  # type: ignore[no-untyped-def]
    def show(a) -> None:  # type: ignore[no-untyped-def]
        if a.taken_by:
            o.note(f"[yellow]![/] step {a.version} was submitted first by another account, {a.taken_by}: "
                   "its reward and credit are theirs, not yours")
            return
        loss = f"loss {a.loss:.4f}" if a.loss is not None else ""
        o.note(f"[green]✓[/] step {a.version} accepted on chain: {loss} (float {a.float_loss:.4f}), "
               f"prove {a.prove_s:.1f} s, {a.gas_used} gas" + (" (landed before a restart)" if a.resumed else ""))
    return show


def demo(
    steps: Annotated[int, typer.Option(min=1, help="Proven training steps (about 20 s each on 2 cores)")] = 40,
    hidden: Annotated[int, typer.Option(min=0, help="Hidden units of a digits MLP; 0: softmax regression")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step")] = 8,
    lr: Annotated[float, typer.Option(help="Learning rate")] = 0.5,
    seed: Annotated[int, typer.Option(min=0, help="Seed for weights, batches and the held-out split")] = 0,
    workdir: Annotated[Optional[Path], typer.Option(help="Workspace parent; default ~/.zkgrad/demo")] = None,
    rpc: Annotated[Optional[str], typer.Option(callback=rpc_url, help="Use this EVM node instead of a private local anvil")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Also write the report (PNG + HTML) into this folder")] = None,
    pool: Pool = "serial",
    device: Device = "auto",
    lm: Annotated[bool, typer.Option("--lm", help="The language-model job instead: a character GPT on the bundled "
                                     "text, its proven next-token accuracy and a proven continuation of --prompt "
                                     "(--steps default 12, --lr 1.0, --batch-size 2)")] = False,
    prompt: Annotated[str, typer.Option(help="With --lm: the text to continue")] = "the data",
    tokens: Annotated[int, typer.Option(min=1, help="With --lm: proven tokens to generate")] = 4,
    json_: Json = False,
) -> None:
    """Train a digits classifier where every step is proven and accepted on a local chain, then answer a
    held-out digit with a proof the registry accepts (--lm: a language model, answering with text)."""
    from .. import fsio
    from ..train.demo import DemoConfig, run_demo

    if report:
        fsio.check_target(report, "report", what="--report")  # now, not after the run
    o = Output(json_)
    if lm:
        _lm_demo(o, steps=None if steps == 40 else steps, batch_size=None if batch_size == 8 else batch_size,
                 lr=None if lr == 0.5 else lr, seed=seed, workdir=workdir, rpc=rpc, prompt=prompt, tokens=tokens,
                 pool=pool, device=device, report=report)
        return
    cfg = DemoConfig(steps=steps, hidden=hidden, batch_size=batch_size, lr=lr, seed=seed, workdir=workdir, rpc=rpc)
    cfg.spec()  # a bad --lr or --batch-size is refused before provers start and print notices
    with _prover(pool, device, o) as prover:
        res = run_demo(cfg, reporter=o.reporter(), prover=prover, on_accepted=_on_accepted(o), note=o.note)
    if report:
        _write_report(o, res.workspace, report, {"model id": res.model_id, "registry": res.registry, "rpc": res.rpc},
                      res.lineage, {res.evaluation["version"]: res.accuracy_proven})
    a = res.answer
    lines = [
        "",
        f"[bold]steps accepted on chain:[/] {res.steps_accepted}",
        f"[bold]proven held-out accuracy[/] of version {res.evaluation['version']}: {res.evaluation['correct']}/"
        f"{res.evaluation['total']} ({res.accuracy_proven:.1%}), accepted and recorded on chain",
        f"[bold]whole held-out set[/] (computed here, not proven): head's weights {res.accuracy_head:.1%}, "
        f"float32 shadow run {res.accuracy_float:.1%}",
        f"[bold]mean prove time:[/] {res.mean_prove_s:.1f} s per step; [bold]gas per update:[/] {res.mean_update_gas:,.0f}",
        f"[bold]largest |proven − float32| parameter difference in a step:[/] {res.max_abs_param_diff:.2e}",
        f"[bold]answer:[/] held-out digit #{a['index']} (label {a['label']}) answered {a['prediction']} "
        f"with a proof accepted against version {a['version']} ({a['gas_used']:,} gas)",
        "[bold]lineage:[/]",
        *[f"  v{r['version']}: weights {r['after'][:18]}… batch {r['batch'][:18]}… block {r['block']}" for r in res.lineage],
    ]
    if res.dev_srs:
        lines.append("[yellow]development SRS: proofs here are NOT secure, for testing only[/]")
    o.result(res.to_dict(), "\n".join(lines))


def _write_report(o: Output, workspace: str, out: Path, meta: dict[str, Any], lineage: list[dict[str, Any]],
                  evaluations: dict[int, float]) -> None:
    from ..train.report import write_run_report
    from ..train.workspace import Workspace

    _, html = write_run_report(Workspace(Path(workspace)), out, meta=meta, lineage=lineage, evaluations=evaluations)
    o.note(f"report: {html}")


def _lm_demo(o: Output, *, steps: int | None, batch_size: int | None, lr: float | None, pool: str, device: str,
             report: Path | None, **kw: Any) -> None:
    from dataclasses import replace

    from ..train.lm_demo import LmDemoConfig, run_lm_demo

    cfg = LmDemoConfig(**kw)
    cfg = replace(cfg, **{k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr).items() if v is not None})
    cfg.spec()
    with _prover(pool, device, o) as prover:
        res = run_lm_demo(cfg, reporter=o.reporter(), prover=prover, on_accepted=_on_accepted(o), note=o.note)
    if report:
        _write_report(o, res.workspace, report, {"model id": res.model_id, "generated": res.prompt + res.generated},
                      res.lineage, {res.evaluation_version: res.accuracy_proven})
    o.result(res.to_dict(), "\n".join([
        "", f"[bold]steps accepted on chain:[/] {res.steps_accepted}",
        f"[bold]proven held-out next-token accuracy[/] ({res.held_out_tokens} tokens): {res.accuracy_proven:.1%}, "
        "accepted and recorded on chain",
        f"  same tokens: best constant predictor {res.accuracy_constant:.1%}, bigram predictor "
        f"{res.accuracy_bigram:.1%}, float32 shadow run {res.accuracy_float:.1%}",
        f"[bold]mean prove time:[/] {res.mean_prove_s:.1f} s per step; [bold]gas per update:[/] "
        f"{res.mean_update_gas:,.0f}",
        f"[bold]largest |proven − float32| parameter difference in a step:[/] {res.max_abs_param_diff:.2e}",
        f"[bold]generated:[/] {res.prompt!r} + {res.generated!r}, one proof per token, each accepted by the "
        f"registry ({res.generation})",
        "[yellow]development SRS: proofs here are NOT secure, for testing only[/]"]))


def train(
    workspace: Annotated[Optional[Path], typer.Argument(
        help="Model workspace (zkgrad model init / compile / register); without one, --model-id is rebuilt "
             "from what the chain publishes into $ZKGRAD_HOME/models")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Train until the model's version on chain is this")] = 1,
    data: Annotated[Optional[str], typer.Option(help=f"Training data: {DATA_FORMS}; default: the committed dataset's")] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="Seed of the batch order; default: the committed dataset's")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Must equal the spec's: the circuit is built for it")] = None,
    depth: Annotated[int, typer.Option(min=1, help="Steps witnessed ahead of proving (pipelining)")] = 2,
    min_reward: Annotated[int, typer.Option(min=0, max=2**256 - 1, help="Stop rather than submit a step that would "
                                            "pay less than this many wei (RewardBelowMinimum)")] = 0,
    model_id: Annotated[Optional[int], typer.Option(min=1, help="Model id; default: the one 'zkgrad register' recorded")] = None,
    registry: Annotated[Optional[str], address_option("--registry", "Registry address; default: the recorded one")] = None,
    srs_dir: Annotated[Optional[list[Path]], typer.Option("--srs-dir", help="Without a workspace: a folder holding "
                                                          "the SRS files the model names (by sha256); repeatable")] = None,
    rpc: Rpc = None,
    pool: Pool = "serial",
    device: Device = "auto",
    json_: Json = False,
) -> None:
    """Prove and submit training steps for a registered model; rerun to resume from the chain head,
    whoever proved it. Without a workspace, the model is rebuilt from the chain and the data."""
    from ..chain.registry import Registry
    from ..errors import DeploymentError, InputError
    from ..model.dataset import load_for
    from ..node import chain_id, connect
    from ..train.loop import train as run_train
    from ..train.register import registered, registry_address
    from ..train.workspace import Workspace

    o = Output(json_)
    if workspace is None and model_id is None:
        raise InputError("no model to train", hint="give a model workspace, or --model-id to train a registered "
                                                   "model from what the chain publishes")
    ws = Workspace.open(workspace) if workspace is not None else None
    if ws is not None:
        _check_batch_size(ws, batch_size)
    w3 = connect(resolve_rpc(rpc))
    cid = chain_id(w3)
    if ws is None:
        ws = _joined(Registry(w3, registry_address(w3, registry)), int(model_id), data, tuple(srs_dir or ()), o)  # type: ignore[arg-type]
        _check_batch_size(ws, batch_size)
    rec = ws.deployment(cid) or {}
    mid = model_id if model_id is not None else rec.get("model_id")
    if mid is None:
        raise DeploymentError(f"{ws.root} is not registered on chain {cid}",
                              hint=f"register it with 'zkgrad register {ws.root}' or pass --model-id")
    reg = Registry(w3, registry or rec.get("registry") or registry_address(w3, None))
    if model_id is None and not registered(reg, rec, ws.genesis().commitment):
        raise DeploymentError(f"model {mid} of {ws.root} is not on this chain {cid} node "
                              "(a restarted local chain?)", hint=f"register it again with 'zkgrad register {ws.root}'")
    if seed is None:
        seed = ws.dataset().seed if ws.dataset_path.is_file() else 0
    committed = ws.dataset() if data is None and ws.dataset_path.is_file() else None
    ds = load_data(data, ws.spec) if committed is None else load_for(ws.spec, committed.source)
    ws.record_run(source_name(data, default_source(ws.spec)) if committed is None else committed.source, seed)  # once every input is checked
    ws.discard_partial_steps()  # what a killed run left half-built
    with _prover(pool, device, o) as prover:
        acc = run_train(ws, ds, reg, int(mid), steps=steps, seed=seed, depth=depth, prover=prover,
                        reporter=o.reporter(), on_accepted=_on_accepted(o), min_reward=min_reward)
    o.result({"model_id": mid, "version": reg.version(int(mid)), "workspace": str(ws.root),
              "accepted": [a.__dict__ for a in acc]},
             f"model {mid} at version {reg.version(int(mid))} ({sum(not a.taken_by for a in acc)} steps of yours "
             f"accepted in this run" + (f", {sum(bool(a.taken_by) for a in acc)} taken by other accounts)"
                                        if any(a.taken_by for a in acc) else ")"))


def _check_batch_size(ws: "Workspace", batch_size: int | None) -> None:
    from ..errors import InputError

    if batch_size is not None and batch_size != ws.spec.batch_size:
        raise InputError(f"{ws.root} proves batches of {ws.spec.batch_size}, not {batch_size}: the circuit is built "
                         "for one batch size", hint="create another model with 'zkgrad model init --batch-size N'")


def _joined(reg: "Registry", model_id: int, data: str | None, srs_dirs: tuple[Path, ...], o: Output) -> "Workspace":
    """The workspace zkgrad keeps for a model it trains from the chain alone: built on first use."""
    from ..fsio import zkgrad_home
    from ..train.join import join_model, joined_workspace

    info = reg.model(model_id)
    root = zkgrad_home() / "models" / f"{reg.chain_id}-{reg.address.lower()}-{model_id}"
    ws = joined_workspace(root, info, reg)
    if ws is not None:
        return ws
    o.note(f"model {model_id}: rebuilding its circuits from the published spec into {root}")
    return join_model(reg, model_id, root, data=source_name(data, None), srs_dirs=srs_dirs,
                      reporter=o.reporter())


def report(
    workspace: Annotated[Path, typer.Argument(help="Model workspace")],
    out: Annotated[Path, typer.Option(help="Folder for report.png and report.html")] = Path("report"),
    rpc: Rpc = None,
    json_: Json = False,
) -> None:
    """Write a PNG and an HTML page: proven vs float loss per step, prove time per step, gas per update."""
    from ..train.report import write_run_report
    from ..train.workspace import Workspace

    ws = Workspace.open(workspace)
    png, html = write_run_report(ws, out, rpc=resolve_rpc(rpc) if rpc else None)
    Output(json_).result({"png": str(png), "html": str(html)}, f"wrote {png} and {html}")
