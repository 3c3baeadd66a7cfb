"""Progress of a long loop: done / total and rate, reported at most every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        share = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.done:,}/{self.total:,} ({share:.0f}%) in {self.seconds:.1f}s, {self.rate:,.0f}/s"


class ProgressReporter:
    """Counts work as it completes and calls ``emit`` every ``every_s`` seconds and at the end."""

    def __init__(self, emit: Callable[[Progress], None] | None, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._emit = emit
        self._every = every_s
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self.done = 0
        self.total = 0

    def expect(self, items: int) -> None:
        self.total += items

    def advance(self, items: int = 1) -> None:
        self.done += items
        now = self._clock()
        if self._emit is not None and now - self._last >= self._every:
            self._last = now
            self._emit(self.snapshot())

    def snapshot(self) -> Progress:
        return Progress(self.done, self.total, self._clock() - self._started)

    def finish(self) -> Progress:
        """The final figures; reported unless there was nothing to do."""
        progress = self.snapshot()
        if self._emit is not None and self.total:
            self._emit(progress)
        return progress
