"""The executor of a lab: ``docker exec`` into a node's container, as root (like ``sudo``)."""

from __future__ import annotations

import subprocess

from ..core.errors import CommandFailed
from ..core.executor import DEFAULT_TIMEOUT, ExecResult, _OverShell


class DockerExecutor(_OverShell):
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
        try:
            done = subprocess.run(
                self._argv(argv, timeout, input is not None), input=input, capture_output=True,
                timeout=timeout + 30,
            )
        except subprocess.TimeoutExpired:  # the node's `timeout` did not end it: the container or engine hangs
            done = subprocess.CompletedProcess(argv, 124, b"", f"no answer from `docker exec` into {self.container} "
                                               f"after {timeout + 30}s (the container or the engine hangs)".encode())
        result = ExecResult(
            self.node, tuple(argv), done.returncode,
            done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"),
        )
        if check and result.exit_code not in ok_codes:
            raise CommandFailed(self.node, list(argv), result.exit_code, result.output)
        return result

    def _run_bytes(self, argv: list[str], timeout: int = DEFAULT_TIMEOUT) -> bytes:
        try:
            done = subprocess.run(self._argv(argv, timeout, False), capture_output=True, timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            raise CommandFailed(self.node, argv, 124, f"no answer from `docker exec` after {timeout + 30}s") from None
        if done.returncode != 0:
            raise CommandFailed(self.node, argv, done.returncode, done.stderr.decode(errors="replace"))
        return done.stdout

    def __repr__(self) -> str:
        return f"DockerExecutor({self.container!r})"
