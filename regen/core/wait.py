"""Waiting: poll until something holds (with the service's own log on timeout), and run
per-host work side by side with a bound. Nothing here knows what runs the commands."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import CommandFailed, NotReady

T = TypeVar("T")
PARALLEL = 8  # concurrent per-node commands (2 cores: Ruby start-up is the cost)


def wait_until(
    what: str, probe: Callable[[], bool], timeout: float, interval: float = 1.0,
    log: Callable[[], str] | None = None, give_up: Callable[[], str | None] | None = None,
) -> float:
    """Poll ``probe`` until it is true; on timeout raise NotReady with ``log()`` attached.
    ``give_up`` returns a reason to stop at once (a container that exited). Commands
    that fail while a service starts count as "not yet"."""
    start = time.monotonic()
    while True:
        try:
            if probe():
                return time.monotonic() - start
        except CommandFailed:
            pass
        waited = time.monotonic() - start
        reason = give_up() if give_up else None
        if reason or waited > timeout:
            raise NotReady(f"{what}{' (' + reason + ')' if reason else ''}", waited, log() if log else "")
        time.sleep(interval)



def parallel(items: Iterable[T], fn: Callable[[T], object], limit: int = PARALLEL) -> list:
    """Run ``fn`` on every item, ``limit`` at a time; results in order; the first error raised.
    Each runs in a copy of the caller's context (the step a transcript notes its commands in)."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        return [f.result() for f in futures]
