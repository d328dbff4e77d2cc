"""What the CLI prints: results to stdout (for people, or one JSON object with --json);
progress, notices and errors to stderr."""

from __future__ import annotations

import atexit
import json
import sys
import time
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..progress import clock

stderr = Console(stderr=True, highlight=False, emoji=False)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)


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
        return StageReporter(live=not self.as_json and sys.stderr.isatty(), lines=not self.as_json)


class _Ticker:
    """A live text, computed at each refresh from the seconds since ``t0``."""

    def __init__(self, line: Callable[[float], str]) -> None:
        self.line = line
        self.t0 = time.perf_counter()

    def __rich__(self) -> Text:
        return Text(self.line(time.perf_counter() - self.t0))


class StageReporter:
    """zkgrad.progress.Reporter for people. On a terminal: a spinner with the stage's live line
    (by default its name and elapsed time), then a ✓ line. Elsewhere (a log): only the stages'
    own record lines, plain. With --json (``lines=False``): nothing."""

    def __init__(self, live: bool, lines: bool = True) -> None:
        self.live = live
        self.lines = lines
        self._status: Any = None
        self._shown: list[_Ticker] = []  # a stage started inside another shows until it ends
        if live:
            atexit.register(self._stop)  # a stage ended by an error: no spinner left behind at exit

    def start(self, stage: str, line: Callable[[float], str] | None = None) -> None:
        if not self.live:
            return
        ticker = _Ticker(line or (lambda s: f"{stage} … {clock(s)}"))
        self._shown.append(ticker)
        if self._status is None:
            self._status = stderr.status(ticker)
            self._status.start()
        else:
            self._status.update(ticker)

    def done(self, stage: str, seconds: float, line: str | None = None) -> None:
        if self._shown:
            self._shown.pop()
        if self._status is not None and self._shown:
            self._status.update(self._shown[-1])
        else:
            self._stop()
        if self.live:
            stderr.print(f"[green]✓[/] {escape(line)}" if line else f"[green]✓[/] {stage} [dim]{seconds:.1f} s[/]")
        elif line and self.lines:
            stderr.print(escape(line), soft_wrap=True)

    def note(self, message: str) -> None:
        stderr.print(message)

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
