"""What the CLI prints: results to stdout (for people, or one JSON object with --json);
progress, notices and errors to stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def error_line(message: str, hint: str | None = None, *, prefix: str = "error") -> None:
    """One line on stderr, never wrapped, whatever the message holds (newlines, [markup])."""
    text = " ".join(message.split()) + (f" ({hint})" if hint else "")
    stderr.print(f"[red]{prefix}:[/] {escape(text)}", soft_wrap=True)


class Output:
    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json

    def result(self, data: dict[str, Any], human: str | None = None) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(data, default=str) + "\n")
            sys.stdout.flush()
        elif human is not None:
            stdout.print(human)

    def note(self, message: str) -> None:
        if not self.as_json:
            stderr.print(message)

    def warn(self, message: str) -> None:
        stderr.print(f"[yellow]warning:[/] {message}")

    def reporter(self) -> "StageReporter":
        return StageReporter(live=not self.as_json and sys.stderr.isatty())


class StageReporter:
    """zkgrad.progress.Reporter for people: a spinner with elapsed time per stage on a terminal,
    nothing when stderr is not a terminal or with --json."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self._status: Any = None
        self._t0 = 0.0

    def start(self, stage: str) -> None:
        if self.live:
            self._t0 = time.perf_counter()
            self._status = stderr.status(f"{stage} …")
            self._status.start()

    def done(self, stage: str, seconds: float) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self.live:
            stderr.print(f"[green]✓[/] {stage} [dim]{seconds:.1f} s[/]")

    def note(self, message: str) -> None:
        stderr.print(message)
