"""Stage reporting: the API times each long stage; the CLI may show it (rich) or stay quiet."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Protocol


class Reporter(Protocol):
    def start(self, stage: str) -> None: ...
    def done(self, stage: str, seconds: float) -> None: ...
    def note(self, message: str) -> None: ...


class Quiet:
    def start(self, stage: str) -> None:
        pass

    def done(self, stage: str, seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass


class Timings(dict[str, float]):
    """Seconds per stage, filled by ``stage``."""

    def __init__(self, reporter: Reporter | None = None) -> None:
        super().__init__()
        self.reporter: Reporter = reporter or Quiet()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.reporter.start(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self[name] = round(self.get(name, 0.0) + dt, 4)
        self.reporter.done(name, dt)
