"""One error root for zkgrad, with a subtree per stage.

Every error carries a one-line ``message`` (what went wrong) and an optional ``hint``
(how to fix it). The CLI prints ``str(err)``: both, on one line.
Foreign errors (ezkl, web3, onnx) are translated where those libraries are called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ZkgradError(Exception):
    """Root of every error zkgrad raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(ZkgradError, ValueError):
    """A file or value the user gave is missing, malformed or of the wrong shape."""


class MissingFileError(InputError, FileNotFoundError):
    def __init__(self, path: Path | str, what: str = "file", *, hint: str | None = None) -> None:
        super().__init__(f"{what} not found: {path}", hint=hint or "check the path", path=str(path))


class OutputExistsError(InputError):
    """An output folder or file exists and is not a zkgrad artifact of the kind about to be written there."""

    def __init__(self, path: Path | str, kind: str, *, found: str | None = None, what: str = "--out",
                 thing: str = "folder") -> None:
        super().__init__(
            f"{path} already exists and is " + (f"a zkgrad {found} {thing}, not a {kind} {thing}" if found else
                                                f"not a zkgrad {kind} {thing}: zkgrad replaces only {thing}s it made"),
            hint=f"pass a new or empty folder as {what}" if thing == "folder" else
            f"pass another path as {what}, or move that file away first",
            path=str(path),
            kind=kind,
        )


class ToolchainError(ZkgradError):
    """solc or anvil is missing or broken."""


# --- circuits ---------------------------------------------------------------------------
class CircuitError(ZkgradError):
    """Exporting, checking or compiling a circuit failed."""


class UnsupportedOperatorError(CircuitError):
    """A node whose operator ezkl cannot compile; ``hint`` is the workaround for that operator."""

    def __init__(self, operator: str, *, node: str | None = None, path: Path | str | None = None,
                 detail: str = "", hint: str | None = None) -> None:
        super().__init__(
            (f"ONNX node '{node}' (operator '{operator}')" if node is not None else f"ONNX operator '{operator}'")
            + " cannot be compiled into a circuit by ezkl"
            + (f" ({detail})" if detail else ""),
            hint=hint or "replace it in the model with supported operations (docs/OPERATORS.md)",
            operator=operator,
            node=node,
            path=str(path) if path else None,
        )
        self.operator = operator


class SrsError(CircuitError):
    """A structured reference string is missing, too small, corrupt or forged."""


# --- prover -----------------------------------------------------------------------------
class ProverError(ZkgradError):
    """Witness generation or proving failed."""


class BackendUnavailableError(ProverError):
    """The requested prover backend (gpu, ray pool) is not available here."""


# --- chain ------------------------------------------------------------------------------
class ChainError(ZkgradError):
    """Talking to an EVM node failed."""


class RpcUnreachableError(ChainError):
    def __init__(self, rpc: str) -> None:
        super().__init__(
            f"cannot reach an EVM node at {rpc}",
            hint="start one with 'zkgrad chain up' or pass --rpc URL",
            rpc=rpc,
        )


class NodeUnavailableError(RpcUnreachableError):
    """The node is there but failed one request through every retry: it kept rate limiting (HTTP
    429), timing out or dropping the connection."""

    def __init__(self, rpc: str, method: str, *, tries: int, seconds: float, why: str, **data: Any) -> None:
        ChainError.__init__(
            self,
            f"the node at {rpc} failed {method} {tries} time{'s' if tries != 1 else ''} in {seconds:.1f} s "
            f"(last: {why})",
            hint="it is rate limiting or overloaded: wait and rerun, or pass another --rpc",
            rpc=rpc, method=method, tries=tries, why=why, **data,
        )


class TransactionPendingError(ChainError):
    """A sent transaction is not mined, nor given up by the node, and zkgrad stopped replacing it:
    one of its versions (``tx_hashes``, the same nonce) may still land."""


class TransactionRevertedError(ChainError):
    """A transaction or call reverted; ``reason`` is the decoded custom error or message."""

    def __init__(self, reason: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(f"transaction reverted: {reason}", hint=hint, reason=reason, **data)
        self.reason = reason


class DeploymentError(ChainError):
    """No deployment is recorded, or deploying was refused."""
