"""What a lab's containers cost: CPU-seconds and memory, read from their cgroups (the
kernel's own accounting, as ``docker stats`` reads it), for the benchmarks."""

from __future__ import annotations

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
    cid = client.api.inspect_container(container)["Id"]
    for d in _cgroup_dirs(cid):
        if (d / "cpuacct.usage").exists():
            return int((d / "cpuacct.usage").read_text()) / 1e9
        if (d / "cpu.stat").exists():
            for line in (d / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
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
