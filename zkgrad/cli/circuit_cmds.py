"""export, compile, prove, verify, deploy: the inference round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .options import CircuitDir, Json, Rpc, Srs, address_option, resolve_rpc
from .output import Output


def export(
    factory: Annotated[str, typer.Argument(help="module:factory returning a torch.nn.Module, e.g. zkgrad.models:digits_mlp")],
    input_shape: Annotated[str, typer.Option("--input-shape", help="Shape of one input, comma separated, e.g. 1,64")],
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write")] = Path("model.onnx"),
    sample_out: Annotated[Optional[Path], typer.Option("--sample-out", help="Also write a random sample input (ezkl format)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for the module's weights and the sample")] = 0,
    json_: Json = False,
) -> None:
    """Export a PyTorch module to ONNX for an inference circuit."""
    import torch

    from .. import fsio
    from ..circuits.export import (
        export_module,
        exported_by_zkgrad,
        load_factory,
        sample_json,
    )
    from ..errors import InputError

    fsio.check_file_target(out, "ONNX model", exported_by_zkgrad)
    if sample_out:
        fsio.check_file_target(sample_out, "sample input", fsio.json_with("input_data"), what="--sample-out")

    try:
        shape = tuple(int(s) for s in input_shape.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise InputError(f"--input-shape '{input_shape}' is not a list of positive integers", hint="e.g. --input-shape 1,64")
    torch.manual_seed(seed)
    make = load_factory(factory)
    try:
        module = make()
    except Exception as e:  # noqa: BLE001 - the user's code: its failure is an input error
        raise InputError(f"{factory}() failed: {type(e).__name__}: {e}", hint="it must build the module with no arguments") from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"{factory} returned {type(module).__name__}, not a torch.nn.Module",
                         hint="the factory must return a torch.nn.Module")
    sample = torch.randn(*shape)
    try:
        with torch.no_grad():
            module.eval()(sample)
    except Exception as e:  # noqa: BLE001 - the user's module refuses the shape
        raise InputError(f"{factory}'s module cannot run on an input of shape {list(shape)}: {e}",
                         hint="pass the shape its forward expects, batch first, e.g. --input-shape 1,64") from None
    export_module(module, sample, out)
    if sample_out:
        fsio.write_json(sample_out, sample_json(sample))
    Output(json_).result({"onnx": str(out), "sample": str(sample_out) if sample_out else None},
                         f"wrote {out}" + (f" and {sample_out}" if sample_out else ""))


def compile_(
    model: Annotated[Path, typer.Argument(help="ONNX model file")],
    sample: Annotated[Path, typer.Option("--sample", help='Sample input, ezkl format {"input_data": [[...]]}')],
    out: Annotated[Optional[Path], typer.Option("--out", help="Circuit folder (default: ~/.zkgrad/circuits/<content hash>)")] = None,
    srs: Srs = None,
    scale: Annotated[Optional[int], typer.Option(help="Fixed-point bits; default: calibration picks")] = None,
    input_visibility: Annotated[str, typer.Option(help="public | private | hashed/public | polycommit")] = "public",
    output_visibility: Annotated[str, typer.Option(help="public | private | hashed/public | polycommit")] = "public",
    target: Annotated[Literal["resources", "accuracy"], typer.Option(help="Calibration target")] = "resources",
    json_: Json = False,
) -> None:
    """Compile an ONNX model into a circuit: settings, keys and a compiled Solidity verifier."""
    from ..circuits.compile import compile_model
    from ..circuits.config import CircuitConfig
    from ..verifier.solidity import build_verifier

    o = Output(json_)
    config = CircuitConfig(input_visibility=input_visibility, output_visibility=output_visibility, scale=scale,
                           calibration_target=target)
    circuit, reused = compile_model(model, sample, out=out, srs=srs, config=config, reporter=o.reporter(),
                                    verifier=build_verifier)
    m = circuit.manifest
    srs_line = ("[yellow]development SRS: NOT secure, for testing only[/]" if circuit.dev_srs
                else f"ceremony SRS {m['srs']['path']}")
    o.result(
        {"circuit": str(circuit.path), "key": m["key"], "reused": reused, "logrows": m["logrows"],
         "srs": m["srs"], "verifier": m["verifier"], "timings": m["timings"]},
        f"circuit {circuit.path} ({'reused, no setup' if reused else 'compiled'})\n"
        f"  logrows {m['logrows']}, {m['num_instances']} public values, verifier {m['verifier']['runtime_size']} bytes\n"
        f"  {srs_line}",
    )


def prove_circuit(
    circuit_dir: CircuitDir,
    input: Annotated[Path, typer.Option("--input", help="Input, ezkl format")],
    out: Annotated[Path, typer.Option("--out", help="Proof file to write")] = Path("proof.json"),
    pool: Annotated[str, typer.Option(help="Where to prove: serial | local:N | ray:local:N | ray://HOST:PORT")] = "serial",
    device: Annotated[str, typer.Option(help="Prover device: auto | cpu | gpu")] = "auto",
    json_: Json = False,
) -> None:
    """Witness and proof for an input; prints the model's outputs and stage times."""
    from .. import fsio
    from ..circuits.artifacts import Circuit
    from ..prover.pooled import prove_pooled

    fsio.check_file_target(out, "proof", fsio.json_with("instances", "proof"))
    o = Output(json_)
    circuit = Circuit.open(circuit_dir)
    r, notice = prove_pooled(circuit, input, out=out, pool=pool, device=device, reporter=o.reporter())
    if notice:
        o.note(notice)
    outs = "\n".join("  " + ", ".join(f"{v:.6g}" for v in t) for t in r.outputs) or "  (outputs are not public)"
    times = ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items())
    who = r.prover
    gpus = f", GPU {','.join(who['gpu_ids'])}" if who.get("gpu_ids") else ""
    o.result({"proof": str(out), "outputs": r.outputs, "instances": [hex(i) for i in r.proof.instances],
              "timings": r.timings, "prover": who, "notice": notice, "dev_srs": circuit.dev_srs},
             f"proof {out}\noutputs:\n{outs}\ntimes: {times}\n"
             f"prover: {who.get('backend')} on {who.get('worker')} ({who.get('pool')}{gpus})")


