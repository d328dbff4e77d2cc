"""On-chain acceptance: registry deploy, register, submit update|answer, evaluate, history, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..chain.terms import DEFAULT_REFUND_DELAY
from .data_opts import DATA_FORMS, source_name
from .options import Json, Rpc, address_option, resolve_rpc
from .output import Output

registry_app = typer.Typer(help="The registry contract that accepts proven updates and answers.", no_args_is_help=True)
submit_app = typer.Typer(help="Submit a proven update or answer to the registry.", no_args_is_help=True)
Registry_ = Annotated[Optional[str], address_option("--registry", "Registry address; default: the recorded one")]
UINT256_MAX = 2**256 - 1
ModelId = Annotated[int, typer.Argument(min=1, max=UINT256_MAX, help="Model id in the registry")]
LogSpan = Annotated[Optional[int], typer.Option(
    "--log-span", min=1, envvar="ZKGRAD_LOG_SPAN",
    help="Most blocks per eth_getLogs request, halved while the node refuses; default: one public providers accept")]


def registry_of(rpc: str | None, address: str | None, log_span: int | None = None):  # type: ignore[no-untyped-def]
    """The registry at ``address`` (default: the one recorded for the chain) on the node at ``rpc``."""
    from ..chain.registry import Registry
    from ..node import connect
    from ..train.register import registry_address

    w3 = connect(resolve_rpc(rpc))
    reg = Registry(w3, registry_address(w3, address))
    if log_span is not None:
        reg.log_span = log_span
    return reg


@registry_app.command("deploy")
def deploy(rpc: Rpc = None, json_: Json = False) -> None:
    """Deploy a registry and record it as this chain's default."""
    from ..chain.registry import deploy_registry
    from ..node import chain_id, connect
    from ..train.register import remember_registry

    w3 = connect(resolve_rpc(rpc))
    addr = deploy_registry(w3)
    remember_registry(w3, addr)
    Output(json_).result({"registry": addr, "chain_id": chain_id(w3)}, f"registry at {addr}")


