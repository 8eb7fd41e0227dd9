"""The kill-anywhere soak: on one lab, the procedure is started as an operator starts it
(``invoke regen.run`` in its own process) and, at a random instant (seeded, printed), either
killed with SIGKILL, or one node's container restarted (the run goes on), or the Docker
engine restarted (the lab's containers come back by their restart policy); then the run is
resumed or rolled back, alternately (a rollback refused because agents were touched is
followed by a resume, as the refusal says). After each trial: the proof passed, and every
backup of the lab is whole and verifies. Nothing lost, or it says where."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docker.errors import DockerException

from ..core.config import ROOT, state_dir
from ..core.console import clip, table
from ..core.errors import RegenLabError
from ..core.progress import Progress
from ..lab import engine
from ..lab.lab import Lab, lab_names, remove, site_of
from ..lab.provision import up
from ..lab.spec import LabSpec
from ..procedure import backups, hostbackup
from ..procedure.rollback import restorable
from ..procedure.runner import ProcedureStateError, RunState, state_path
from ..procedure.steps.options import RunOptions
from .rehearsal import prove, regenerate, roll_back

DISTURBANCES = ("kill", "node", "engine")
NODE_RESTART_TIMEOUT = 10  # s: `docker restart -t`, as a host's shutdown gives its services
RUN_TIMEOUT = 1200  # s: a disturbed run left to go on is given this long to end by itself
BOOT_TIMEOUT = 300  # s: for a restarted node to say "regenlab-node: ready"


@dataclass(frozen=True)
class Trial:
    n: int
    kill_at: float  # seconds after the run's start (the instant of the disturbance)
    killed_in: str  # the steps running when it was killed; "(ended before)" if it had ended
    action: str  # resume | rollback | proof again | a new run | none (it had ended)
    seconds: float  # the whole trial: the killed run and its resume or rollback
    passed: bool
    backups: str  # "N/N whole" or what is wrong
    detail: str = ""
    what: str = "kill"  # kill | node NAME restarted | engine restarted

    def row(self) -> tuple[str, ...]:
        return (str(self.n), self.what, f"{self.kill_at:.1f}s", self.killed_in, self.action, f"{self.seconds:.0f}s",
                "PASS" if self.passed else "FAIL", self.backups, clip(self.detail, 80))


HEADERS = ("trial", "what", "at", "during", "then", "time", "proof", "backups", "detail")


def running_at_kill(state: RunState | None) -> str:
    """The steps that had started (their needs done) but were not recorded when killed."""
    if state is None:
        return "before step 0"
    done = state.done
    running = [i for i in state.begun if i not in done]  # begun (saved before it ran), not recorded
    return ", ".join(running) or "between steps"


def check_backups(state_root: Path, lab: Lab) -> tuple[bool, str]:
    """Every backup of the lab is whole and verifies: the master's (CA key and master key
    match their certs), the other hosts' (every part there, each key matching); the current
    run's have the sha256 its state recorded."""
    found = backups.find(state_root, lab.name)
    site = site_of(lab)
    parts = {p.name: p for p in hostbackup.parts(site)}
    bad = []
    for b in found:
        try:
            data = b.path.read_bytes()
            if b.kind == "master":
                hostbackup.verify_part(hostbackup.master_part(site.ca), data)
            else:
                held = hostbackup.members(data)
                if set(held) != set(parts):
                    raise RegenLabError(f"holds {', '.join(sorted(held))}, not {', '.join(sorted(parts))}")
                for name, tarball in held.items():
                    hostbackup.verify_part(parts[name], tarball)
        except (RegenLabError, OSError) as exc:
            bad.append(f"{b.path.name}: {exc}")
    path = state_path(state_root, lab.name)
    if path.exists():
        recorded = RunState.load(path).facts.backup
        for kept, digest in ((recorded.path, recorded.sha256), (recorded.hosts_path, recorded.hosts_sha256)):
            if kept and not hostbackup.whole(Path(kept), digest):
                bad.append(f"{kept}: sha256 is not the one recorded")
    return not bad, f"{len(found) - len(bad)}/{len(found)} whole" + ("; " + "; ".join(bad) if bad else "")


