"""Every bad input a person can give the CLI is refused at the edge with one line on stderr naming
the problem and the fix: a non-zero exit (usage errors keep click's 2), no traceback, no "report
it" (that is for bugs), and nothing written.

One table, invalid cases side by side. In ``args``, ``{tmp}`` is the test's folder (also the working
directory), ``{ws}`` a model workspace with a spec and genesis but no circuits, ``{rpc}`` a real
anvil, ``{nonode}`` an HTTP server that is not an EVM node, ``{closed}`` a port nobody listens on,
``{circuit}`` / ``{proof}`` the session's tiny compiled circuit and its proof, ``{cws}`` the
session's compiled tiny workspace. Only cases that need them start anvil or compile.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from .helpers import run_cli

ADDR = "0x0000000000000000000000000000000000000001"
BAD_CHECKSUM = "0x5FbDB2315678afecb367f032d93F642f64180aA3"  # the anvil registry address, one case flipped
PROOF = {"instances": [["01" + "00" * 31]], "hex_proof": "0x" + "ab" * 64, "proof": [0xAB] * 64}


def _npz(**arrays: Any) -> Callable[[Path], None]:
    return lambda p: np.savez(p, **arrays)


def _json(obj: Any) -> str:
    return json.dumps(obj)


def _relu_onnx(p: Path) -> None:
    """A valid one-op model taking a (1, 4) input."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), p)


def _workspace_with(name: str, text: str) -> Callable[[Path], None]:
    """A workspace (spec and genesis) whose record file ``name`` was edited by hand into ``text``."""

    def make(p: Path) -> None:
        from zkgrad.model.spec import ModelSpec
        from zkgrad.train.workspace import Workspace

        from .conftest import TINY_SPEC

        Workspace.create(p, ModelSpec(**TINY_SPEC))  # type: ignore[arg-type]
        (p / name).write_text(text)

    return make


def _damaged_checkpoint(p: Path) -> None:
    p.mkdir()
    (p / "checkpoint.json").write_text('["not", "a", "checkpoint"]')


GOOD = {"net.onnx": _relu_onnx, "in.json": _json({"input_data": [[1, 2, 3, 4]]})}
C = ["compile", "{tmp}/net.onnx", "--sample", "{tmp}/in.json", "--out", "{tmp}/c"]

