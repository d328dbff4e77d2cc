"""Reading a contract's event logs from any node, public providers included: in pages of at most
``span`` blocks, never the whole chain in one request, and narrower when the node asks for it.

Providers cap eth_getLogs by block range or by result count and say so each in their own words
("block range is too wide", "query returned more than 10000 results", ...). Any refusal is
taken as "too much at once": the page is halved and asked again, and later pages keep the
narrower span. A refusal of a single block is the node's real answer and is raised.
"""

from __future__ import annotations

from typing import Any

from ..errors import ChainError, InputError, RpcUnreachableError
from ..node import get_logs

DEFAULT_SPAN = 5_000
"""Blocks per eth_getLogs request at first: within what common public providers accept."""


def read_logs(event: Any, filters: dict[str, Any], first: int, last: int, *, span: int = DEFAULT_SPAN) -> list[Any]:
    """Every log of ``event`` (a contract handle's event class) matching ``filters`` in blocks
    ``first..last``, oldest first."""
    if span < 1:
        raise InputError(f"a log page spans at least one block, got {span}", hint="pass a positive block count")
    found: list[Any] = []
    start = first
    while start <= last:
        end = min(last, start + span - 1)
        try:
            found += get_logs(event, start, end, filters)
        except RpcUnreachableError:
            raise
        except ChainError as exc:
            if end == start:
                raise ChainError(f"{exc.message} (eth_getLogs of block {start} alone)",
                                 hint="the node refuses to read logs; try another RPC provider") from None
            span = (end - start + 1) // 2
            continue
        start = end + 1
    return found
