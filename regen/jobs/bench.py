"""Benchmarks that print figures (never timed tests): image builds, lab up, memory."""

from __future__ import annotations

import io
import time

import docker

from ..core.config import state_dir
from ..core.console import table
from ..core.progress import Progress
from ..lab import engine, images
from ..lab.lab import LabSpec, lab_names, remove, up
from ..ops import mcollective
from ..procedure import steps as procedure
from .rehearsal import regenerate

MIB = 1024 * 1024


def memory_mib(client: docker.DockerClient, container: str) -> float:
    """A container's memory as `docker stats` counts it (usage less inactive page cache)."""
    stats = client.api.stats(container, stream=False)
    mem = stats.get("memory_stats", {})
    inner = mem.get("stats", {})
    cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    return (mem.get("usage", 0) - cache) / MIB


def run(cold: bool, sizes: list[int], progress: Progress | None = None, regen: bool = True) -> None:
    progress = progress or Progress()
    client = engine.ensure(progress)
    if cold:
        removed = images.remove_images(client)
        progress.say(f"cold build: removed {len(removed)} Regen Lab images")
        t0 = time.monotonic()
        root_start = time.monotonic()
        images.debian_root(client, "bookworm", progress)
        root_s = time.monotonic() - root_start
    else:
        t0 = time.monotonic()
        root_s = 0.0
    built = images.ensure_images(client, "bookworm", progress)
    total = time.monotonic() - t0
    rows = [("debian root", "-", "built" if cold else "cached", f"{root_s:.1f}", "-")]
    for b in built.values():
        size = client.images.get(b.tag).attrs["Size"] / MIB
        rows.append((b.name, b.tag, "built" if b.built else "cached", f"{b.seconds:.1f}", f"{size:.0f}"))
    progress.show("\n== image build" + (" (cold, from nothing)" if cold else " (warm)"))
    progress.show(table(rows, ["image", "tag", "", "seconds", "MB"]))
    progress.show(f"all images: {total:.1f}s")

    for n in sizes:
        name = f"bench-{n}"
        if name in lab_names(client):
            remove(client, name)
        t0 = time.monotonic()
        try:
            lab = up(client, LabSpec(name=name, agents=n), progress)
            ready = time.monotonic() - t0
            time.sleep(5)  # let the first runs' page cache and JVM allocation settle
            mem = [(node.name, node.role, f"{memory_mib(client, node.container):.0f}") for node in lab.nodes]
            total_mib = sum(float(m[2]) for m in mem)
            progress.show(f"\n== lab up with {n} agents (warm images): all ready in {ready:.1f}s")
            progress.show(table(mem, ["node", "role", "MiB"]))
            progress.show(f"whole lab: {total_mib:.0f} MiB")
            if lab.broker:
                for _ in range(3):
                    t1 = time.monotonic()
                    ping = mcollective.ping(lab.server.executor)
                    top = max(ping.replies.values(), default=0.0)
                    progress.show(f"mco ping: {len(ping.replies)}/{n} replies, slowest {top:.0f} ms, "
                          f"{time.monotonic() - t1:.1f}s wall (mco ping -t {mcollective.PING_WAIT})")
            if regen:
                procedure.state_path(state_dir(), name).unlink(missing_ok=True)
                t1 = time.monotonic()
                result = regenerate(lab, Progress(stream=io.StringIO()))  # its steps' lines dropped, its report shown
                progress.show(f"\n== full regeneration of the {n}-agent lab: {time.monotonic() - t1:.1f}s, "
                      f"downtime {result.downtime_seconds}s, proof {'passed' if result.passed else 'FAILED'}")
        finally:
            remove(client, name)
