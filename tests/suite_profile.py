"""The suite's own profile: each test's wall time and the CPU-seconds that its worker's lab
containers used meanwhile (their cgroups, read by ``metrics.CpuMeter``), one JSON line per
test in ``.regenlab/suite/<run>.jsonl``; at the end the controller prints the slowest tests and
the totals by group and writes the same table to ``<run>.md``. Figures, never a verdict: the
profile cannot fail a test."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from regen.core.config import state_dir


def folder() -> Path:
    return state_dir() / "suite"


@dataclass(frozen=True)
class Row:
    nodeid: str
    seconds: float
    cpu: float | None  # the worker's lab containers' CPU-seconds during the test; None: unmeasured
    worker: str
    outcome: str = ""  # passed, failed or skipped

    @property
    def group(self) -> str:
        return group_of(self.nodeid)


def group_of(nodeid: str) -> str:
    for prefix, group in (("tests/unit/", "unit"), ("tests/lab/", "shared lab"), ("examples/", "user's examples"),
                          ("tests/scenarios/test_soak.py", "soak"), ("tests/scenarios/", "scenarios")):
        if nodeid.startswith(prefix):
            return group
    return "other"


class Recorder:
    """One worker's (or a run without xdist's) half: times each test and appends its row."""

    def __init__(self, path: Path, worker: str, meter=None) -> None:
        self.path, self.worker, self.meter = path, worker, meter
        path.parent.mkdir(parents=True, exist_ok=True)

    def _cpu(self) -> float | None:
        try:
            return self.meter.total() if self.meter is not None else None
        except Exception:  # noqa: BLE001 (the engine went away: this test's CPU is unmeasured)
            return None

    @contextmanager
    def timing(self, nodeid: str, outcome: Callable[[], str] = lambda: "") -> Iterator[None]:
        t0, c0 = time.monotonic(), self._cpu()
        try:
            yield
        finally:
            c1 = self._cpu()
            row = Row(nodeid, round(time.monotonic() - t0, 2),
                      None if c0 is None or c1 is None else round(c1 - c0, 1), self.worker, outcome())
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(asdict(row)) + "\n").encode())  # one short write: lines never interleave
            finally:
                os.close(fd)

    def close(self) -> None:
        if self.meter is not None:
            self.meter.stop()


def load(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary(rows: list[Row], wall: float, top: int = 10) -> str:
    """The slowest tests with their lab CPU, then each group's count, time and CPU (Markdown)."""
    failed = sum(r.outcome == "failed" for r in rows)
    lines = [f"suite: {len(rows)} tests ({failed} failed) in {wall / 60:.1f} min of wall clock; "
             f"the tests' own times add up to {sum(r.seconds for r in rows) / 60:.1f} min on the workers", "",
             f"| the {top} slowest tests | worker | s | lab CPU-s |", "|---|---|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r.seconds)[:top]:
        mark = " (failed)" if r.outcome == "failed" else ""
        lines.append(f"| `{r.nodeid}`{mark} | {r.worker} | {r.seconds:.0f} | {_cpu(r.cpu)} |")
    lines += ["", "| group | tests | s | lab CPU-s |", "|---|---:|---:|---:|"]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    for group, members in sorted(groups.items(), key=lambda kv: -sum(r.seconds for r in kv[1])):
        cpus = [r.cpu for r in members if r.cpu is not None]
        lines.append(f"| {group} | {len(members)} | {sum(r.seconds for r in members):.0f} | "
                     f"{_cpu(sum(cpus) if cpus else None)} |")
    return "\n".join(lines) + "\n"
