"""Progress: the one place that tells the user what is happening, with timings."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

HEARTBEAT = 30.0  # s: how often a step still running says so


class Progress:
    """Prints one line when a step starts and one when it ends, with its duration, and every
    ``HEARTBEAT`` seconds one line for each step still running (what it waits for and for how
    long; steps that run long are waits: a service starting, agents reporting).

    Thread-safe, so concurrent per-node work can report too. ``quiet`` silences it
    (tests, JSON output). Plain lines, so logs read the same in a terminal and in CI."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, out: TextIO | None = None,
                 heartbeat: float = HEARTBEAT) -> None:
        self.stream = stream or sys.stderr
        self.out = out  # where results go (stdout unless given)
        self.quiet = quiet
        self.heartbeat = heartbeat
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._open: dict[int, list] = {}  # the steps running: [title, start, when it next says so]
        self._keys = itertools.count()
        self._ticker: threading.Thread | None = None

    def _tick(self) -> None:
        """While a step is open: a line for each one open a heartbeat longer than it last said."""
        while True:
            time.sleep(min(1.0, self.heartbeat / 3))
            due = []
            with self._lock:
                if not self._open:
                    self._ticker = None
                    return
                at = time.monotonic()
                for entry in self._open.values():
                    if at >= entry[2]:
                        entry[2] += self.heartbeat
                        due.append((entry[0], at - entry[1]))
            for title, waited in due:
                self.say(f"{title}: still running ({waited:.0f}s)")

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
        key = next(self._keys)
        if not self.quiet:
            with self._lock:
                self._open[key] = [title, start, start + self.heartbeat]
                if self._ticker is None:
                    self._ticker = threading.Thread(target=self._tick, name="progress-heartbeat", daemon=True)
                    self._ticker.start()
        try:
            yield
        except BaseException:
            self.say(f"{title}: FAILED after {time.monotonic() - start:.1f}s")
            raise
        finally:
            with self._lock:
                self._open.pop(key, None)
        self.say(f"{title}: done in {time.monotonic() - start:.1f}s")
