"""A proof's verdict and its result (name, claim, verdict, evidence), and what every check
uses to judge: what a TLS peer says when it refuses a certificate, a fingerprint shortened,
a command's error lines, a file read on every host."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ...core.errors import RegenLabError
from ...core.wait import parallel
from ..site import Host

# A proof's verdict: only "pass" passes. "could not tell": the check itself did not get an
# answer it can judge (a probe refused for another reason than the one claimed, a host that
# does not answer); "nothing to check": it had no host to look at (0 of 0 proves nothing).
PASS, FAIL, UNKNOWN, EMPTY = "pass", "fail", "could not tell", "nothing to check"

# What a TLS peer says when it refuses a client's certificate (OpenSSL's text of the alert);
# anything else a probe gets (no route, a timeout, a missing file) proves nothing.
CERT_ALERT = re.compile(r"alert (certificate unknown|unknown ca|bad certificate|certificate revoked|"
                        r"certificate expired|unsupported certificate)", re.I)
CURL_TLS_EXITS = (35, 56)  # curl: SSL connect error, failure receiving (TLS 1.3 alerts arrive there)


@dataclass(frozen=True)
class Found:
    """What a check found: its verdict and the evidence it quotes. The proof's name and claim
    are its row's in ``proof.PROOFS``, the one place they are written."""

    verdict: str
    evidence: str

    @property
    def passed(self) -> bool:
        return self.verdict == PASS


@dataclass(frozen=True)
class ProofResult:
    name: str  # stable: what scenarios and readers call it (`old-cert-refused`)
    claim: str
    verdict: str
    evidence: str
    id: str = ""  # its number in this run's list of proofs, given by prove()

    @property
    def passed(self) -> bool:
        return self.verdict == PASS


def judged(ok: bool, evidence: str) -> Found:
    return Found(PASS if ok else FAIL, evidence)


def nothing_to_check(what: str) -> Found:
    return Found(EMPTY, f"nothing to check: {what}")


def short_fp(fp: str) -> str:
    return fp[:23] + "..."


def error_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if "rror" in line or "failed" in line.lower()]
    return " | ".join(lines[:limit]) or text.strip()[-300:]


def read_all(hosts: list[Host], path_of: Callable[[Host], str]) -> list[bytes | RegenLabError]:
    """Each host's file, read side by side (a lab of 100 agents); a failure kept in its place."""

    def read(host: Host) -> bytes | RegenLabError:
        try:
            return host.executor.read_file(path_of(host))
        except RegenLabError as exc:  # CommandFailed too
            return exc

    return parallel(hosts, read)