# (id, files to create, argv, extra environment, exit code, words the line must hold)
CASES: list[tuple[str, dict[str, Any], list[str], dict[str, str], int, list[str]]] = [
    # --- usage: click's exit 2, still one line -------------------------------------------
    ("unknown-command", {}, ["nope"], {}, 2, ["no such command", "zkgrad --help"]),
    ("missing-argument", {}, ["compile"], {}, 2, ["missing argument", "zkgrad compile --help"]),
    ("model-id-not-int", {}, ["history", "abc"], {}, 2, ["model_id", "integer"]),
    ("model-id-zero", {}, ["history", "0"], {}, 2, ["model_id", "greater than or equal to 1"]),
    ("registry-short", {}, ["history", "1", "--registry", "0x12"], {}, 2, ["--registry", "'0x12' is not an address"]),
    ("registry-checksum", {}, ["history", "1", "--registry", BAD_CHECKSUM], {}, 2, ["eip-55 checksum"]),
    ("rpc-no-scheme", {}, ["history", "1", "--rpc", "foo"], {}, 2, ["--rpc", "'foo'", "http"]),
    ("rpc-ftp", {}, ["registry", "deploy", "--rpc", "ftp://x"], {}, 2, ["'ftp://x'", "http"]),
    ("rpc-bad-port", {}, ["registry", "deploy", "--rpc", "http://127.0.0.1:99999"], {}, 2, ["http://127.0.0.1:99999"]),
    ("demo-rpc", {}, ["demo", "--rpc", "localhost:8545"], {}, 2, ["--rpc", "'localhost:8545'"]),
    ("train-registry", {}, ["train", "{tmp}", "--registry", "0x1"], {}, 2, ["--registry", "not an address"]),
    ("verify-address", {}, ["verify", "p.json", "--circuit", "c", "--onchain", "--address", "zz"], {}, 2,
     ["--address", "'zz' is not an address"]),
    ("port-range", {}, ["chain", "up", "--port", "70000"], {}, 2, ["--port", "65535"]),
    ("calibration-target", GOOD, [*C, "--target", "nope"], {}, 2, ["--target", "'nope'"]),
    ("negative-seed", {}, ["export", "zkgrad.models:tiny_mlp", "--input-shape", "1,4", "--seed", "-1"], {}, 2,
     ["--seed"]),
    ("negative-reward", {}, ["register", "{tmp}", "--reward", "-5"], {}, 2, ["--reward"]),
    ("negative-version", {}, ["submit", "answer", "a.json", "--model-id", "1", "--version", "-2"], {}, 2,
     ["--version"]),
    ("demo-zero-steps", {}, ["demo", "--steps", "0"], {}, 2, ["--steps"]),
    ("demo-lr-nan", {}, ["demo", "--lr", "nan", "--workdir", "{tmp}/demo"], {}, 1, ["lr must be", "nan"]),
    ("demo-lm-prompt-outside-vocabulary", {}, ["demo", "--lm", "--prompt", "Hello", "--workdir", "{tmp}/demo"], {}, 1,
     ["'H'", "not in the model's vocabulary"]),
    ("demo-lm-empty-prompt", {}, ["demo", "--lm", "--prompt", "", "--workdir", "{tmp}/demo"], {}, 1, ["prompt is empty"]),
    # --- ONNX models and samples -----------------------------------------------------------
    ("onnx-empty", {"net.onnx": b"", "in.json": GOOD["in.json"]}, C, {}, 1, ["is empty", "onnx"]),
    ("onnx-garbage", {"net.onnx": b"\x08\x07not protobuf\xff\xff", "in.json": GOOD["in.json"]}, C, {}, 1,
     ["not a valid onnx model"]),
    ("onnx-is-json", {"net.onnx": GOOD["in.json"], "in.json": GOOD["in.json"]}, C, {}, 1, ["not a valid onnx model"]),
    ("sample-not-json", {**GOOD, "in.json": "{oops"}, C, {}, 1, ["sample input", "not valid json"]),
    ("sample-not-object", {**GOOD, "in.json": "[1, 2]"}, C, {}, 1, ["input_data"]),
    ("sample-not-list", {**GOOD, "in.json": _json({"input_data": 5})}, C, {}, 1, ["'input_data' is a int"]),
    ("sample-short", {**GOOD, "in.json": _json({"input_data": [[1, 2, 3]]})}, C, {}, 1,
     ["3 values", "expects 4"]),
    ("sample-nan", {**GOOD, "in.json": _json({"input_data": [[1, 2, 3, "NaN"]]})}, C, {}, 1, ["nan"]),
    ("sample-words", {**GOOD, "in.json": _json({"input_data": [["a", "b", "c", "d"]]})}, C, {}, 1,
     ["not a list of numbers"]),
    ("visibility", GOOD, [*C, "--input-visibility", "secret"], {}, 1, ["input visibility", "'secret'"]),
    ("scale", GOOD, [*C, "--scale", "99"], {}, 1, ["scale 99"]),
    ("srs-missing", GOOD, [*C, "--srs", "{tmp}/none.srs"], {}, 1, ["srs file not found"]),
    ("srs-garbage", {**GOOD, "x.srs": b"\xff" * 100}, [*C, "--srs", "{tmp}/x.srs"], {}, 1, ["srs file", "k="]),
    ("srs-truncated", {"x.srs": b"\x02\x00\x00\x00" + b"\x00" * 60}, ["model", "compile", "{ws}", "--srs", "{tmp}/x.srs"],
     {}, 1, ["srs file", "truncated or padded"]),
    ("circuit-incomplete", {"c/manifest.json": "[1]", "in.json": GOOD["in.json"]},
     ["prove", "{tmp}/c", "--input", "{tmp}/in.json", "--out", "{tmp}/p.json"], {}, 1, ["is incomplete", "recompile"]),
    ("manifest-empty", {"c/manifest.json": "{}", **{f"c/{n}": "{}" for n in ("settings.json", "model.compiled",
                                                                              "pk.key", "vk.key")}, "p.json": _json(PROOF)},
     ["verify", "{tmp}/p.json", "--circuit", "{tmp}/c"], {}, 1, ["not a zkgrad circuit manifest", "compile the circuit again"]),
    # --- export: factories and shapes ---------------------------------------------------------
    ("shape-words", {}, ["export", "zkgrad.models:tiny_mlp", "--input-shape", "a,b"], {}, 1, ["positive integers"]),
    ("shape-zero", {}, ["export", "zkgrad.models:tiny_mlp", "--input-shape", "0"], {}, 1, ["positive integers"]),
    ("shape-wrong", {}, ["export", "zkgrad.models:tiny_mlp", "--input-shape", "1,5"], {}, 1,
     ["cannot run on an input of shape [1, 5]"]),
    ("factory-module", {}, ["export", "no_such_mod:f", "--input-shape", "1,4"], {}, 1, ["cannot import module"]),
    ("factory-args", {}, ["export", "zkgrad.model.data:load", "--input-shape", "1,4"], {}, 1,
     ["zkgrad.model.data:load() failed", "no arguments"]),
    ("out-under-a-file", {"f": "a file"}, ["export", "zkgrad.models:tiny_mlp", "--input-shape", "1,4", "--out",
                                           "{tmp}/f/net.onnx"], {}, 1, ["file exists: {tmp}/f", "check the path"]),
    # --- proof files -------------------------------------------------------------------------
    ("proof-missing", {}, ["submit", "update", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["proof not found"]),
    ("proof-not-json", {"p.json": "{"}, ["submit", "update", "{tmp}/p.json", "--model-id", "1"], {}, 1,
     ["not valid json"]),
    ("proof-no-instances", {"p.json": _json({"hex_proof": "0x00"})},
     ["submit", "update", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["not an ezkl proof"]),
    ("proof-bad-hex", {"p.json": _json({**PROOF, "hex_proof": "0xzz"})},
     ["submit", "update", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["damaged ezkl proof", "proof bytes"]),
    ("proof-empty", {"p.json": _json({**PROOF, "hex_proof": "0x", "proof": []})},
     ["submit", "answer", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["damaged ezkl proof", "proof bytes"]),
    ("proof-two-encodings", {"p.json": _json({**PROOF, "hex_proof": "0x" + "ab" * 63 + "aa"})},
     ["submit", "update", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["'proof' and 'hex_proof'", "disagree from byte 63"]),
    ("proof-two-encodings-answer", {"p.json": _json({**PROOF, "proof": [0xAB] * 63 + [0xAA]})},
     ["submit", "answer", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["'proof' and 'hex_proof'", "disagree"]),
    ("proof-list-not-bytes", {"p.json": _json({**PROOF, "proof": "ab" * 64})},
     ["submit", "answer", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["damaged ezkl proof", "not a list of bytes"]),
    ("proof-instance-not-field", {"p.json": _json({**PROOF, "instances": [["0x" + "f" * 64]]})},
     ["submit", "answer", "{tmp}/p.json", "--model-id", "1"], {}, 1, ["damaged ezkl proof", "field elements"]),
    # --- data files (refused before any compiling) ------------------------------------------------
    ("npz-garbage", {"d.npz": b"PK\x03\x04garbage"}, ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1,
     ["not an .npz of numeric arrays"]),
    ("npz-no-x", {"d.npz": _npz(a=np.zeros(3))}, ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1,
     ["must hold arrays 'x' and 'y'"]),
    ("npz-objects", {"d.npz": _npz(x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))},
     ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1, ["not an .npz of numeric arrays"]),
    ("npz-nan-targets", {"d.npz": _npz(x=np.zeros((4, 4)), y=np.full((4, 3), np.nan))},
     ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1, ["nan or infinity"]),
    ("npz-target-shape", {"d.npz": _npz(x=np.zeros((4, 4)), y=np.zeros((4, 2)))},
     ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1, ["2 values per sample", "target shape is [3]"]),
    ("npz-features", {"d.npz": _npz(x=np.zeros((4, 5)), y=np.zeros((4, 3)))},
     ["model", "compile", "{ws}", "--data", "{tmp}/d.npz"], {}, 1, ["5 features", "shape [4]"]),
    ("csv-empty", {"d.csv": ""}, ["model", "compile", "{ws}", "--data", "{tmp}/d.csv"], {}, 1, ["no samples"]),
    ("csv-one-column", {"d.csv": "1\n2\n"}, ["model", "compile", "{ws}", "--data", "{tmp}/d.csv"], {}, 1,
     ["one column"]),
    ("csv-words", {"d.csv": "1,2,x\n"}, ["model", "compile", "{ws}", "--data", "{tmp}/d.csv"], {}, 1,
     ["not a numeric csv"]),
    ("data-suffix", {"d.txt": "1,2\n"}, ["model", "compile", "{ws}", "--data", "{tmp}/d.txt"], {}, 1,
     ["unsupported data file"]),
    ("answer-input-list", {"a.json": "[1, 2]"},
     ["prove", "answer", "--model", "{ws}", "--checkpoint", "{ws}/genesis", "--input", "{tmp}/a.json"], {}, 1,
     ["ezkl's format"]),
    ("answer-input-npz", {"a.npz": _npz(y=np.zeros(4))},
     ["prove", "answer", "--model", "{ws}", "--checkpoint", "{ws}/genesis", "--input", "{tmp}/a.npz"], {}, 1,
     ["numeric array x"]),
    # --- RPC endpoints -------------------------------------------------------------------------
    ("rpc-env", {}, ["history", "1"], {"ZKGRAD_RPC": "foo"}, 1, ["rpc url 'foo'", "http"]),
    ("rpc-unreachable", {}, ["history", "1", "--rpc", "http://127.0.0.1:{closed}"], {}, 1, ["cannot reach an evm node"]),
    ("rpc-not-a-node", {}, ["history", "1", "--rpc", "{nonode}"], {}, 1, ["did not answer eth_chainid"]),
]

# Cases that need a real anvil (registry addresses, keys, hand-edited registry records).
CHAIN_CASES: list[tuple[str, dict[str, Any], list[str], dict[str, str], int, list[str]]] = [
    ("registry-env", {}, ["history", "1", "--rpc", "{rpc}"], {"ZKGRAD_REGISTRY": "0x12"}, 1,
     ["zkgrad_registry '0x12' is not an address"]),
    ("registry-no-code", {}, ["history", "1", "--rpc", "{rpc}", "--registry", ADDR], {}, 1, ["no contract at"]),
    ("registries-json-garbage", {"home/registries.json": "{"}, ["history", "1", "--rpc", "{rpc}"],
     {"ZKGRAD_HOME": "{tmp}/home"}, 1, ["registries.json", "not valid json"]),
    ("registries-json-address", {"home/registries.json": _json({"31337": {"address": "zz"}})},
     ["history", "1", "--rpc", "{rpc}"], {"ZKGRAD_HOME": "{tmp}/home"}, 1, ["registries.json", "'zz' is not an address"]),
    ("registries-json-shape", {"home/registries.json": _json({"31337": "0x12"})}, ["history", "1", "--rpc", "{rpc}"],
     {"ZKGRAD_HOME": "{tmp}/home"}, 1, ["is not a registry record"]),
    ("workspace-chain-json", {"ws": _workspace_with("chain.json", "[1]")}, ["train", "{tmp}/ws", "--rpc", "{rpc}"],
     {}, 1, ["chain.json is not a chain record"]),
    ("workspace-chain-registry", {"ws": _workspace_with("chain.json", _json({"31337": {"model_id": 1, "registry": "zz"}}))},
     ["train", "{tmp}/ws", "--rpc", "{rpc}"], {}, 1, ["chain.json", "'zz' is not an address"]),
    ("private-key", {}, ["registry", "deploy", "--rpc", "{rpc}"], {"ZKGRAD_PRIVATE_KEY": "0x1234"}, 1,
     ["zkgrad_private_key is not a valid private key"]),
    ("unfunded-key", {}, ["registry", "deploy", "--rpc", "{rpc}"], {"ZKGRAD_PRIVATE_KEY": "0x" + "11" * 32}, 1,
     ["insufficient funds", "send ether to the signing account"]),
    ("verify-onchain-no-code", {}, ["verify", "{proof}", "--circuit", "{circuit}", "--onchain", "--rpc", "{rpc}",
                                    "--address", ADDR], {}, 1, ["no contract at"]),
]

# Cases that need the session's compiled tiny workspace: a damaged checkpoint is refused before proving.
WORKSPACE_CASES: list[tuple[str, dict[str, Any], list[str], dict[str, str], int, list[str]]] = [
    ("checkpoint-not-object", {"ck": _damaged_checkpoint, "b.npz": _npz(x=np.zeros((2, 4)), y=np.zeros((2, 3)))},
     ["prove", "step", "--model", "{cws}", "--checkpoint", "{tmp}/ck", "--batch", "{tmp}/b.npz", "--out", "{tmp}/s"],
     {}, 1, ["not a zkgrad checkpoint"]),
    ("batch-size", {"b.npz": _npz(x=np.zeros((3, 4)), y=np.zeros((3, 3)))},
     ["prove", "step", "--model", "{cws}", "--checkpoint", "{cws}/genesis", "--batch", "{tmp}/b.npz", "--out",
      "{tmp}/s"], {}, 1, ["3 samples", "one batch"]),
]


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def not_a_node() -> Iterator[str]:
    """An HTTP server that answers every POST with an HTML page."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def bare_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a spec and genesis, no circuits: data and inputs are refused before compiling."""
    from zkgrad.model.spec import ModelSpec
    from zkgrad.train.workspace import Workspace

    from .conftest import TINY_SPEC

    return Workspace.create(tmp_path_factory.mktemp("bare") / "ws", ModelSpec(**TINY_SPEC)).root  # type: ignore[arg-type]


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def _fill(text: str, values: dict[str, Any]) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def _placeholders(request: pytest.FixtureRequest, tmp_path: Path, texts: list[str]) -> dict[str, Any]:
    """Only the fixtures a case names are started (anvil, compiled circuits)."""
    joined = " ".join(texts)
    values: dict[str, Any] = {"tmp": tmp_path}
    lazy = {"ws": lambda: request.getfixturevalue("bare_workspace"),
            "rpc": lambda: request.getfixturevalue("anvil").rpc_url,
            "nonode": lambda: request.getfixturevalue("not_a_node"),
            "closed": lambda: request.getfixturevalue("closed_port"),
            "circuit": lambda: request.getfixturevalue("tiny_circuit")[1].path,
            "proof": lambda: request.getfixturevalue("tiny_proof").path,
            "cws": lambda: request.getfixturevalue("tiny_workspace").root}
    for name, get in lazy.items():
        if "{" + name + "}" in joined:
            values[name] = get()
    return values


def _make(tmp_path: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(p)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)


def assert_one_line(code: int, err: str, expected_code: int, words: list[str]) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err and "report it" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def _tiered(cases: list[tuple[Any, ...]]) -> list[Any]:
    """A case that needs the compiled workspace ({cws}) is in the proof tier."""
    return [pytest.param(c, marks=[pytest.mark.proof] if "{cws}" in repr(c) else []) for c in cases]


def _check(case: tuple[Any, ...], request: pytest.FixtureRequest, tmp_path: Path, capsys: Any,
           monkeypatch: pytest.MonkeyPatch) -> None:
    _, files, argv, env, expected_code, words = case
    values = _placeholders(request, tmp_path, [*argv, *env.values()])
    _make(tmp_path, files)
    for k, v in env.items():
        monkeypatch.setenv(k, _fill(v, values))
    monkeypatch.chdir(tmp_path)  # defaults such as --out proof.json land here, and must not appear
    before = _tree(tmp_path)
    watched = [Path(values[k]) for k in ("ws", "cws") if k in values]
    watched_before = [_tree(w) for w in watched]
    code, _, err = run_cli([_fill(a, values) for a in argv], capsys)
    assert_one_line(code, err, expected_code, [_fill(w, values) for w in words])
    assert _tree(tmp_path) == before, "a refused command wrote files"
    assert [_tree(w) for w in watched] == watched_before, "a refused command changed the workspace"


@pytest.mark.parametrize("case", _tiered(CASES), ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(case, request, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ZKGRAD_RPC", raising=False)
    _check(case, request, tmp_path, capsys, monkeypatch)


@pytest.mark.chain
@pytest.mark.parametrize("case", _tiered(CHAIN_CASES), ids=[c[0] for c in CHAIN_CASES])
def test_bad_chain_input_is_one_line(case, request, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for var in ("ZKGRAD_RPC", "ZKGRAD_REGISTRY", "ZKGRAD_PRIVATE_KEY"):
        monkeypatch.delenv(var, raising=False)
    _check(case, request, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("case", _tiered(WORKSPACE_CASES), ids=[c[0] for c in WORKSPACE_CASES])
def test_bad_workspace_input_is_one_line(case, request, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _check(case, request, tmp_path, capsys, monkeypatch)


def test_a_bug_still_says_report_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The one place "report it" belongs: an error zkgrad did not expect, still on one line."""
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("a\nbug")

    monkeypatch.setattr("zkgrad.chain.anvil.LocalChain.status", broken)
    code, _, err = run_cli(["chain", "status"], capsys)
    assert code == 1 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("internal error: KeyError") and "report it" in err, err


# --- the installed command, as a person runs it --------------------------------------------------
ZKGRAD = Path(sys.executable).with_name("zkgrad")
SUBPROCESS_CASES = [
    ("rpc", ["registry", "deploy", "--rpc", "foo"], 2, ["'foo'", "http"]),
    ("address", ["history", "1", "--registry", "0xabc"], 2, ["'0xabc' is not an address"]),
    ("proof", ["submit", "update", "p.json", "--model-id", "1"], 1, ["damaged ezkl proof"]),
    ("onnx", ["compile", "net.onnx", "--sample", "in.json", "--out", "c"], 1, ["not a valid onnx model"]),
]


@pytest.mark.skipif(not ZKGRAD.is_file(), reason="the zkgrad console script is not installed beside this python")
@pytest.mark.parametrize("name,argv,expected_code,words", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_installed_command(name: str, argv: list[str], expected_code: int, words: list[str], tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({**PROOF, "hex_proof": "0xnothex"}))
    (tmp_path / "net.onnx").write_bytes(b"\x08\x07not protobuf\xff\xff")
    (tmp_path / "in.json").write_text('{"input_data": [[1, 2, 3, 4]]}')
    before = _tree(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKGRAD_") or k == "ZKGRAD_HOME"}
    r = subprocess.run([str(ZKGRAD), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert_one_line(r.returncode, r.stderr, expected_code, words)
    assert r.stdout == ""
    assert _tree(tmp_path) == before