def _disturbed_run(lab: Lab, at: float, log: Path, disturb: Callable[[], object] | None) -> tuple[int | None, bool]:
    """``invoke regen.run`` in its own process group; after ``at`` seconds either SIGKILLed
    (with every ``docker exec`` it had started; ``disturb`` None) or ``disturb`` called and the
    run left to end by itself. Returns its exit code (None: killed) and whether the
    disturbance happened (not if the run had ended before)."""
    with log.open("w") as out:
        # the front's own module, so that an installed Regen Lab soaks itself too; the same state folder
        proc = subprocess.Popen([sys.executable, "-m", "regen.front.cli", "regen.run", "--name", lab.name], cwd=ROOT,
                                env={**os.environ, "REGENLAB_STATE": str(state_dir())}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=at), False
        except subprocess.TimeoutExpired:
            pass
        if disturb is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, True
        try:
            disturb()
            return proc.wait(timeout=RUN_TIMEOUT), True
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def _booted(client, containers: list[str], since: float) -> None:
    """Wait until each container runs again and its boot ended ("regenlab-node: ready")."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    for name in containers:
        while True:
            try:
                c = client.containers.get(name)
                if c.status == "running" and b"regenlab-node: ready" in c.logs(since=int(since)):
                    break
            except DockerException:
                pass
            if time.monotonic() > deadline:
                raise RegenLabError(f"{name} did not come back within {BOOT_TIMEOUT}s of its restart")
            time.sleep(1)


def restart_node(lab: Lab, node: str) -> None:
    """``docker restart`` of one node (its services stopped as on a host's shutdown), then
    its boot awaited (its enabled services started again)."""
    client = engine.connect()
    since = time.time() - 1
    client.containers.get(lab.node(node).container).restart(timeout=NODE_RESTART_TIMEOUT)
    _booted(client, [lab.node(node).container], since)


def restart_engine(lab: Lab, progress: Progress) -> None:
    """The Docker engine stopped (SIGTERM: it stops every container) and started again; the
    lab's containers come back by their restart policy and boot."""
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    if len(pids) != 1:
        raise RegenLabError(f"expected one dockerd to restart, found {len(pids)}")
    since = time.time() - 1
    pid = int(pids[0])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while not _ended(pid):
        if time.monotonic() > deadline:
            raise RegenLabError("dockerd did not stop within 120 s of SIGTERM")
        time.sleep(0.5)
    client = engine.ensure(progress)
    _booted(client, [n.container for n in lab.nodes], since)


def _ended(pid: int) -> bool:
    """The process has exited: gone, or a zombie (a dockerd this soak started is its child,
    reaped here; seed 174971's trial 20 waited 120 s on one)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def may_restart_engine() -> bool:
    """Only a dockerd this machine runs by itself (none under systemd), as root."""
    if os.geteuid() != 0:
        return False
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    return len(pids) == 1 and subprocess.run(["systemctl", "is-active", "--quiet", "docker"],
                                             capture_output=True).returncode != 0


def trial(lab: Lab, n: int, kill_at: float, rollback_first: bool, progress: Progress, what: str = "kill",
          node: str = "") -> Trial:
    """One trial: the run disturbed (``what``: kill, node, engine) at ``kill_at``, then resumed
    or rolled back (or proven again, or run anew), and checked."""
    root = state_dir()
    t0 = time.monotonic()
    log = root / "soak" / f"{lab.name}-trial-{n}.log"
    log.parent.mkdir(mode=0o700, exist_ok=True)
    path = state_path(root, lab.name)
    previous = RunState.load(path).started if path.exists() else None
    seen: dict[str, str] = {}

    def disturb() -> None:  # the steps running at that instant, then the restart
        seen["during"] = running_at_kill(_state_of(path, previous))
        if what == "node":
            restart_node(lab, node)
        else:
            restart_engine(lab, progress)

    label = {"kill": "kill", "node": f"node {node} restarted", "engine": "engine restarted"}[what]
    with progress.step(f"trial {n}: regen.run, {label} after {kill_at:.1f}s"):
        ended, happened = _disturbed_run(lab, kill_at, log, None if what == "kill" else disturb)
    state = _state_of(path, previous)
    if not happened:
        ok, held = check_backups(root, lab)
        return Trial(n, kill_at, "(ended before)", "none", time.monotonic() - t0, ended == 0 and ok, held,
                     f"the run ended by itself, exit {ended}; its output: {log}", label)
    during = seen.get("during") or running_at_kill(state)
    if ended == 0:  # a restart the run went through: its own proof passed
        ok, held = check_backups(root, lab)
        return Trial(n, kill_at, during, "none (run passed)", time.monotonic() - t0, ok, held, "", label)
    action, note = "resume", ""
    if state is not None and not state.finished and rollback_first:
        try:
            restorable(state)
            action = "rollback"
        except ProcedureStateError as exc:  # its reason, as the operator reads it
            note = f"rollback refused ({str(exc).split(':')[0]}), resumed"
    if state is not None and state.finished:  # disturbed in the proof, after the procedure's last step
        action, during = "proof again", "the proof" if what == "kill" else during
    elif state is None:  # killed before its state file was written: nothing had changed
        action = "a new run"
    with progress.step(f"trial {n}: {action} after a kill in {during}"):
        if state is None:
            report = regenerate(lab, progress)
        elif state.finished:
            report = prove(lab, progress)
        elif action == "rollback":
            report = roll_back(lab, progress)
        else:
            report = regenerate(lab, progress, RunOptions(resume=True))
    ok, held = check_backups(root, lab)
    failed = f"failed step {report.failed_step}" if report.failed_step else ""
    ran = f"the disturbed run exited {ended}" if ended is not None else ""
    return Trial(n, kill_at, during, action, time.monotonic() - t0, report.passed and ok, held,
                 "; ".join(filter(None, [ran, note, failed])), label)


def _state_of(path: Path, previous: str | None) -> RunState | None:
    """This trial's run state (None: it wrote none yet; the file is the last trial's)."""
    try:
        state = RunState.load(path) if path.exists() else None
    except ProcedureStateError:  # read while being replaced: taken as not yet written
        return None
    return None if state is None or state.started == previous else state


def plan(n: int, disturbances: tuple[str, ...]) -> str:
    """What trial ``n`` does: every 10th restarts the engine, every 5th (from the 3rd) a node,
    the others kill, as far as ``disturbances`` allow (else a kill)."""
    if n % 10 == 0 and "engine" in disturbances:
        return "engine"
    if n % 5 == 3 and "node" in disturbances:
        return "node"
    return "kill"


def soak(lab: Lab, trials: int, seed: int, horizon: float = 60.0, progress: Progress | None = None,
         disturbances: tuple[str, ...] = ("kill",), first: int = 1, done: list[Trial] | None = None) -> list[Trial]:
    """``trials`` disturbances at seeded random instants in [0, horizon) on a lab that is up
    (its run state starts anew); stops at the first trial that loses something. ``first``:
    the trials before it are drawn but not run (a replay from there); ``done`` collects
    the trials as they end (what a soak that stops on an error has done)."""
    progress = progress or Progress()
    rng = random.Random(seed)
    nodes = [n.name for n in lab.nodes]
    state_path(state_dir(), lab.name).unlink(missing_ok=True)
    done = [] if done is None else done
    for n in range(1, trials + 1):
        at, node = round(rng.uniform(0, horizon), 1), rng.choice(nodes)  # both drawn: a replay is the same
        if n < first:
            continue
        what = plan(n, disturbances)
        done.append(trial(lab, n, at, rollback_first=n % 2 == 0, progress=progress, what=what,
                          node=node if what == "node" else ""))
        progress.show(table([done[-1].row()], HEADERS))
        if not done[-1].passed:
            break
    return done


def kill_soak(trials: int, seed: int | None = None, agents: int = 1, horizon: float = 60.0, name: str = "soak",
              keep: bool = False, progress: Progress | None = None,
              disturbances: tuple[str, ...] = DISTURBANCES, first: int = 1) -> list[Trial]:
    """The soak on a lab of its own (removed at the end unless a trial failed or ``keep``).
    The engine is restarted only where this machine runs dockerd by itself."""
    progress = progress or Progress()
    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    client = engine.ensure(progress)
    if "engine" in disturbances and not may_restart_engine():
        progress.say("the Docker engine is not this machine's own dockerd (or not root): no engine restarts")
        disturbances = tuple(d for d in disturbances if d != "engine")
    progress.show(f"soak: {trials} trials, seed {seed} (replay: --seed {seed}), {', '.join(disturbances)} in "
                  f"[0, {horizon:.0f}) s, {agents} agent(s), lab {name}")
    if name in lab_names(client):
        raise RegenLabError(f"lab {name!r} is already up: the soak makes its own (remove it, or give --name)")
    lab = up(client, LabSpec(name=name, agents=agents), progress)
    done: list[Trial] = []
    try:
        soak(lab, trials, seed, horizon, progress, disturbances, first, done)
    finally:
        progress.show("\n" + table([t.row() for t in done], HEADERS))
        by_step: dict[str, int] = {}
        for t in done:
            by_step[t.killed_in] = by_step.get(t.killed_in, 0) + 1
        progress.show("disturbed during: " + ", ".join(f"{k} x{v}" for k, v in sorted(by_step.items())))
        by_kind: dict[str, int] = {}
        for t in done:
            by_kind[f"{t.what.split()[0]} then {t.action}"] = by_kind.get(f"{t.what.split()[0]} then {t.action}", 0) + 1
        progress.show("then: " + ", ".join(f"{k} x{v}" for k, v in sorted(by_kind.items())))
        progress.show(f"soak: {sum(t.passed for t in done)}/{trials - first + 1} trials passed, seed {seed}"
                      f"{f' (trials {first} to {trials})' if first > 1 else ''}, "
                      f"{sum(t.seconds for t in done) / max(1, len(done)):.0f} s per trial")
        if keep or len(done) < trials - first + 1 or not all(t.passed for t in done):
            progress.say(f"lab {name} kept for inspection")
        else:
            remove(client, name)
    return done