def verify(
    proof: Annotated[Path, typer.Argument(help="proof.json from 'zkgrad prove', or a step folder from 'zkgrad prove step'")],
    circuit_dir: Annotated[Path, typer.Option("--circuit", help="The circuit folder the proof is for")],
    onchain: Annotated[bool, typer.Option("--onchain", help="Check through the deployed verifier contract")] = False,
    rpc: Rpc = None,
    address: Annotated[Optional[str], address_option("--address", "Verifier address; default: the one recorded by "
                                                     "'zkgrad deploy'")] = None,
    json_: Json = False,
) -> None:
    """Verify a proof off-chain, or on-chain with --onchain. Exit 1 when refused."""
    from ..circuits.artifacts import Circuit
    from ..prover.proof import Proof
    from ..verifier.offchain import verify as verify_offchain

    o = Output(json_)
    circuit = Circuit.open(circuit_dir)
    proof = proof / "proof.json" if proof.is_dir() else proof
    p = Proof.load(proof)
    gas = None
    if onchain:
        from ..chain.deployments import recorded_verifier, verify_onchain
        from ..node import connect

        w3 = connect(resolve_rpc(rpc))
        addr = address or recorded_verifier(w3, circuit)
        verdict, gas = verify_onchain(w3, addr, p)
    else:
        verdict = verify_offchain(p, circuit)
    states = _statement(circuit, p)
    o.result({"accepted": verdict.accepted, "where": verdict.where, "reason": verdict.reason, "gas": gas,
              "proof": str(proof), "kind": circuit.config.kind, "states": states},
             (f"[green]accepted[/] {verdict.where}" + (f" ({gas} gas)" if gas else "") if verdict
              else f"[red]refused[/] {verdict.where}: {verdict.reason}")
             + "".join(f"\n  {k}: {v}" for k, v in states.items()))
    if not verdict:
        raise typer.Exit(1)


def _statement(circuit, proof) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What a step or answer proof states, decoded with the public-instance layout."""
    from ..circuits.extras import ModelExtra
    from ..errors import CircuitError
    from ..layout import AnswerLayout, StepLayout

    inst = proof.instances
    try:
        if circuit.config.kind == "step":
            lay = StepLayout(**ModelExtra.of(circuit).layout)
            return {"before": "0x" + lay.before_commitment(inst).hex(), "batch": "0x" + lay.batch_commitment(inst).hex(),
                    "after": "0x" + lay.after_commitment(inst).hex()}
        if circuit.config.kind == "answer":
            alay = AnswerLayout(**ModelExtra.of(circuit).layout)
            return {"weights": "0x" + alay.weights_commitment(inst).hex(),
                    "input": "0x" + alay.input_commitment(inst).hex()}
    except (CircuitError, TypeError, ValueError):  # a step circuit compiled by hand: no layout to decode with
        return {}
    return {}


def deploy(
    circuit_dir: CircuitDir,
    rpc: Rpc = None,
    allow_dev_srs: Annotated[bool, typer.Option("--allow-dev-srs", help="Allow a development-SRS verifier on a non-local chain")] = False,
    force: Annotated[bool, typer.Option(help="Deploy again even if one is recorded")] = False,
    json_: Json = False,
) -> None:
    """Deploy the circuit's verifier contract and record its address per chain id."""
    from ..chain.deployments import deploy_verifier
    from ..circuits.artifacts import Circuit
    from ..node import connect

    o = Output(json_)
    circuit = Circuit.open(circuit_dir)
    w3 = connect(resolve_rpc(rpc))
    d = deploy_verifier(w3, circuit, allow_dev_srs=allow_dev_srs, force=force)
    if circuit.dev_srs:
        o.warn("this verifier trusts a development SRS: anyone holding its secret can forge proofs")
    o.result({"address": d.address, "chain_id": d.chain_id, "tx_hash": d.tx_hash, "gas_used": d.gas_used,
              "reused": d.reused, "dev_srs": circuit.dev_srs},
             f"verifier at {d.address} on chain {d.chain_id}" + (" (already deployed)" if d.reused else f" ({d.gas_used} gas)"))
