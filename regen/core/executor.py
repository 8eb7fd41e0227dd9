"""Executors: the only things that run commands on a node.

A step says *what* an operator types (an argv list); the executor says *where*: a
``docker exec`` into a lab node here, SSH on real hosts later. Nothing above this
module knows it runs in Docker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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

    def stop_leftovers(self) -> int:
        """End every command an earlier controller started on this node and left running (it
        was killed, its commands were not); services those commands started keep running.
        Returns how many were ended. Only safe while the lab's lock is held."""
        ...

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None: ...


class _OverShell:
    """What any executor that runs ``sh`` gets from ``run``: files read and written whole,
    and the commands a killed controller left running ended. Every command an executor sends
    runs under ``timeout`` on the host."""

    def read_file(self, path: str) -> bytes:
        return self._run_bytes(["cat", path])  # type: ignore[attr-defined]

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None:
        # The file is created with its final mode before any byte is written (keys never sit world-readable),
        # and put in place only whole: a controller killed mid-stream ends `cat` early, and the size says so.
        script = ('umask 077 && cat > "$1.tmp" && [ "$(wc -c < "$1.tmp")" -eq "$4" ] && chmod "$2" "$1.tmp" && '
                  'chown "$3" "$1.tmp" && mv "$1.tmp" "$1"')
        self.run(["sh", "-c", script, "sh", path, f"{mode:o}", owner, str(len(data))],  # type: ignore[attr-defined]
                 input=data)

    # The `timeout` processes on the host are the commands in flight, except this script's own
    # (its parent). TERM to a `timeout` is passed on to its command (and KILL 5 s later if it
    # lingers); a service that a command started has left it (start-stop-daemon --background)
    # and is not touched.
    LEFTOVERS = ('left() { pgrep -x timeout | grep -vx "$PPID"; }; n=0; '
                 'for p in $(left); do kill -TERM "$p" && n=$((n+1)); done; '
                 'i=0; while [ -n "$(left)" ] && [ $i -lt 80 ]; do sleep 0.1; i=$((i+1)); done; '
                 'echo $n; [ -z "$(left)" ]')

    def stop_leftovers(self) -> int:
        res = self.run(["sh", "-c", self.LEFTOVERS], timeout=20)  # type: ignore[attr-defined]
        return int(res.stdout.split()[-1]) if res.stdout.split() else 0
