"""The CLI as a contract: exit codes, one-line errors without tracebacks, --json on stdout,
and nothing half-written when a command fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from .helpers import change_instance, flip_hex_nibble, run_cli


def _commands() -> list[list[str]]:
    """Every command and group of the typer app, walked from its click tree."""

    import typer

    from zkgrad.cli.main import app

    def walk(cmd: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(cmd, "commands", {}).items():  # a group (typer vendors its own click)
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


COMMANDS = _commands()


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"", "train", "registry refund", "submit update", "prove step", "audit", "chain up"} <= names
    assert len(COMMANDS) >= 27


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "zkgrad")
def test_every_command_has_help(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*cmd, "--help"], capsys)
    assert code == 0
    assert "Usage" in out


def _data_params() -> list[tuple[str, str]]:
    """(command, parameter) for every parameter of the app that takes training or held-out data."""
    import typer

    from zkgrad.cli.main import app

    found = []

    def walk(cmd: Any, path: list[str]) -> None:
        for p in getattr(cmd, "params", []):
            if p.name in ("data", "held_out"):
                found.append((" ".join(path), p.name))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_data_argument_takes_files_and_built_in_names() -> None:
    """One resolver: each command's data parameter is text (a file or digits:<train|test>:SEED)."""
    import typer

    from zkgrad.cli.data_opts import source_name
    from zkgrad.cli.main import app
    from zkgrad.errors import InputError

    params = _data_params()
    assert {("train", "data"), ("audit", "data"), ("model compile", "data"), ("data commit", "data")} <= set(params)
    root = typer.main.get_command(app)
    for path, name in params:
        cmd = root
        for part in path.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        param = next(p for p in cmd.params if p.name == name)
        usage, text = param.get_help_record(cmd.context_class(cmd))
        assert usage.endswith("<str>") and "digits:" in text, (path, name, usage, text)  # text, not a Path
    assert source_name("digits:train:3") == "digits:train:3" and source_name(None) == "digits"
    assert source_name(None, None) is None and source_name("x.npz") == str(Path("x.npz").resolve())
    with pytest.raises(InputError, match="unknown built-in data 'digits:valid:1'"):
        source_name("digits:valid:1")


def _one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in err, err


def _no_leftovers(parent: Path, name: str) -> None:
    assert not (parent / name).exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")], list(parent.iterdir())


def test_compile_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2]]}')
    code, _, err = run_cli(["compile", tmp_path / "nope.onnx", "--sample", tmp_path / "in.json",
                            "--out", tmp_path / "c"], capsys)
    _one_line_error(code, err, "ONNX model not found")
    _no_leftovers(tmp_path, "c")


def test_compile_malformed_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is not protobuf\xff\xff")
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2]]}')
    code, _, err = run_cli(["compile", tmp_path / "bad.onnx", "--sample", tmp_path / "in.json",
                            "--out", tmp_path / "c"], capsys)
    _one_line_error(code, err, "not a valid ONNX model")
    _no_leftovers(tmp_path, "c")


def test_compile_unsupported_operator_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("IsNaN", ["x"], ["n"]), helper.make_node("Cast", ["n"], ["y"], to=1)],
                              "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2, 3, 4]]}')
    code, _, err = run_cli(["compile", tmp_path / "m.onnx", "--sample", tmp_path / "in.json",
                            "--out", tmp_path / "c"], capsys)
    _one_line_error(code, err, "IsNaN")
    _no_leftovers(tmp_path, "c")


def test_compile_wrong_sample_shape_writes_nothing(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, _ = tiny_circuit
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2, 3, 4, 5]]}')
    code, _, err = run_cli(["compile", d / "net.onnx", "--sample", tmp_path / "in.json", "--out", tmp_path / "c"], capsys)
    _one_line_error(code, err, "has 5 values but the model expects 4")
    _no_leftovers(tmp_path, "c")


