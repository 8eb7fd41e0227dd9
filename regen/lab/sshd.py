"""A lab reached over SSH, as real hosts are (``lab.up --ssh``): the procedure runs through
the SSH executor with nothing else changed.

Each node's sshd listens on a port published on 127.0.0.1 only. Its host key is made on the
node when the lab starts (the images hold none); the lab reads it through ``docker exec``
(a channel it already trusts) into its own known_hosts file, so the executor checks every
host's key as on real hosts. The lab's own key pair logs in as ``regen``, who reaches root
with ``sudo`` (the images' sudoers), as an operator does. The key pair and the known_hosts
file are owner-only, under the state folder's ``labs/NAME/ssh/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core.config import state_dir
from ..core.executor import Executor
from ..core.files import write_private
from ..core.progress import Progress
from ..core.wait import parallel
from ..procedure.site import Site
from ..ssh.executor import SSHExecutor

USER = "regen"  # the images' operator account, with passwordless sudo
PORT = 22
# on the node: its host key made, the lab's public key authorized for `regen`, sshd started;
# prints the host key
ENABLE = ('set -e; [ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" '
          '-f /etc/ssh/ssh_host_ed25519_key; install -d -m 700 -o "$1" -g "$1" "/home/$1/.ssh"; '
          'printf "%s\\n" "$2" > "/home/$1/.ssh/authorized_keys"; chown "$1:" "/home/$1/.ssh/authorized_keys"; '
          'chmod 600 "/home/$1/.ssh/authorized_keys"; /etc/init.d/ssh status >/dev/null 2>&1 || '
          '/etc/init.d/ssh start >/dev/null; cat /etc/ssh/ssh_host_ed25519_key.pub')


def folder(lab: str) -> Path:
    return state_dir() / "labs" / lab / "ssh"


def identity(lab: str) -> Path:
    return folder(lab) / "id_ed25519"


def known_hosts(lab: str) -> Path:
    return folder(lab) / "known_hosts"


def enable(lab: str, nodes: list[tuple[str, Executor, int]], progress: Progress) -> None:
    """Every node (its name, ``docker exec`` executor and published port) has its sshd started
    with its own host key and the lab's key pair authorized; the host keys are written to the
    lab's known_hosts."""
    with progress.step(f"sshd on {len(nodes)} nodes (host keys made there, known to this machine)"):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        write_private(identity(lab), key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.OpenSSH,
                                                            serialization.NoEncryption()))
        host_keys = parallel(nodes, lambda n: n[1].run(
            ["sh", "-c", ENABLE, "sh", USER, f"{public} regenlab-{lab}"]).stdout.split()[:2])
        lines = [f"[127.0.0.1]:{port} {' '.join(k)}" for (_, _, port), k in zip(nodes, host_keys, strict=True)]
        write_private(known_hosts(lab), ("\n".join(lines) + "\n").encode())


def forget(lab: str) -> None:
    """The lab's key pair and known_hosts removed with the lab."""
    shutil.rmtree(folder(lab), ignore_errors=True)


def over_ssh(lab: str, site: Site, ports: dict[str, int]) -> Site:
    """A lab's Site with every host reached over SSH on its published port (as ``regen``, with
    sudo) instead of ``docker exec``."""
    made = {h.name: SSHExecutor(h.name, "127.0.0.1", port=ports[h.name], user=USER, sudo=True,
                                known_hosts=known_hosts(lab), identity=identity(lab)) for h in site.all_hosts}
    return site.through(lambda ex: made[ex.node])
