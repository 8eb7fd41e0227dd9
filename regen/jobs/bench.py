"""Benchmarks that print figures (never timed tests): image builds, lab up, memory, and
the regeneration at several lab sizes beside the seed's literal sequence."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

from ..core.config import state_dir
from ..core.console import clip, table
from ..core.progress import Progress
from ..lab import engine, images
from ..lab.lab import Lab, lab_names, remove, site_of
from ..lab.metrics import MIB, lab_cpu, lab_memory, memory_mib
from ..lab.profile import Sampler
from ..lab.provision import up
from ..lab.spec import LabSpec
from ..ops import mcollective
from ..procedure import proven, seed
from ..procedure.runner import state_path
from ..procedure.steps.options import RunOptions
from .rehearsal import regenerate


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
                state_path(state_dir(), name).unlink(missing_ok=True)
                t1 = time.monotonic()
                result = regenerate(lab, Progress(stream=io.StringIO()))  # its steps' lines dropped, its report shown
                progress.show(f"\n== full regeneration of the {n}-agent lab: {time.monotonic() - t1:.1f}s, "
                      f"downtime {result.downtime_seconds}s, proof {'passed' if result.passed else 'FAILED'}")
        finally:
            remove(client, name)


# --- bench.regen: the regeneration at several sizes, beside the seed's literal sequence -------------

@dataclass
class Measured:
    """One regeneration of one lab: what the benchmark prints."""

    agents: int
    order: str  # "graph" (this procedure) or "seed" (the seed's literal sequence)
    lab_up: float
    wall: float
    downtime: float | None
    cpu: float  # CPU-seconds of every container of the lab during the regeneration
    passed: bool
    steps: dict[str, float] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    memory: dict[str, list[float]] = field(default_factory=dict)  # role -> each node's MiB, before the run
    kinds: list[tuple[str, float, int]] = field(default_factory=list)  # process kind, CPU s, processes
    keys: str = "default"  # the agents' keys (AgentKeys: "default", "rsa:2048", "ec")
    keylength: int = 0  # every host's RSA keys (the lab's keylength); 0: Puppet's 4096

    @property
    def keys_label(self) -> str:
        hosts = f"hosts rsa:{self.keylength}" if self.keylength else ""
        agents = "" if self.keys == "default" else f"agents {self.keys}"
        return ", ".join(p for p in (hosts, agents) if p) or "default"

    @property
    def label(self) -> str:
        return f"{self.agents} agents" + ("" if self.keys_label == "default" else f", {self.keys_label}")


def _regenerate(client, lab: Lab, order: str, n: int, lab_up: float, progress: Progress, spec: LabSpec) -> Measured:
    containers = [node.container for node in lab.nodes]
    memory: dict[str, list[float]] = {}
    for node, mib in zip(lab.nodes, lab_memory(client, containers).values(), strict=True):
        memory.setdefault(node.role, []).append(mib)
    state_path(state_dir(), lab.name).unlink(missing_ok=True)
    quiet = Progress(stream=progress.stream, out=io.StringIO())  # its steps' lines shown, its report not
    ids = {client.api.inspect_container(c)["Id"]: c for c in containers}
    before, t0 = lab_cpu(client, containers), time.monotonic()
    options = RunOptions(steps=seed.steps(lab.broker is not None)) if order == "seed" else None
    with Sampler(ids) as sampler:
        result = proven.regenerate(site_of(lab), state_dir(), quiet, options)
    wall = time.monotonic() - t0
    after = lab_cpu(client, containers)
    return Measured(n, order, lab_up, wall, result.downtime_seconds, sum(after[c] - before[c] for c in containers),
                    result.passed, {s.id: s.seconds for s in result.steps if s.result == "done"},
                    {s.id: s.title for s in result.steps}, memory, sampler.profile.by_kind(), str(spec.agent_keys),
                    spec.keylength)


def regen(sizes: list[int], seed_at: int | None, progress: Progress | None = None,
          agent_keys: tuple[str, ...] = ("",), keylengths: tuple[int, ...] = (0,)) -> list[Measured]:
    """For each lab keylength (every host's RSA keys; 0: Puppet's), each of the agents' keys
    (``AgentKeys.parse``), each size: a lab up (timed), its
    memory per role, the full regeneration with its proof (each step, the downtime, the lab's
    CPU-seconds); at ``seed_at`` agents (Puppet's default keys) the seed's literal sequence
    then runs on the same lab, now as it was (same shape, same services). Prints the figures
    as they come and the tables at the end; every lab is removed."""
    progress = progress or Progress()
    client = engine.ensure(progress)
    images.ensure_images(client, "bookworm", progress)
    runs: list[Measured] = []
    for bits, keys_text, n in ((b, k, n) for b in keylengths for k in agent_keys for n in sizes):
        name = f"bench-{n}"
        if name in lab_names(client):
            remove(client, name)
        try:
            t0 = time.monotonic()
            spec = LabSpec.parse(name, n, agent_keys=keys_text)
            spec = spec.with_keylength(bits) if bits else spec
            lab = up(client, spec, progress)
            lab_up = time.monotonic() - t0
            time.sleep(5)  # the first runs' page cache and JVM allocations settle
            plain = str(spec.agent_keys) == "default" and not bits
            for order in ("graph", "seed") if n == seed_at and plain else ("graph",):
                m = _regenerate(client, lab, order, n, lab_up, progress, spec)
                runs.append(m)
                progress.show(f"{m.label}, {order}: lab up {lab_up:.1f}s, regeneration {m.wall:.1f}s, downtime "
                              f"{m.downtime}s, lab CPU {m.cpu:.0f} s, proof {'passed' if m.passed else 'FAILED'}")
        finally:
            remove(client, name)
    progress.show(tables(runs))
    return runs


def tables(runs: list[Measured]) -> str:
    ours = [m for m in runs if m.order == "graph"]
    out = ["", "== full regeneration, by lab size (this machine; CPU: every container of the lab)"]
    rows = []
    for i, m in enumerate(ours):
        prev = ours[i - 1] if i else None
        grows = prev is not None and m.agents != prev.agents and m.keys_label == prev.keys_label  # within one kind
        slope = (f"{(m.downtime - prev.downtime) / (m.agents - prev.agents):.2f}"
                 if grows and m.downtime is not None and prev.downtime is not None else "-")
        cpu_slope = f"{(m.cpu - prev.cpu) / (m.agents - prev.agents):.1f}" if grows else "-"
        mem = sum(sum(v) for v in m.memory.values())
        rows.append((m.agents, m.keys_label, f"{m.lab_up:.1f}", f"{m.wall:.1f}", f"{m.downtime}", slope, f"{m.cpu:.0f}",
                     f"{m.cpu / m.agents:.1f}", cpu_slope, f"{mem / 1024:.2f}", "passed" if m.passed else "FAILED"))
    out.append(table(rows, ["agents", "keys", "lab up s", "run+proof s", "downtime s", "marginal agent s",
                            "CPU s", "CPU s/agent", "marginal agent CPU s", "memory GiB", "proof"]))
    out += ["", "== CPU-seconds by process kind during the regeneration (sampled from /proc every 0.2 s; "
            "facter and key generation run inside the Ruby process that asks for them)"]
    kinds = list(dict.fromkeys(k for m in ours for k, _, _ in m.kinds))
    seen = [{k: (s, c) for k, s, c in m.kinds} for m in ours]
    out.append(table([(k, *(f"{d[k][0]:.1f} ({d[k][1]})" if k in d else "-" for d in seen)) for k in kinds] +
                     [("sampled / cgroups' total", *(f"{sum(s for s, _ in d.values()):.0f} / {m.cpu:.0f}"
                                                     for d, m in zip(seen, ours, strict=True)))],
                     ["kind (CPU s, processes)", *(m.label for m in ours)]))
    ids = list(dict.fromkeys(i for m in ours for i in m.steps))
    titles = {i: t for m in ours for i, t in m.titles.items()}
    out += ["", "== each step's time (s), by lab size; steps after 1.8 run side by side where they can"]
    out.append(table([(i, clip(titles.get(i, ""), 50), *(f"{m.steps[i]:.1f}" if i in m.steps else "-" for m in ours))
                      for i in ids], ["step", "title", *(m.label for m in ours)]))
    roles = list(dict.fromkeys(r for m in ours for r in m.memory))
    out += ["", "== memory per node (MiB, mean of the role's nodes), before the regeneration"]
    out.append(table([(r, *(f"{sum(m.memory[r]) / len(m.memory[r]):.0f}" if r in m.memory else "-" for m in ours))
                      for r in roles], ["role", *(m.label for m in ours)]))
    for literal in (m for m in runs if m.order == "seed"):
        graph = next(m for m in ours if m.agents == literal.agents)
        ratio = f"{literal.downtime / graph.downtime:.1f}x" if literal.downtime and graph.downtime else "-"
        out += ["", f"== the seed's literal sequence beside this procedure, {literal.agents} agents, same lab"]
        out.append(table([("seed (one after another)", f"{literal.wall:.1f}", f"{literal.downtime}",
                           f"{literal.cpu:.0f}", "passed" if literal.passed else "FAILED"),
                          ("this procedure (graph)", f"{graph.wall:.1f}", f"{graph.downtime}", f"{graph.cpu:.0f}",
                           "passed" if graph.passed else "FAILED")],
                         ["order", "run+proof s", "downtime s", "CPU s", "proof"]))
        out.append(f"downtime ratio seed / this procedure: {ratio}")
    return "\n".join(out)