def test_compile_corrupt_srs_refused(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, _ = tiny_circuit
    (tmp_path / "bad.srs").write_bytes(b"\x0f\x00\x00\x00" + b"\x01" * 1000)
    code, _, err = run_cli(["compile", d / "net.onnx", "--sample", d / "input.json", "--out", tmp_path / "c",
                            "--srs", tmp_path / "bad.srs"], capsys)
    assert code == 1 and "Traceback" not in err and "SRS" in err
    _no_leftovers(tmp_path, "c")


def test_prove_wrong_shape_and_missing_input(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2, 3]]}')
    code, _, err = run_cli(["prove", circuit.path, "--input", tmp_path / "in.json", "--out", tmp_path / "p.json"], capsys)
    _one_line_error(code, err, "has 3 values but the model expects 4")
    _no_leftovers(tmp_path, "p.json")
    code, _, err = run_cli(["prove", circuit.path, "--input", tmp_path / "missing.json", "--out", tmp_path / "p.json"], capsys)
    _one_line_error(code, err, "not found")


def test_prove_not_a_circuit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["prove", tmp_path, "--input", tmp_path / "x.json"], capsys)
    _one_line_error(code, err, "zkgrad compile")


def test_compile_json_reuses(tiny_circuit, capsys) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    code, out, _ = run_cli(["compile", d / "net.onnx", "--sample", d / "input.json", "--out", circuit.path, "--json"], capsys)
    assert code == 0
    data = json.loads(out)  # exactly one JSON object
    assert data["reused"] is True and data["key"] == circuit.key and data["srs"]["kind"] == "dev"


