"""The zkgrad command line: a thin layer over the Python API.

This is the second edge where errors are translated: a ZkgradError becomes one line on stderr
and exit code 1 (usage errors keep click's exit 2); tracebacks only with --debug.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer import _click as click  # typer 0.29 vendors click: its exceptions are these
from typer.core import TyperGroup

from . import (
    chain_cmds,
    circuit_cmds,
    data_cmds,
    generate_cmds,
    model_cmds,
    registry_cmds,
    train_cmds,
    weights_cmds,
)


class DefaultGroup(TyperGroup):
    """A group whose first argument, when it names no subcommand, goes to a default command:
    ``zkgrad prove CIRCUIT_DIR ...`` and ``zkgrad prove step ...`` side by side."""

    default_cmd = "circuit"

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and (args[0] not in self.commands or _is_circuit(args[0])):
            args.insert(0, self.default_cmd)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def _is_circuit(arg: str) -> bool:
    """A compiled circuit folder named like a subcommand (``circuit``, ``step``): the folder wins."""
    return (Path(arg) / "manifest.json").is_file()


app = typer.Typer(
    name="zkgrad",
    help="Zero-knowledge proven training steps and inference for PyTorch models, accepted on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
prove_app = typer.Typer(cls=DefaultGroup, no_args_is_help=True,
                        help="Prove an input on a circuit (zkgrad prove CIRCUIT_DIR --input X), or a training step.")

app.command("export")(circuit_cmds.export)
app.command("compile")(circuit_cmds.compile_)
prove_app.command("circuit", help="zkgrad prove CIRCUIT_DIR --input INPUT.json: witness and proof.")(circuit_cmds.prove_circuit)
app.add_typer(prove_app, name="prove")
app.command("verify")(circuit_cmds.verify)
app.command("deploy")(circuit_cmds.deploy)
app.add_typer(chain_cmds.app, name="chain")
app.add_typer(model_cmds.model_app, name="model")
app.add_typer(data_cmds.data_app, name="data")
prove_app.command("step")(model_cmds.prove_step)
prove_app.command("answer")(model_cmds.prove_answer)
app.add_typer(registry_cmds.registry_app, name="registry")
app.command("register")(registry_cmds.register_model)
app.add_typer(registry_cmds.submit_app, name="submit")
app.command("evaluate")(registry_cmds.evaluate)
app.command("history")(registry_cmds.history)
app.command("audit")(registry_cmds.audit)
app.command("demo")(train_cmds.demo)
app.command("train")(train_cmds.train)
app.command("report")(train_cmds.report)
app.command("weights")(weights_cmds.weights)
app.command("generate")(generate_cmds.generate)


def run(argv: list[str] | None = None) -> None:
    """Entry point: ``--debug`` (anywhere, or ZKGRAD_DEBUG=1) shows tracebacks."""

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("ZKGRAD_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    saved = os.environ.get("ZKGRAD_DEBUG")
    if debug:
        os.environ["ZKGRAD_DEBUG"] = "1"  # ezkl's own output goes to stderr while debugging
    try:
        _invoke(args, debug)
    finally:
        if saved is None:
            os.environ.pop("ZKGRAD_DEBUG", None)
        else:
            os.environ["ZKGRAD_DEBUG"] = saved


def _invoke(args: list[str], debug: bool) -> None:
    from ..errors import ZkgradError
    from .output import error_line

    try:
        rc = app(args=args, prog_name="zkgrad", standalone_mode=False)  # click returns Exit's code here
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        error_line("aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as e:  # a bare group: its help (already shown by typer)
        if e.format_message().strip():
            e.show()
        sys.exit(e.exit_code)
    except click.exceptions.UsageError as e:  # usage errors: click's message on one line, exit 2
        where = f"see '{e.ctx.command_path if e.ctx is not None else 'zkgrad'} --help'"
        error_line(e.format_message().rstrip("."), where)
        sys.exit(e.exit_code)
    except click.exceptions.ClickException as e:
        error_line(e.format_message())
        sys.exit(e.exit_code)
    except ZkgradError as e:
        if debug:
            raise
        error_line(str(e))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - last resort: still one line, unless --debug
        if debug:
            raise
        if isinstance(e, OSError) and e.filename is not None:  # the file system refused a path: not a bug
            error_line(f"{e.strerror or type(e).__name__}: {e.filename}", "check the path, its folders and permissions")
        else:
            error_line(f"{type(e).__name__}: {e}", "a bug in zkgrad: re-run with --debug and report it",
                       prefix="internal error")
        sys.exit(1)


if __name__ == "__main__":
    run()
