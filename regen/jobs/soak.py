"""The kill-anywhere soak: on one lab, the procedure is started as an operator starts it
(``invoke regen.run`` in its own process), killed with SIGKILL at a random instant (seeded,
printed), then resumed or rolled back, alternately (a rollback refused because hosts past
the master have moved is followed by a resume, as the refusal says). After each trial: the
proof passed, and every backup of the lab is whole and verifies. Nothing lost, or it says
where."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.config import ROOT, state_dir
from ..core.console import table
from ..core.errors import RegenLabError
from ..core.progress import Progress
from ..lab import engine
from ..lab.lab import Lab, LabSpec, lab_names, remove, site_of, up
from ..procedure import backups, hostbackup
from ..procedure.rollback import restorable
from ..procedure.runner import ProcedureStateError, RunState, state_path
from ..procedure.steps import verify_backup
from .rehearsal import prove, regenerate, roll_back


@dataclass(frozen=True)
class Trial:
    n: int
    kill_at: float  # seconds after the run's start
    killed_in: str  # the steps running when it was killed; "(ended before)" if it had ended
    action: str  # resume | rollback | proof again | a new run | none (it had ended)
    seconds: float  # the whole trial: the killed run and its resume or rollback
    passed: bool
    backups: str  # "N/N whole" or what is wrong
    detail: str = ""

    def row(self) -> tuple[str, ...]:
        return (str(self.n), f"{self.kill_at:.1f}s", self.killed_in, self.action, f"{self.seconds:.0f}s",
                "PASS" if self.passed else "FAIL", self.backups, self.detail[:80])


HEADERS = ("trial", "kill at", "killed in", "then", "time", "proof", "backups", "detail")


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
    parts = {p.name: p for p in hostbackup.parts(site_of(lab))}
    bad = []
    for b in found:
        try:
            data = b.path.read_bytes()
            if b.kind == "master":
                verify_backup(data, lab.server.certname)
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


def _killed_run(lab: Lab, kill_at: float, log: Path) -> int | None:
    """``invoke regen.run`` in its own process group, SIGKILLed after ``kill_at`` seconds
    (with every ``docker exec`` it had started). Returns its exit code if it ended before."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "regen.run", "--name", lab.name], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=kill_at)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None


def trial(lab: Lab, n: int, kill_at: float, rollback_first: bool, progress: Progress) -> Trial:
    root = state_dir()
    t0 = time.monotonic()
    log = root / "soak" / f"{lab.name}-trial-{n}.log"
    log.parent.mkdir(mode=0o700, exist_ok=True)
    path = state_path(root, lab.name)
    previous = RunState.load(path).started if path.exists() else None
    with progress.step(f"trial {n}: regen.run, killed after {kill_at:.1f}s"):
        ended = _killed_run(lab, kill_at, log)
    state = RunState.load(path) if path.exists() else None
    if state is not None and state.started == previous:  # the state is the last trial's: this run wrote none
        state = None
    if ended is not None:
        ok, held = check_backups(root, lab)
        return Trial(n, kill_at, "(ended before)", "none", time.monotonic() - t0, ended == 0 and ok, held,
                     f"the run ended by itself, exit {ended}; its output: {log}")
    during = running_at_kill(state)
    action, note = "resume", ""
    if state is not None and not state.finished and rollback_first:
        try:
            restorable(state)
            action = "rollback"
        except ProcedureStateError:
            note = "rollback refused (a step past step 1 had started), resumed"
    if state is not None and state.finished:  # killed in the proof, after the procedure's last step
        action, during = "proof again", "the proof"
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
            report = regenerate(lab, progress, resume=True)
    ok, held = check_backups(root, lab)
    failed = f"failed step {report.failed_step}" if report.failed_step else ""
    return Trial(n, kill_at, during, action, time.monotonic() - t0, report.passed and ok, held,
                 "; ".join(filter(None, [note, failed])))


def soak(lab: Lab, trials: int, seed: int, horizon: float = 60.0, progress: Progress | None = None) -> list[Trial]:
    """``trials`` kills at seeded random instants in [0, horizon) on a lab that is up (its
    run state starts anew); stops at the first trial that loses something."""
    progress = progress or Progress()
    rng = random.Random(seed)
    state_path(state_dir(), lab.name).unlink(missing_ok=True)
    done: list[Trial] = []
    for n in range(1, trials + 1):
        done.append(trial(lab, n, round(rng.uniform(0, horizon), 1), rollback_first=n % 2 == 0, progress=progress))
        progress.show(table([done[-1].row()], HEADERS))
        if not done[-1].passed:
            break
    return done


def kill_soak(trials: int, seed: int | None = None, agents: int = 1, horizon: float = 60.0, name: str = "soak",
              keep: bool = False, progress: Progress | None = None) -> list[Trial]:
    """The soak on a lab of its own (removed at the end unless a trial failed or ``keep``)."""
    progress = progress or Progress()
    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    progress.show(f"soak: {trials} trials, seed {seed} (replay: --seed {seed}), kills in [0, {horizon:.0f}) s, "
                  f"{agents} agent(s), lab {name}")
    client = engine.ensure(progress)
    if name in lab_names(client):
        raise RegenLabError(f"lab {name!r} is already up: the soak makes its own (remove it, or give --name)")
    lab = up(client, LabSpec(name=name, agents=agents), progress)
    done: list[Trial] = []
    try:
        done = soak(lab, trials, seed, horizon, progress)
    finally:
        progress.show("\n" + table([t.row() for t in done], HEADERS))
        by_step: dict[str, int] = {}
        for t in done:
            by_step[t.killed_in] = by_step.get(t.killed_in, 0) + 1
        progress.show("killed in: " + ", ".join(f"{k} x{v}" for k, v in sorted(by_step.items())))
        progress.show(f"soak: {sum(t.passed for t in done)}/{trials} trials passed, seed {seed}, "
                      f"{sum(t.seconds for t in done) / max(1, len(done)):.0f} s per trial")
        if keep or len(done) < trials or not all(t.passed for t in done):
            progress.say(f"lab {name} kept for inspection")
        else:
            remove(client, name)
    return done
