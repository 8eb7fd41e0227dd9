"""The CA backups on this machine (step 1.1's, one per full run, each holding a CA key):
listed with what they hold, and pruned to the newest few per lab. The backup an unfinished
run would resume or roll back from is never removed."""

from __future__ import annotations

import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BadInput, RegenLabError
from ..ops import pki
from .runner import ProcedureStateError, RunState, state_path
from .steps import BACKUP_REQUIRED

FILE_RE = re.compile(r"(?P<lab>[a-z0-9][a-z0-9_.-]*)-(?P<run>\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z)\.tar\.gz")


@dataclass(frozen=True)
class BackupFile:
    lab: str
    run: str  # the run's start, as in the file's name
    path: Path
    size: int
    age: float  # seconds since it was written
    ca_fingerprint: str  # of the CA it holds ("unreadable": not a whole backup)
    in_use: bool  # an unfinished run of that lab would resume or roll back from it

    def row(self) -> tuple[str, ...]:
        fp = self.ca_fingerprint if self.ca_fingerprint == "unreadable" else self.ca_fingerprint[:23] + "..."
        return (self.lab, self.run, _age(self.age), f"{self.size / 1024:.0f} KiB", fp,
                "yes (unfinished run)" if self.in_use else "")


HEADERS = ("lab", "run", "age", "size", "CA fingerprint", "in use")


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f} {unit}"
    return f"{seconds:.0f} s"


def _fingerprint(path: Path) -> str:
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            member = tar.extractfile(BACKUP_REQUIRED[0])
            return pki.ca_fingerprint(member.read()) if member else "unreadable"
    except (OSError, tarfile.TarError, EOFError, KeyError, BadInput):
        return "unreadable"


def _in_use(state_root: Path, lab: str) -> str:
    """The backup path an unfinished run of ``lab`` points at ("" if none)."""
    path = state_path(state_root, lab)
    if not path.exists():
        return ""
    try:
        state = RunState.load(path)
    except ProcedureStateError:
        return "?"  # a state file that cannot be read: none of that lab's backups is removed
    return "" if state.finished else state.facts.backup.path


def find(state_root: Path, lab: str | None = None) -> list[BackupFile]:
    """Every backup in the state folder (of one lab if given), oldest first."""
    folder = state_root / "backups"
    out = []
    now = time.time()
    for path in sorted(folder.glob("*.tar.gz")) if folder.is_dir() else []:
        m = FILE_RE.fullmatch(path.name)
        if not m or (lab and m["lab"] != lab):
            continue
        used = _in_use(state_root, m["lab"])
        st = path.stat()
        out.append(BackupFile(m["lab"], m["run"], path, st.st_size, now - st.st_mtime, _fingerprint(path),
                              used == "?" or used == str(path)))
    return sorted(out, key=lambda b: (b.lab, b.run))


def prune(state_root: Path, keep: int, lab: str | None = None) -> list[BackupFile]:
    """Remove all but the ``keep`` newest backups of each lab; one in use is always kept.
    Returns those removed."""
    if keep < 0:
        raise BadInput(f"--keep must be 0 or more, not {keep}")
    removed = []
    by_lab: dict[str, list[BackupFile]] = {}
    for b in find(state_root, lab):
        by_lab.setdefault(b.lab, []).append(b)
    for backups in by_lab.values():
        old = backups[: max(0, len(backups) - keep)]
        for b in old:
            if b.in_use:
                continue
            try:
                b.path.unlink()
            except OSError as exc:
                raise RegenLabError(f"cannot remove {b.path}: {exc.strerror}") from None
            removed.append(b)
    return removed

