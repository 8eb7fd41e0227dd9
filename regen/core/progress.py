"""Progress: the one place that tells the user what is happening, with timings."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Prints one line when a step starts and one when it ends, with its duration.

    Thread-safe, so concurrent per-node work can report too. ``quiet`` silences it
    (tests, JSON output)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, out: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.out = out  # where results go (stdout unless given)
        self.quiet = quiet
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def say(self, message: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.stream.write(f"[{time.monotonic() - self._t0:6.1f}s] {message}\n")
            self.stream.flush()

    def show(self, block: str) -> None:
        """A result for the user (a report's summary, a table): on stdout, as it is."""
        if self.quiet:
            return
        out = self.out or sys.stdout
        with self._lock:
            out.write(block.rstrip("\n") + "\n")
            out.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        start = time.monotonic()
        self.say(f"{title} ...")
        try:
            yield
        except BaseException:
            self.say(f"{title}: FAILED after {time.monotonic() - start:.1f}s")
            raise
        self.say(f"{title}: done in {time.monotonic() - start:.1f}s")
