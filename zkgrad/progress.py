"""Stage reporting: the API times each long stage; the CLI may show it (rich) or stay quiet."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol


class Reporter(Protocol):
    def start(self, stage: str, line: Callable[[float], str] | None = None) -> None:
        """A stage begins; ``line``, given the seconds since, is what a live display shows."""

    def done(self, stage: str, seconds: float, line: str | None = None) -> None:
        """A stage ended; ``line`` is its one-line record, shown even where nothing is live (a log)."""

    def note(self, message: str) -> None: ...


class Quiet:
    def start(self, stage: str, line: Callable[[float], str] | None = None) -> None:
        pass

    def done(self, stage: str, seconds: float, line: str | None = None) -> None:
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


def clock(seconds: float) -> str:
    """``0:42``, ``12:05``, ``1:02:09``."""
    m, s = divmod(max(0, round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class StepEstimate:
    """The lines of a run of proven steps up to step ``total``: this step's elapsed time, and what
    is left estimated from the mean time of the steps proven before it in this run."""

    total: int
    proven: list[float] = field(default_factory=list)
    """Seconds each step of this run took to prove, in order."""

    def left(self, step: int, elapsed: float | None = None) -> float | None:
        """Seconds left in the run once ``step`` is proven, or while it has been proving for
        ``elapsed``; None before any step is proven."""
        if not self.proven:
            return None
        mean = statistics.fmean(self.proven)
        current = 0.0 if elapsed is None else max(mean - elapsed, 0.0)
        return current + mean * max(self.total - step, 0)

    def live(self, step: int, elapsed: float) -> str:
        head = f"step {step}/{self.total} proving {clock(elapsed)}"
        left = self.left(step, elapsed)
        if left is None:
            return f"{head} · estimate after the first step"
        return f"{head} · ~{clock(statistics.fmean(self.proven))} per step, ~{clock(left)} left"

    def finished(self, step: int, seconds: float) -> str:
        """The line of ``step``, proven in ``seconds`` (then recorded: live lines use it from now on)."""
        line = f"step {step}/{self.total} proven in {clock(seconds)}"
        left = StepEstimate(self.total, [*self.proven, seconds]).left(step)
        return f"{line} · ~{clock(left)} left" if left else line

    def record(self, seconds: float) -> None:
        self.proven.append(seconds)
