"""Executors: the only things that run commands on a node.

A step says *what* an operator types (an argv list); the executor says *where*: a
``docker exec`` into a lab node here, SSH on real hosts later. Nothing above this
module knows it runs in Docker.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Protocol

from .errors import CommandFailed

DEFAULT_TIMEOUT = 120


@dataclass(frozen=True)
class ExecResult:
    """What a command did: its argv, exit code and output (decoded text)."""

    node: str
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


class Executor(Protocol):
    node: str

    def run(
        self, argv: list[str], *, check: bool = True, timeout: int = DEFAULT_TIMEOUT,
        input: bytes | None = None, ok_codes: tuple[int, ...] = (0,),
    ) -> ExecResult: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None: ...


class _ShellFiles:
    """File transfer over ``run``: the same on any executor that can run ``cat``."""

    def read_file(self, path: str) -> bytes:
        return self._run_bytes(["cat", path])  # type: ignore[attr-defined]

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None:
        # The file is created with its final mode before any byte is written (keys never sit world-readable).
        script = 'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && chown "$3" "$1.tmp" && mv "$1.tmp" "$1"'
        self.run(["sh", "-c", script, "sh", path, f"{mode:o}", owner], input=data)  # type: ignore[attr-defined]


class DockerExecutor(_ShellFiles):
    """Runs commands in a lab container with ``docker exec`` (as root, like ``sudo``)."""

    def __init__(self, container: str, node: str | None = None) -> None:
        self.container = container
        self.node = node or container

    def _argv(self, argv: list[str], timeout: int, interactive: bool) -> list[str]:
        # `timeout` runs on the node: a hung command (mco, a stuck TLS client) is killed there.
        return ["docker", "exec", *(["-i"] if interactive else []), self.container,
                "timeout", "-k", "5", str(timeout), *argv]

    def run(
        self, argv: list[str], *, check: bool = True, timeout: int = DEFAULT_TIMEOUT,
        input: bytes | None = None, ok_codes: tuple[int, ...] = (0,),
    ) -> ExecResult:
        done = subprocess.run(
            self._argv(argv, timeout, input is not None), input=input, capture_output=True,
            timeout=timeout + 30,
        )
        result = ExecResult(
            self.node, tuple(argv), done.returncode,
            done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"),
        )
        if check and result.exit_code not in ok_codes:
            raise CommandFailed(self.node, list(argv), result.exit_code, result.output)
        return result

    def _run_bytes(self, argv: list[str], timeout: int = DEFAULT_TIMEOUT) -> bytes:
        done = subprocess.run(self._argv(argv, timeout, False), capture_output=True, timeout=timeout + 30)
        if done.returncode != 0:
            raise CommandFailed(self.node, argv, done.returncode, done.stderr.decode(errors="replace"))
        return done.stdout

    def __repr__(self) -> str:
        return f"DockerExecutor({self.container!r})"
