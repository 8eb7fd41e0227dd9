"""CPU-seconds of a lab's processes by kind (a JVM's start, `puppet ssl bootstrap`, facter,
`puppetserver ca`, ...), for the benchmarks: while a job runs, a thread reads every process of
the lab's containers from the host's /proc (utime + stime, the command line, the cgroup naming
the container) every ``interval`` seconds; a process's CPU is the last reading of it.

BSD process accounting (`acct`) would see every process, but the kernel writes a container's
processes to its own PID namespace's accounting file, which none has: sampling is what sees
into the containers. A process that lives less than one interval (a `cat`, a `test`) is not
counted; the cgroups' totals (``metrics.lab_cpu``) hold everything, and the profile says how
much of them it explains."""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")

# (kind, pattern on the command line): the first that matches names the process
KINDS: list[tuple[str, str]] = [
    ("JVM: Puppet Server", r"java .*puppetserver"),
    ("JVM: PuppetDB", r"java .*puppetdb"),
    ("JVM: ActiveMQ", r"java .*activemq"),
    ("JVM: keytool", r"(java .*keytool|^keytool)"),
    ("JVM: other", r"^(/usr/bin/)?java "),
    # anchored: their arguments name puppet's paths
    ("PostgreSQL", r"^postgres"),
    ("openssl", r"^(/usr/bin/)?openssl"),
    ("curl", r"^(/usr/bin/)?curl"),
    ("Ruby: puppet ssl (key, CSR, cert)", r"puppet ssl "),
    ("Ruby: puppet agent run (-t / --onetime)", r"puppet agent .*(-t|--test|--onetime)"),
    ("Ruby: puppet agent daemon", r"puppet agent"),
    ("Ruby: puppetserver ca (key, CSR, signing)", r"(puppetserver[ -]ca\b|puppetserver/cli/apps/ca )"),
    ("Ruby: facter", r"facter"),
    ("Ruby: mcollectived", r"mcollectived"),
    ("Ruby: mco client", r"\bmco "),
    ("Ruby: puppet (other)", r"^(/usr/bin/)?ruby .*puppet"),
    ("shell, tar and tools", r"."),
]
_COMPILED = [(kind, re.compile(pattern)) for kind, pattern in KINDS]


_WRAPPER = re.compile(r"^(\S*/)?timeout( -k \S+)? \S+ ")  # the harness's `timeout -k 5 N cmd`


def kind_of(cmdline: str) -> str:
    cmdline = _WRAPPER.sub("", cmdline)
    for kind, pattern in _COMPILED:
        if pattern.search(cmdline):
            return kind
    return "shell, tar and tools"


def _container_of(pid: str, ids: dict[str, str]) -> str | None:
    try:
        text = (PROC / pid / "cgroup").read_text()
    except OSError:
        return None
    for cid, name in ids.items():
        if cid in text:
            return name
    return None


def _cpu(pid: str) -> float | None:
    try:
        stat = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def _kind(pid: str) -> str | None:
    try:
        cmdline = (PROC / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    return kind_of(cmdline) if cmdline else None


@dataclass
class Profile:
    """Per (container, kind): the CPU-seconds seen, and how many processes."""

    cpu: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    count: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def by_kind(self) -> list[tuple[str, float, int]]:
        cpu: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for (_, kind), s in self.cpu.items():
            cpu[kind] += s
            count[kind] += self.count[(_, kind)]
        return sorted(((k, cpu[k], count[k]) for k in cpu), key=lambda r: -r[1])

    def total(self) -> float:
        return sum(self.cpu.values())


class Sampler:
    """``with Sampler(containers) as s: ...`` then ``s.profile``. ``containers`` maps a
    container's id to its name. A process counts from when it is first seen (what it used
    before the sampler started is subtracted)."""

    def __init__(self, containers: dict[str, str], interval: float = 0.2) -> None:
        self.ids, self.interval = containers, interval
        self.profile = Profile()
        self._seen: dict[str, tuple[str, str, float, float]] = {}  # pid: (container, kind, first, last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        for container, kind, first, last in self._seen.values():
            self.profile.cpu[(container, kind)] += last - first
            self.profile.count[(container, kind)] += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        for pid in (p for p in os.listdir(PROC) if p.isdigit()):
            cpu = _cpu(pid)
            if cpu is None:
                continue
            known = self._seen.get(pid)
            if known is not None:
                if cpu != known[3]:  # busy: it may have exec'd (`sh -c` into ruby), so named again
                    self._seen[pid] = (known[0], _kind(pid) or known[1], known[2], cpu)
                continue
            container = _container_of(pid, self.ids)
            kind = _kind(pid) if container else None
            if kind is None:
                continue
            # a process born after the first sample counts from zero (its whole life is this job's)
            self._seen[pid] = (container, kind, cpu if first else 0.0, cpu)
        # a pid seen once may be reused later by another process: rare in a few minutes, ignored
