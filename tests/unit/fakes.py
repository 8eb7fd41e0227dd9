"""The unit tests' fakes and shared helpers: a scripted host (``Scripted``: each command answered
by the first rule that matches it, files served), a host that answers every command and records
it (``Recorder``), the checkout's ``invoke`` run (``run``), and certificates made here with
cryptography (a Puppet-like CA, a leaf)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from regen.core.errors import CommandFailed
from regen.core.executor import ExecResult
from regen.core.progress import Progress
from regen.ops import puppet

NOW = dt.datetime.now(dt.UTC)


def cn_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject: str, key, issuer: str, issuer_key, ca: bool, sans=(), days: int = 30):
    builder = (
        x509.CertificateBuilder().subject_name(cn_name(subject)).issuer_name(cn_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_puppet_ca():
    """Root + intermediate with Puppet's names, and a leaf for agent-1."""
    root_key, int_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("Puppet Root CA: lab", root_key, "Puppet Root CA: lab", root_key, ca=True)
    inter = cert("Puppet CA: server", int_key, "Puppet Root CA: lab", root_key, ca=True)
    leaf = cert("agent-1", leaf_key, "Puppet CA: server", int_key, ca=False, sans=("agent-1",))
    return root, inter, leaf, leaf_key


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


Answer = tuple[int, str, str]  # exit code, stdout, stderr

ALERT = ("curl: (56) OpenSSL SSL_read: OpenSSL/3.0.20: error:0A000416:SSL routines::sslv3 alert certificate "
         "unknown, errno 0")
REFUSED: Answer = (56, "000", ALERT)
OK_200: Answer = (0, "200", "")


class Scripted:
    """A host that answers each command with the first rule that matches it, and serves files."""

    def __init__(self, node: str, files: dict[str, bytes] | None = None,
                 rules: list[tuple[Callable[[list[str]], bool], Answer | Callable[[list[str]], Answer]]] | None = None,
                 where: puppet.Layout = puppet.DEBIAN):
        self.node, self.files, self.rules, self.log = node, files or {}, rules or [], []
        self.where = where  # what `puppet config print` says here: Debian's packages unless given

    def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
        if "config print" in " ".join(argv) and "ssldir" in argv:
            return ExecResult(self.node, tuple(argv), 0, layout_output(self.where), "")
        self.log.append(list(argv))
        for match, answer in self.rules:
            if match(argv):
                code, out, err = answer(argv) if callable(answer) else answer
                break
        else:
            if argv[0] == "cat" and argv[1] in self.files:
                code, out, err = 0, self.files[argv[1]].decode(), ""
            else:
                code, out, err = 1, "", f"{argv[0]}: not scripted"
        if check and code not in ok_codes:
            raise CommandFailed(self.node, list(argv), code, out + err)
        return ExecResult(self.node, tuple(argv), code, out, err)

    def stop_leftovers(self) -> int:
        self.log.append(["(leftovers stopped)"])
        return 0

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise CommandFailed(self.node, ["cat", path], 1, f"cat: {path}: No such file or directory")
        return self.files[path]


def layout_output(where: puppet.Layout) -> str:
    """What `puppet config print ssldir certdir ...` prints on a host of that Layout."""
    return "".join(f"{name} = {getattr(where, name)}\n" for name in sorted(puppet.LAYOUT_SETTINGS))


def has(*words: str) -> Callable[[list[str]], bool]:
    return lambda argv: all(any(w in a for a in argv) for w in words)


def crl_of(issuer: x509.Certificate, key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(NOW)
           .next_update(NOW + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)



class Recorder:
    """Records what an operator would have typed on each host (``node: argv`` in one shared log);
    every command succeeds with no output, and ``puppet config print`` says Debian's paths."""

    def __init__(self, node: str, log: list[str]) -> None:
        self.node, self.log = node, log

    def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
        if "config print" in " ".join(argv) and "ssldir" in argv:  # where Puppet's files are: Debian's
            return ExecResult(self.node, tuple(argv), 0, layout_output(puppet.DEBIAN), "")
        self.log.append(f"{self.node}: {' '.join(argv)}")
        return ExecResult(self.node, tuple(argv), 0, "", "")

    def stop_leftovers(self) -> int:
        self.log.append(f"{self.node}: (leftovers stopped)")
        return 0


ROOT = Path(__file__).resolve().parents[2]  # the checkout
INVOKE = [sys.executable, "-m", "invoke"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*INVOKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def quiet() -> Progress:
    return Progress(quiet=True)
