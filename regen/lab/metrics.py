"""What a lab's containers cost: CPU-seconds and memory, read from their cgroups (the
kernel's own accounting, as ``docker stats`` reads it), for the benchmarks."""

from __future__ import annotations

import threading
from pathlib import Path

import docker

from ..core.wait import parallel

MIB = 1024 * 1024
CGROUP = Path("/sys/fs/cgroup")


def _cgroup_dirs(container_id: str) -> list[Path]:
    """Where this container's cgroup can be, under cgroup v1 or v2, either cgroup driver."""
    return [CGROUP / "cpuacct" / "docker" / container_id,  # v1, cgroupfs
            CGROUP / "cpu,cpuacct" / "docker" / container_id,
            CGROUP / "docker" / container_id,  # v2, cgroupfs
            CGROUP / "system.slice" / f"docker-{container_id}.scope"]  # v2, systemd


def cpu_seconds(client: docker.DockerClient, container: str) -> float:
    """CPU time the container's processes have used since it started (user + system)."""
    value = _cgroup_cpu(client.api.inspect_container(container)["Id"])
    if value is not None:
        return value
    stats = client.api.stats(container, stream=False)  # no cgroup here (a remote daemon): Docker's own count
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def memory_mib(client: docker.DockerClient, container: str) -> float:
    """A container's memory as ``docker stats`` counts it (usage less inactive page cache)."""
    stats = client.api.stats(container, stream=False)
    mem = stats.get("memory_stats", {})
    inner = mem.get("stats", {})
    cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    return (mem.get("usage", 0) - cache) / MIB


def lab_cpu(client: docker.DockerClient, containers: list[str]) -> dict[str, float]:
    """Each container's CPU-seconds so far (read side by side)."""
    values = parallel(containers, lambda c: cpu_seconds(client, c), limit=16)
    return dict(zip(containers, values, strict=True))


def lab_memory(client: docker.DockerClient, containers: list[str]) -> dict[str, float]:
    values = parallel(containers, lambda c: memory_mib(client, c), limit=16)
    return dict(zip(containers, values, strict=True))


def _cgroup_cpu(container_id: str) -> float | None:
    """A container's CPU-seconds from its cgroup, or None where this host has none of it."""
    for d in _cgroup_dirs(container_id):
        try:
            if (d / "cpuacct.usage").exists():
                return int((d / "cpuacct.usage").read_text()) / 1e9
            if (d / "cpu.stat").exists():
                for line in (d / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        except (OSError, ValueError):  # the container was removed between the check and the read
            return None
    return None


class CpuMeter:
    """CPU-seconds of every container whose name starts with one of ``prefixes``, including
    those made and removed meanwhile (a lab up and down inside one test): a thread reads their
    cgroups every ``interval`` seconds, and a container removed keeps its last reading, so a
    container's last ``interval`` before removal is all that can be missed."""

    def __init__(self, client: docker.DockerClient, prefixes: tuple[str, ...], interval: float = 5.0) -> None:
        self.client, self.prefixes, self.interval = client, prefixes, interval
        self.seen: dict[str, float] = {}  # container id -> its last reading
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)

    def start(self) -> CpuMeter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.total()
            except Exception:  # noqa: BLE001 (an engine that stops answering ends the figures, not the tests)
                return

    def total(self) -> float:
        """Read now; the CPU-seconds of every container seen so far."""
        ids = [c["Id"] for c in self.client.api.containers(all=True)
               if any(n.lstrip("/").startswith(self.prefixes) for n in c.get("Names") or [])]
        with self._lock:
            for cid in ids:
                value = _cgroup_cpu(cid)
                if value is not None:
                    self.seen[cid] = max(value, self.seen.get(cid, 0.0))
            return sum(self.seen.values())
