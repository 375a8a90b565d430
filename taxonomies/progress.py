"""Progress reporting for long imports: a callback type and a tiny stderr printer."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

# (stage, done, total or None when unknown). Importers call it every few thousand rows.
Progress = Callable[[str, int, "int | None"], None]


REPORT_EVERY = 5000

_T = TypeVar("_T")


def silent(stage: str, done: int, total: int | None) -> None:
    """A progress callback that reports nothing."""


def counted(
    items: Iterable[_T], stage: str, progress: Progress, *, every: int = REPORT_EVERY
) -> Iterator[_T]:
    """Yield `items`, reporting every `every` items and once more, as finished, at the end."""
    count = 0
    for item in items:
        count += 1
        if count % every == 0:
            progress(stage, count, None)
        yield item
    progress(stage, count, count)


class StderrProgress:
    """Prints one self-overwriting line per stage, at most ten times a second."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.1) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._stage: str | None = None
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if stage == self._stage and not finished and now - self._last < self._interval:
            return
        if self._stage is not None and stage != self._stage:
            self._stream.write("\n")
        self._stage, self._last = stage, now
        if total:
            width = 24
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "." * (width - filled)
            self._stream.write(f"\r{stage:<28} [{bar}] {done:>9,}/{total:,}")
        else:
            self._stream.write(f"\r{stage:<28} {done:>9,}")
        self._stream.flush()

    def close(self) -> None:
        """End the current line."""
        if self._stage is not None:
            self._stream.write("\n")
            self._stream.flush()
            self._stage = None
