"""A JSON-RPC proxy in front of a real node that answers like a public provider: eth_getLogs over
more than ``max_blocks`` blocks is refused (in the words providers use), and so is every
debug_*/trace_* method. It records what it was asked; ``tamper`` may rewrite any answer (a lying node).

It also fails like a real node on a bad day (``faults``): a rate limit (HTTP 429), an answer that
comes too late (a timeout), a connection dropped before or after the request reached the node, and
a transaction "accepted" (its hash answered) but never passed on. ``sends`` holds the raw bytes of
every eth_sendRawTransaction it was asked, whatever became of them."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable

import requests
from eth_utils.crypto import keccak

REFUSALS = {
    "infura": (-32005, "query returned more than 10000 results"),
    "ankr": (-32062, "block range is too wide"),
}
FAULTS = ("429", "limit", "late", "drop", "drop_after", "swallow")
"""What a fault does to one request:
- "429": answered HTTP 429 with a JSON-RPC rate-limit error, not passed on;
- "limit": the same error in an HTTP 200 answer (as some providers do), not passed on;
- "late": passed on, its answer held back ``late_s`` seconds (the client has timed out by then);
- "drop": the connection closed before the request is passed on;
- "drop_after": passed on, then the connection closed without the answer;
- "swallow": (eth_sendRawTransaction) its hash answered, the transaction never passed on."""


@dataclass
class LimitedRpc:
    upstream: str
    max_blocks: int = 10**9
    style: str = "infura"  # a REFUSALS key, or "http": an HTTP 413 with no JSON-RPC body
    served: list[tuple[int, int]] = field(default_factory=list)  # eth_getLogs ranges answered
    refused: list[tuple[int, int]] = field(default_factory=list)  # and refused
    methods: list[str] = field(default_factory=list)
    tamper: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    """(request, upstream answer) -> the answer served."""
    faults: dict[str, list[str | None]] = field(default_factory=dict)
    """method ("*": any method) -> the faults (FAULTS) of its next requests, one each, used up in
    order; None serves that request normally. A method's own list goes before "*"."""
    late_s: float = 2.0
    sends: list[str] = field(default_factory=list)  # raw transactions asked to be sent, in order
    faulted: list[tuple[str, str]] = field(default_factory=list)  # (method, fault) as they happened
    errors: list[tuple[str, str]] = field(default_factory=list)  # (method, message) of the node's error answers

    def __enter__(self) -> LimitedRpc:
        proxy = self
        self._lock = threading.Lock()
        for kind in (k for ks in self.faults.values() for k in ks):
            assert kind is None or kind in FAULTS, f"unknown fault {kind!r}"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                got = proxy._answer(body)
                if got is None:  # dropped: the connection closes without an answer
                    self.close_connection = True
                    return
                status, answer = got
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (a late answer)
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, method: str, *kinds: str | None) -> None:
        """Add faults for the next requests of ``method`` (see ``faults``)."""
        assert all(k is None or k in FAULTS for k in kinds), kinds
        with self._lock:
            self.faults.setdefault(method, []).extend(kinds)

    def _fault(self, method: str) -> str | None:
        with self._lock:
            for key in (method, "*"):
                if self.faults.get(key):
                    kind = self.faults[key].pop(0)
                    if kind is not None:
                        self.faulted.append((method, kind))
                    return kind
        return None

    def _answer(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        method = str(req.get("method"))
        self.methods.append(method)
        if method == "eth_sendRawTransaction":
            self.sends.append(str(req["params"][0]))
        fault = self._fault(method)
        if fault in ("429", "limit"):
            return 429 if fault == "429" else 200, _error(req, -32005, "Too Many Requests: rate limit exceeded")
        if fault == "drop":
            return None
        if fault == "swallow" and method == "eth_sendRawTransaction":
            return 200, {"jsonrpc": "2.0", "id": req.get("id"),
                         "result": "0x" + keccak(bytes.fromhex(str(req["params"][0])[2:])).hex()}
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
        if isinstance(answer.get("error"), dict):
            self.errors.append((method, str(answer["error"].get("message"))))
        if fault == "drop_after":
            return None
        if fault == "late":
            time.sleep(self.late_s)
        return 200, self.tamper(req, answer) if self.tamper else answer

    def _block(self, tag: Any) -> int:
        if tag in (None, "latest", "pending", "safe", "finalized"):
            got = requests.post(self.upstream, json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber",
                                                     "params": []}, timeout=30).json()
            return int(got["result"], 16)
        return 0 if tag == "earliest" else int(tag, 16)


def _error(req: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": code, "message": message}}