def test_prove_and_verify_json(tiny_circuit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    code, out, _ = run_cli(["prove", circuit.path, "--input", d / "input.json", "--out", tmp_path / "p.json", "--json"], capsys)
    assert code == 0
    proved = json.loads(out)
    assert len(proved["outputs"][0]) == 3 and proved["timings"]["prove"] > 0
    code, out, _ = run_cli(["verify", tmp_path / "p.json", "--circuit", circuit.path, "--json"], capsys)
    assert code == 0 and json.loads(out)["accepted"] is True
    change_instance(tmp_path / "p.json", tmp_path / "bad.json")
    code, out, _ = run_cli(["verify", tmp_path / "bad.json", "--circuit", circuit.path, "--json"], capsys)
    assert code == 1 and json.loads(out)["accepted"] is False


@pytest.mark.parametrize("index", [0, 101, -1])
def test_a_proof_whose_two_encodings_disagree_is_refused_in_one_line(tiny_circuit, tiny_proof, tmp_path: Path, capsys,
                                                                     index: int) -> None:  # type: ignore[no-untyped-def]
    """One nibble of ``hex_proof`` flipped: ezkl alone still accepts the file (it reads ``proof``),
    while ``submit`` and ``verify --onchain`` would send other bytes. zkgrad refuses it, one line."""
    from zkgrad import engine

    _, circuit = tiny_circuit
    bad = flip_hex_nibble(tiny_proof.path, tmp_path / "bad.json", index)
    assert engine.verify(proof=bad, settings=circuit.settings, vk=circuit.vk, srs=circuit.srs)[0]  # the hazard
    for args in (["verify", bad, "--circuit", circuit.path], ["verify", bad, "--circuit", circuit.path, "--json"]):
        code, out, err = run_cli(args, capsys)
        assert code == 1 and out == "" and "Traceback" not in err, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "'proof' and 'hex_proof' encodings disagree" in err and "bad.json" in err, err


def test_offchain_verification_checks_the_bytes_the_chain_is_sent(tiny_circuit, tiny_proof, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """What ezkl is given off chain is rebuilt from ``proof_bytes`` and the field elements of the
    public values: the calldata's bytes, whatever else the file holds."""
    from zkgrad import engine
    from zkgrad.prover.proof import Proof
    from zkgrad.verifier import offchain

    _, circuit = tiny_circuit
    seen: list[dict[str, object]] = []
    real = engine.verify

    def spy(**kw):  # type: ignore[no-untyped-def]
        seen.append(json.loads(Path(kw["proof"]).read_text()))
        return real(**kw)

    monkeypatch.setattr(engine, "verify", spy)
    proof = Proof.load(tiny_proof.path)
    assert offchain.verify(proof, circuit)
    (doc,) = seen
    assert bytes(doc["proof"]) == bytes.fromhex(doc["hex_proof"].removeprefix("0x")) == proof.proof_bytes
    assert [int.from_bytes(bytes.fromhex(v), "little") for col in doc["instances"] for v in col] == proof.instances
    # a public value written in another form the chain reads the same (0x big-endian) is checked as that value
    data = json.loads(tiny_proof.path.read_text())
    data["instances"][0][0] = hex(proof.instances[0])
    (tmp_path / "other.json").write_text(json.dumps(data))
    seen.clear()
    assert offchain.verify(tmp_path / "other.json", circuit)
    assert seen[0]["instances"] == json.loads(tiny_proof.path.read_text())["instances"]


def test_a_circuit_folder_named_like_a_subcommand_is_proven(tiny_circuit, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    assert circuit.path.name == "circuit"  # 'zkgrad prove circuit' is also the explicit subcommand
    monkeypatch.chdir(d)
    code, out, err = run_cli(["prove", "circuit", "--input", "input.json", "--out", tmp_path / "p.json", "--json"], capsys)
    assert code == 0, err
    who = json.loads(out)["prover"]
    assert who["pool"] == "serial" and who["backend"] == "cpu" and who["gpu_ids"] == []


def test_unreachable_rpc(tiny_circuit, capsys) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    code, _, err = run_cli(["deploy", circuit.path, "--rpc", "http://127.0.0.1:9"], capsys)
    _one_line_error(code, err, "cannot reach an EVM node at http://127.0.0.1:9")


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zkgrad.errors import MissingFileError

    with pytest.raises(MissingFileError):
        run_cli(["compile", tmp_path / "nope.onnx", "--sample", tmp_path / "x.json", "--debug"], capsys)


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["compile"], capsys)
    assert code == 2


@pytest.mark.chain
def test_chain_up_deploy_verify_onchain_down(tiny_circuit, tiny_proof, capsys) -> None:  # type: ignore[no-untyped-def]
    _, circuit = tiny_circuit
    code, out, _ = run_cli(["chain", "up", "--json"], capsys)
    assert code == 0
    rpc = json.loads(out)["rpc_url"]
    try:
        code, out, _ = run_cli(["chain", "status", "--json"], capsys)
        assert code == 0 and json.loads(out)["rpc_url"] == rpc
        code, out, err = run_cli(["deploy", circuit.path, "--json"], capsys)
        assert code == 0, err
        dep = json.loads(out)
        assert dep["dev_srs"] is True and "development SRS" in err
        code, out, _ = run_cli(["verify", tiny_proof.path, "--circuit", circuit.path, "--onchain", "--json"], capsys)
        result = json.loads(out)
        assert code == 0 and result["accepted"] and result["where"] == "on-chain" and result["gas"] > 0
    finally:
        code, _, _ = run_cli(["chain", "down"], capsys)
    code, _, _ = run_cli(["chain", "status"], capsys)
    assert code == 1


def test_prove_through_a_local_pool_matches_serial(tiny_circuit, tiny_proof, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d, circuit = tiny_circuit
    code, out, err = run_cli(["prove", circuit.path, "--input", d / "input.json", "--out", tmp_path / "p.json",
                              "--pool", "local:1", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["instances"] == [hex(i) for i in tiny_proof.proof.instances]
    code, out, _ = run_cli(["verify", tmp_path / "p.json", "--circuit", circuit.path, "--json"], capsys)
    assert code == 0 and json.loads(out)["accepted"] is True


def test_debug_does_not_leak_into_later_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zkgrad.errors import MissingFileError

    with pytest.raises(MissingFileError):
        run_cli(["compile", tmp_path / "nope.onnx", "--sample", tmp_path / "x.json", "--debug"], capsys)
    code, _, err = run_cli(["compile", tmp_path / "nope.onnx", "--sample", tmp_path / "x.json"], capsys)
    _one_line_error(code, err, "ONNX model not found")


def test_train_refuses_another_batch_size(tiny_workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(["train", tiny_workspace.root, "--batch-size", 5, "--rpc", "http://127.0.0.1:9"], capsys)
    _one_line_error(code, err, "proves batches of 2, not 5")
