"""A transcript: every command a run sent to its hosts, by step, as the runbook shows them.

``Recording`` wraps any Executor and notes each command before passing it on: the host, the
step and phase it ran in (set by the runner with ``within``; threads started with
``wait.parallel`` inherit it), the argv, and how it ended. A file written is noted as a
write of that path, mode and owner, never with its content (it may be a private key); a
file read as ``cat PATH``. The transcript is what ``regen.plan`` turns into a runbook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import CommandFailed
from .executor import DEFAULT_TIMEOUT, ExecResult, Executor
from .files import write_private

SCHEMA = 1
# (step id, phase): phase is "run" (the step's work), "check" (is its effect there?) or
# "preflight"; ("", "") outside any step
_WHERE: ContextVar[tuple[str, str]] = ContextVar("regen_where", default=("", ""))


@contextmanager
def within(step: str, phase: str) -> Iterator[None]:
    """Commands sent in this block (and in the threads it starts with ``parallel``) belong to
    that step and phase."""
    token = _WHERE.set((step, phase))
    try:
        yield
    finally:
        _WHERE.reset(token)


@dataclass(frozen=True)
class Command:
    """One command as a host saw it. ``kind``: "run" (argv), "read" (``cat PATH``, copied
    to this machine), "write" (PATH written whole from this machine: argv is its path, mode
    and owner; ``stdin`` its size only)."""

    step: str
    phase: str
    host: str
    kind: str
    argv: tuple[str, ...]
    exit_code: int
    stdin: int = 0  # bytes given on stdin (their content is never kept)
    at: float = 0.0  # seconds since the transcript began


@dataclass
class Transcript:
    """The commands of one run, in the order they were sent."""

    commands: list[Command] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def note(self, host: str, kind: str, argv: tuple[str, ...], exit_code: int, stdin: int = 0) -> None:
        step, phase = _WHERE.get()
        with self._lock:
            self.commands.append(Command(step, phase, host, kind, argv, exit_code, stdin,
                                         round(time.monotonic() - self.started, 3)))

    def save(self, path: Path) -> Path:
        data = {"schema": SCHEMA, "commands": [asdict(c) for c in self.commands]}
        return write_private(path, json.dumps(data, indent=1).encode())

    @classmethod
    def load(cls, path: Path) -> Transcript:
        data = json.loads(path.read_text())
        return cls([Command(**{**c, "argv": tuple(c["argv"])}) for c in data["commands"]])


class Recording:
    """An Executor that notes every command in a Transcript, then runs it on the one it wraps."""

    def __init__(self, inner: Executor, transcript: Transcript) -> None:
        self.inner = inner
        self.node = inner.node
        self.transcript = transcript

    def run(self, argv: list[str], *, check: bool = True, timeout: int = DEFAULT_TIMEOUT,
            input: bytes | None = None, ok_codes: tuple[int, ...] = (0,)) -> ExecResult:
        try:
            res = self.inner.run(argv, check=False, timeout=timeout, input=input)
        except Exception:
            self.transcript.note(self.node, "run", tuple(argv), -1, len(input or b""))
            raise
        self.transcript.note(self.node, "run", tuple(argv), res.exit_code, len(input or b""))
        if check and res.exit_code not in ok_codes:
            raise CommandFailed(self.node, list(argv), res.exit_code, res.output)
        return res

    def read_file(self, path: str) -> bytes:
        try:
            data = self.inner.read_file(path)
        except Exception:
            self.transcript.note(self.node, "read", (path,), 1)
            raise
        self.transcript.note(self.node, "read", (path,), 0)
        return data

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None:
        try:
            self.inner.write_file(path, data, mode=mode, owner=owner)
        except Exception:
            self.transcript.note(self.node, "write", (path, f"{mode:o}", owner), 1, len(data))
            raise
        self.transcript.note(self.node, "write", (path, f"{mode:o}", owner), 0, len(data))

    def stop_leftovers(self) -> int:
        return self.inner.stop_leftovers()

    def __repr__(self) -> str:
        return f"Recording({self.inner!r})"
