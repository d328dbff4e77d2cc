"""A JSON-RPC proxy in front of a real node that answers like a public provider: eth_getLogs over
more than ``max_blocks`` blocks is refused (in the words providers use), and so is every
debug_*/trace_* method. It records what it was asked; ``tamper`` may rewrite any answer (a lying node)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable

import requests

REFUSALS = {
    "infura": (-32005, "query returned more than 10000 results"),
    "ankr": (-32062, "block range is too wide"),
}


@dataclass
class LimitedRpc:
    upstream: str
    max_blocks: int
    style: str = "infura"  # a REFUSALS key, or "http": an HTTP 413 with no JSON-RPC body
    served: list[tuple[int, int]] = field(default_factory=list)  # eth_getLogs ranges answered
    refused: list[tuple[int, int]] = field(default_factory=list)  # and refused
    methods: list[str] = field(default_factory=list)
    tamper: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    """(request, upstream answer) -> the answer served."""

    def __enter__(self) -> LimitedRpc:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, answer = proxy._answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method = str(req.get("method"))
        self.methods.append(method)
        if method.startswith(("debug_", "trace_")):
            return 200, _error(req, -32601, f"the method {method} does not exist/is not available")
        if method == "eth_getLogs" and "blockHash" not in req["params"][0]:
            f = req["params"][0]
            first, last = self._block(f.get("fromBlock")), self._block(f.get("toBlock"))
            if last - first + 1 > self.max_blocks:
                self.refused.append((first, last))
                if self.style == "http":
                    return 413, {"message": "request entity too large"}
                return 200, _error(req, *REFUSALS[self.style])
            self.served.append((first, last))
        answer = dict(requests.post(self.upstream, json=req, timeout=30).json())
        return 200, self.tamper(req, answer) if self.tamper else answer

    def _block(self, tag: Any) -> int:
        if tag in (None, "latest", "pending", "safe", "finalized"):
            got = requests.post(self.upstream, json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber",
                                                     "params": []}, timeout=30).json()
            return int(got["result"], 16)
        return 0 if tag == "earliest" else int(tag, 16)


def _error(req: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": code, "message": message}}
