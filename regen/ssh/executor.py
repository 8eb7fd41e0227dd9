"""The executor of real hosts: each command over SSH (paramiko), as the site file says the
host is reached.

One SSH connection per host, opened at the first command and shared by the procedure's
threads (each command is a channel of it). The host's key must be in the known_hosts file
given: an unknown or changed key refuses the connection (``RejectPolicy``), it is never
added silently. With ``sudo``, every command runs as ``sudo -n --`` (no password prompt: a
sudo that asks for one fails at once and says so). Every command runs under ``timeout`` on
the host, and the channel is given up 30 s after that."""

from __future__ import annotations

import select
import shlex
import threading
import time
from pathlib import Path

import paramiko

from ..core.errors import BadInput, CommandFailed
from ..core.executor import DEFAULT_TIMEOUT, ExecResult, _OverShell

CONNECT_TIMEOUT = 15
EOF_GRACE = 2.0  # seconds to wait for a command's last output once its exit status came
UNREACHABLE = 255  # the exit code `ssh` gives when it cannot reach or log into the host


class SSHExecutor(_OverShell):
    """Runs commands on ``user@address:port`` over SSH, with ``sudo`` if asked."""

    def __init__(self, node: str, address: str, *, known_hosts: Path, port: int = 22, user: str = "root",
                 sudo: bool = False, identity: Path | None = None, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        if not known_hosts.is_file():
            raise BadInput(f"no known_hosts file {known_hosts}: the hosts' keys must be known before connecting "
                           "(ssh-keyscan them, and check their fingerprints)")
        if identity is not None and not identity.is_file():
            raise BadInput(f"no SSH key {identity}")
        self.node, self.address, self.port, self.user, self.sudo = node, address, port, user, sudo
        self.known_hosts, self.identity, self.connect_timeout = known_hosts, identity, connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        return f"{self.user}@{self.address}" + (f":{self.port}" if self.port != 22 else "")

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is not None and transport.is_active():
                return transport
            client = paramiko.SSHClient()
            client.load_host_keys(str(self.known_hosts))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(self.address, self.port, self.user, timeout=self.connect_timeout,
                               banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                               key_filename=str(self.identity) if self.identity else None,
                               look_for_keys=self.identity is None, allow_agent=self.identity is None)
            except paramiko.BadHostKeyException as exc:
                client.close()
                raise CommandFailed(self.node, ["ssh", self.target], UNREACHABLE,
                                    f"the host key of {self.target} has CHANGED (not the one in {self.known_hosts}): "
                                    f"refused ({exc})") from None
            except paramiko.SSHException as exc:  # unknown host key (RejectPolicy), auth, protocol
                client.close()
                raise CommandFailed(self.node, ["ssh", self.target], UNREACHABLE,
                                    f"ssh {self.target}: {exc} (known_hosts: {self.known_hosts})") from None
            except (TimeoutError, OSError) as exc:
                client.close()
                raise CommandFailed(self.node, ["ssh", self.target], UNREACHABLE,
                                    f"ssh {self.target}: cannot connect ({exc})") from None
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(15)
            self._client = client
            return transport

    def command_line(self, argv: list[str], timeout: int) -> str:
        """What the host's shell is given: the command under ``timeout``, under sudo if asked."""
        line = shlex.join(["timeout", "-k", "5", str(timeout), *argv])
        return f"sudo -n -- {line}" if self.sudo else line

    def _exec(self, argv: list[str], timeout: int, input: bytes | None) -> tuple[int, bytes, bytes]:
        channel = self._transport().open_session(timeout=self.connect_timeout)
        try:
            channel.exec_command(self.command_line(argv, timeout))
            if input:
                channel.sendall(input)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout + 30
            # until the exit status AND the end of both streams: sshd may send the last of a
            # command's output after its exit status (curl's error line came cut in two). A
            # daemon the command started may hold the streams open: the end is awaited for
            # EOF_GRACE seconds after the exit status, no longer.
            exited_at = None
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif channel.exit_status_ready() and (channel.eof_received or channel.closed or (
                        exited_at is not None and time.monotonic() - exited_at > EOF_GRACE)):
                    break
                elif channel.exit_status_ready() and exited_at is None:
                    exited_at = time.monotonic()
                elif time.monotonic() > deadline:
                    return 124, bytes(out), bytes(err) + f"no answer from {self.target} after {timeout + 30}s".encode()
                else:
                    select.select([channel], [], [], 0.5)
            return channel.recv_exit_status(), bytes(out), bytes(err)
        except (paramiko.SSHException, OSError) as exc:
            return UNREACHABLE, b"", f"ssh {self.target}: {exc}".encode()
        finally:
            channel.close()

    def run(
        self, argv: list[str], *, check: bool = True, timeout: int = DEFAULT_TIMEOUT,
        input: bytes | None = None, ok_codes: tuple[int, ...] = (0,),
    ) -> ExecResult:
        code, out, err = self._exec(argv, timeout, input)
        result = ExecResult(self.node, tuple(argv), code, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and result.exit_code not in ok_codes:
            raise CommandFailed(self.node, list(argv), result.exit_code, result.output)
        return result

    def _run_bytes(self, argv: list[str], timeout: int = DEFAULT_TIMEOUT) -> bytes:
        code, out, err = self._exec(argv, timeout, None)
        if code != 0:
            raise CommandFailed(self.node, argv, code, err.decode(errors="replace"))
        return out

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __repr__(self) -> str:
        return f"SSHExecutor({self.node!r}, {self.target!r})"
