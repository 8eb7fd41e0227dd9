"""One command at a time per lab: an exclusive ``flock`` on a file of the state folder.

``lab.up``, ``lab.down``, ``regen.run``, ``regen.rollback`` and ``rehearse`` hold their lab's
lock for as long as they run. A second caller is refused at once with one line naming the
holder (pid, command, since when); nothing of the first is touched. The kernel drops a
``flock`` when its holder dies, so a killed command never leaves a stale lock.

Re-entrant within a process: a job that holds a lab's lock may call another that takes it."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .config import state_dir
from .errors import Locked

_held: dict[str, list] = {}  # lab -> [file descriptor, depth]: this process's locks
_guard = threading.Lock()


def lock_path(lab: str, root: Path | None = None) -> Path:
    return (root or state_dir()) / "locks" / f"{lab}.lock"


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)[:200]


def holder(path: Path) -> str:
    """Who holds the lock, as its holder wrote it (pid, command, since)."""
    try:
        info = json.loads(path.read_text() or "{}")
        return f"pid {info['pid']} (`{info['command']}`, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def hold(lab: str, root: Path | None = None) -> Iterator[None]:
    """Hold ``lab``'s lock for the block, or raise Locked naming its holder."""
    path = lock_path(lab, root)
    with _guard:
        if lab in _held:
            _held[lab][1] += 1
            fd = None
        else:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise Locked(f"lab {lab!r} is busy: {holder(path)} holds it; wait for it to end, "
                             "then try again") from None
            since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": _command(), "since": since}).encode(), 0)
            _held[lab] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            _held[lab][1] -= 1
            if _held[lab][1] == 0:
                fd = _held.pop(lab)[0]
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