@registry_app.command("refund")
def refund(
    model_id: ModelId,
    to: Annotated[Optional[str], address_option("--to", "Where the refund goes; default: the signing account")] = None,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Take back your share of a model's unspent bounty: allowed once it holds less than one reward,
    or when no update was accepted for the model's refund delay (fixed at registration)."""
    reg = registry_of(rpc, registry)
    if not reg.refundable(model_id):
        from ..errors import InputError

        delay = reg.model(model_id).terms.refund_delay
        raise InputError(f"model {model_id}'s bounty is not refundable yet: it still pays a reward and an update "
                         f"was accepted within its refund delay of {delay} blocks",
                         hint="wait until no update has been accepted for that many blocks")
    amount = reg.refund(model_id, to)
    Output(json_).result({"model_id": model_id, "refunded": amount}, f"refunded {amount} wei of model {model_id}'s bounty")


def register_model(
    workspace: Annotated[Path, typer.Argument(help="Model workspace with compiled circuits")],
    reward: Annotated[int, typer.Option(min=0, max=UINT256_MAX, help="Wei paid per accepted update")] = 0,
    fund: Annotated[int, typer.Option(min=0, max=UINT256_MAX, help="Wei to put in the model's bounty now")] = 0,
    refund_delay: Annotated[int, typer.Option(min=1, max=2**32 - 1, help="Blocks with no accepted update after "
                                              "which funders may take the unspent bounty back")] = DEFAULT_REFUND_DELAY,
    name: Annotated[Optional[str], typer.Option(help="Model name on chain")] = None,
    allow_dev_srs: Annotated[bool, typer.Option("--allow-dev-srs", help="Allow development-SRS verifiers off a local chain")] = False,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Deploy the model's verifiers and register it, under terms fixed for good: its genesis, its
    committed dataset and held-out set ('zkgrad data commit'), its reward, its published spec."""
    from ..train.register import check_registrable
    from ..train.register import register as do_register
    from ..train.workspace import Workspace

    ws = Workspace.open(workspace)
    check_registrable(ws)
    rec = do_register(ws, registry_of(rpc, registry), reward_wei=reward, fund_wei=fund, name=name,
                      allow_dev_srs=allow_dev_srs, refund_delay=refund_delay)
    Output(json_).result(rec, f"model {rec['model_id']} registered at {rec['registry']}")


@submit_app.command("update")
def submit_update(
    step: Annotated[Path, typer.Argument(help="Step folder from 'zkgrad prove step' (or its proof.json)")],
    model_id: Annotated[int, typer.Option("--model-id", min=1, max=UINT256_MAX, help="Model id")],
    min_reward: Annotated[int, typer.Option(min=0, max=UINT256_MAX, help="Revert unless the update pays at least this many wei")] = 0,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Submit a proven training step from a workspace's step folder; the registry accepts it only if
    it starts from the head and used the batch the committed dataset schedules for it."""
    from ..train.submit import step_submission

    sub = step_submission(step)
    reg = registry_of(rpc, registry)
    sub.check_claim(reg, model_id)
    r, sent = sub.submit(reg, model_id, min_reward=min_reward)
    Output(json_).result({"version": r.version, "before": "0x" + r.before.hex(), "after": "0x" + r.after.hex(),
                          "batch": "0x" + r.batch.hex(), "gas_used": r.gas_used, "tx_hash": r.tx_hash,
                          "reward": r.reward, "sent_now": sent},
                         f"update accepted: model {model_id} made version {r.version} ({r.gas_used} gas)"
                         + ("" if sent else f", by {r.tx_hash} sent earlier"))


@submit_app.command("answer")
def submit_answer(
    proof: Annotated[Path, typer.Argument(help="Answer proof from 'zkgrad prove answer'")],
    model_id: Annotated[int, typer.Option("--model-id", min=1, max=UINT256_MAX, help="Model id")],
    version: Annotated[Optional[int], typer.Option(min=0, max=UINT256_MAX - 1, help="A past version the answer's weights are; default: the head")] = None,
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Submit a proven answer; accepted only against the head (or the named version)."""
    from ..prover.proof import Proof

    p = Proof.load(proof)
    a = registry_of(rpc, registry).submit_answer(model_id, p.proof_bytes, p.instances, version=version)
    Output(json_).result({"answer_id": a.answer_id, "version": a.version, "input": "0x" + a.input.hex(),
                          "outputs": [str(v) for v in a.outputs], "gas_used": a.gas_used, "tx_hash": a.tx_hash},
                         f"answer {a.answer_id} accepted against version {a.version} ({a.gas_used} gas)")


def evaluate(
    workspace: Annotated[Path, typer.Argument(help="Model workspace holding the head and the evaluation circuit")],
    model_id: Annotated[int, typer.Option("--model-id", min=1, max=UINT256_MAX, help="Model id")],
    rpc: Rpc = None,
    registry: Registry_ = None,
    json_: Json = False,
) -> None:
    """Prove the head's accuracy on the registered held-out set and record it on chain."""
    from ..train.evaluate import evaluate as do_evaluate
    from ..train.workspace import Workspace

    e = do_evaluate(Workspace.open(workspace), registry_of(rpc, registry), model_id)
    Output(json_).result({"version": e.version, "correct": e.correct, "total": e.total, "accuracy": e.accuracy,
                          "submitter": e.submitter, "tx_hash": e.tx_hash, "gas_used": e.gas_used},
                         f"version {e.version}: {e.correct}/{e.total} held-out samples correct "
                         f"({e.accuracy:.1%}), proven and recorded on chain")


def history(model_id: ModelId, rpc: Rpc = None, registry: Registry_ = None, log_span: LogSpan = None,
            json_: Json = False) -> None:
    """The model's lineage: every accepted update with its batch, prover, reward and gas, and the proven
    held-out accuracy of each evaluated version."""
    reg = registry_of(rpc, registry, log_span)
    info = reg.model(model_id)
    rows = [{"version": r.version, "before": "0x" + r.before.hex(), "after": "0x" + r.after.hex(),
             "batch": "0x" + r.batch.hex(), "prover": r.prover, "reward": r.reward, "block": r.block,
             "gas_used": r.gas_used, "tx_hash": r.tx_hash} for r in reg.history(model_id)]
    accuracy = [{"version": e.version, "correct": e.correct, "total": e.total, "accuracy": e.accuracy,
                 "submitter": e.submitter} for e in (reg.evaluations(model_id) if info.terms.evaluated else [])]
    lines = [f"model {model_id} '{info.name}': version {info.version}, head 0x{info.head.hex()[:16]}…, "
             f"genesis 0x{info.genesis.hex()[:16]}…, data root 0x{info.terms.dataset_root.hex()[:16]}…"]
    lines += [f"  v{r['version']:<4} after {r['after'][:18]}… batch {r['batch'][:18]}… by {r['prover']} "
              f"block {r['block']} gas {r['gas_used']}" for r in rows]
    lines += [f"  v{a['version']:<4} proven held-out accuracy {a['correct']}/{a['total']} ({a['accuracy']:.1%})"
              for a in accuracy]
    Output(json_).result({"model_id": model_id, "name": info.name, "version": info.version,
                          "head": "0x" + info.head.hex(), "genesis": "0x" + info.genesis.hex(),
                          "dataset_root": "0x" + info.terms.dataset_root.hex(),
                          "spec_digest": "0x" + info.spec_digest.hex(), "updates": rows, "evaluations": accuracy},
                         "\n".join(lines))


def audit(
    model_id: ModelId,
    data: Annotated[Optional[str], typer.Option(help=f"The training data: {DATA_FORMS}; default: the source the "
                                                "published spec names")] = None,
    held_out: Annotated[Optional[str], typer.Option("--held-out", help="The held-out data (file or digits:test:SEED); "
                                                    "default: the published source")] = None,
    srs_dir: Annotated[Optional[list[Path]], typer.Option("--srs-dir", help="A folder holding the SRS files the model names (by sha256); repeatable")] = None,
    rpc: Rpc = None,
    registry: Registry_ = None,
    log_span: LogSpan = None,
    json_: Json = False,
) -> None:
    """What a model id means, checked from the chain and the data alone: the published spec, the
    dataset root, the verifiers' code rebuilt from the spec, and every accepted update re-verified
    from calldata. Exit 1 if anything does not match."""
    from ..train.audit import audit_model

    reg = registry_of(rpc, registry, log_span)
    o = Output(json_)
    report = audit_model(reg, model_id, data=source_name(data, None), held_out=source_name(held_out, None),
                         srs_dirs=tuple(srs_dir or ()), reporter=o.reporter())
    lines = [f"audit of model {model_id}: {'[green]clean[/]' if report.ok else '[red]FAILED[/]'}"]
    lines += [f"  {'ok' if f.ok else 'FAILED'}  {f.what}: {escape(f.detail)}" for f in report.findings]
    if report.lineage is not None:
        lin = report.lineage
        proof = {(True, True): "ok", (False, True): "REFUSED", (False, False): "NOT PUBLISHED"}
        lines.append(f"  lineage: {len(lin.steps)} updates, head {lin.head[:18]}…")
        lines += [f"    v{s.version}: proof {proof[s.verified, s.in_calldata]}, chain {'ok' if s.chained else 'BROKEN'}"
                  + (f" — {s.reason}" if s.reason else "") for s in lin.steps]
    o.result(report.to_dict(), "\n".join(lines))
    if not report.ok:
        raise typer.Exit(1)
