"""The backups on this machine, two per full run: step 1.1's of the master (it holds the CA
key) and step 1.0's of the other hosts (their keys): listed with what they hold, and pruned
to the newest few runs per lab. The backups an unfinished run would resume or roll back from
are never removed."""

from __future__ import annotations

import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BadInput, RegenLabError
from ..ops import pki
from . import hostbackup
from .runner import ProcedureStateError, RunState, state_path

FILE_RE = re.compile(r"(?P<lab>[a-z0-9][a-z0-9_.-]*)-(?P<run>\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z)"
                     r"(?P<kind>\.tar\.gz|\.hosts\.tar)")
KINDS = {".tar.gz": "master", ".hosts.tar": "other hosts"}


@dataclass(frozen=True)
class BackupFile:
    lab: str
    run: str  # the run's start, as in the file's name
    kind: str  # master (step 1.1) | other hosts (step 1.0)
    path: Path
    size: int
    age: float  # seconds since it was written
    holds: str  # the master's: its CA's fingerprint; the other hosts': its parts ("unreadable": not whole)
    in_use: bool  # an unfinished run of that lab would resume or roll back from it

    def row(self) -> tuple[str, ...]:
        fp = self.holds if self.holds == "unreadable" or self.kind != "master" else \
            self.holds[:23] + "..."
        return (self.lab, self.run, self.kind, _age(self.age), f"{self.size / 1024:.0f} KiB", fp,
                "yes (unfinished run)" if self.in_use else "")


HEADERS = ("lab", "run", "of", "age", "size", "CA fingerprint / parts", "in use")


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f} {unit}"
    return f"{seconds:.0f} s"


def _holds(path: Path, kind: str) -> str:
    if kind != "master":
        try:
            names = sorted(hostbackup.members(path.read_bytes()))
        except (OSError, RegenLabError):
            return "unreadable"
        return f"{len(names)} parts" if len(names) > 3 else ", ".join(names)
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            # the CA's own cert: ca_crt.pem in the cadir (Debian's or Puppet's own packages)
            name = next((m.name for m in tar.getmembers() if m.name.endswith("/ca/ca_crt.pem")), None)
            member = tar.extractfile(name) if name else None
            return pki.ca_fingerprint(member.read()) if member else "unreadable"
    except (OSError, tarfile.TarError, EOFError, KeyError, BadInput):
        return "unreadable"


def _in_use(state_root: Path, lab: str) -> set[str]:
    """The backup paths an unfinished run of ``lab`` points at (none: an empty set)."""
    path = state_path(state_root, lab)
    if not path.exists():
        return set()
    try:
        state = RunState.load(path)
    except ProcedureStateError:
        return {"?"}  # a state file that cannot be read: none of that lab's backups is removed
    return set() if state.finished else {state.facts.backup.path, state.facts.backup.hosts_path} - {""}


def find(state_root: Path, lab: str | None = None) -> list[BackupFile]:
    """Every backup in the state folder (of one lab if given), oldest first."""
    folder = state_root / "backups"
    out = []
    now = time.time()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = FILE_RE.fullmatch(path.name)
        if not m or (lab and m["lab"] != lab):
            continue
        used = _in_use(state_root, m["lab"])
        st = path.stat()
        kind = KINDS[m["kind"]]
        out.append(BackupFile(m["lab"], m["run"], kind, path, st.st_size, now - st.st_mtime, _holds(path, kind),
                              "?" in used or str(path) in used))
    return sorted(out, key=lambda b: (b.lab, b.run, b.kind))


def prune(state_root: Path, keep: int, lab: str | None = None) -> list[BackupFile]:
    """Remove the backups of all but the ``keep`` newest runs of each lab; one in use is
    always kept. Returns those removed."""
    if keep < 0:
        raise BadInput(f"--keep must be 0 or more, not {keep}")
    removed = []
    by_lab: dict[str, list[BackupFile]] = {}
    for b in find(state_root, lab):
        by_lab.setdefault(b.lab, []).append(b)
    for backups in by_lab.values():
        runs = sorted({b.run for b in backups})
        old_runs = set(runs[: max(0, len(runs) - keep)])
        for b in (b for b in backups if b.run in old_runs):
            if b.in_use:
                continue
            try:
                b.path.unlink()
            except OSError as exc:
                raise RegenLabError(f"cannot remove {b.path}: {exc.strerror}") from None
            removed.append(b)
    return removed

