"""The procedure's runner: Steps with a check that tells whether their effect is already
there and the steps they need, the run's state (persisted after every step, owner-only),
and ``execute``, which runs each step not done yet as soon as the steps it needs are done
(several side by side), times it, records it, and starts nothing more after a failure.
Resume is running ``execute`` again on the saved state."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import EXIT_RUN_FAILED, RegenLabError
from ..core.files import write_private
from ..core.progress import Progress
from ..core.transcript import within
from ..ops import pki, puppet
from .ids import Change
from .site import Host, Site

REPORTS_TIMEOUT = 300  # step 3.w: how long to wait for the agents' first runs under the new CA


class Interrupted(RegenLabError):
    """The run was stopped on purpose after a step (a test hook); ``resume`` continues."""

    exit_code = EXIT_RUN_FAILED


class ProcedureStateError(RegenLabError):
    """A state file that does not allow this run (an unfinished run, nothing to resume)."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


SCHEMA = 2  # of the state file (1: before facts were typed)


@dataclass(frozen=True)
class StepResult:
    """One attempt of one step: a step failed, then done on resume, has two."""

    id: str
    title: str
    started: str
    ended: str
    seconds: float
    result: str  # done | skipped (already done) | failed
    detail: str = ""


@dataclass
class Before:
    """Step 0: what the proof needs from before the run."""

    ca_fingerprint: str = ""  # the old CA's root; "": step 0 has not run
    ca_certs: list[str] = field(default_factory=list)  # every cert of the old CA bundle, by fingerprint
    master_alt_names: list[str] = field(default_factory=list)  # read from the master's old cert
    agent_serials: dict[str, int] = field(default_factory=dict)  # every agent's old cert
    witness: str = ""  # the agent whose old cert and key are kept on it for the refusal proof
    compiler_witness: str = ""  # the compiler whose old cert and key are kept on it, likewise
    compiler_serial: int | None = None
    ca_keys: list[str] = field(default_factory=list)  # the public key of each old CA cert (an extension keeps them)
    ca_expires: str = ""  # when the first old CA cert expires (ISO)
    host_serials: dict[str, int] = field(default_factory=dict)  # every other host's cert (an extension keeps them)


@dataclass
class Backup:
    """Step 1.1's verified backup of the master's cadir, ssldir and puppet.conf, and step
    1.0's of the other hosts' TLS material (both owner-only)."""

    path: str = ""
    sha256: str = ""
    files: dict[str, str] = field(default_factory=dict)  # every file of it, by path, its sha256
    hosts_path: str = ""
    hosts_sha256: str = ""
    hosts: dict[str, dict[str, str]] = field(default_factory=dict)  # by part, every file's sha256


@dataclass
class Times:
    """The downtime window and the waits' starting points (ISO times, "" until they happen)."""

    server_stopped_at: str = ""  # the first stop: the downtime starts
    agents_started_at: str = ""  # since when step 3.w counts a report as fresh
    last_agent_back_at: str = ""  # the last agent's first report under the new CA: the downtime ends
    restored_at: str = ""  # a rollback's server back under the old CA


@dataclass
class MCollectiveFacts:
    replies_before: dict[str, float] = field(default_factory=dict)  # `mco ping` before, ms
    replies_after: dict[str, float] = field(default_factory=dict)
    old_server_public: str = ""  # the server keypair's public key id, before and after
    new_server_public: str = ""
    old_admin_serial: int | None = None  # the admin's old client cert, kept for the refusal proof


@dataclass
class Facts:
    """What a run has learned, one group per part of the procedure."""

    before: Before = field(default_factory=Before)
    backup: Backup = field(default_factory=Backup)
    times: Times = field(default_factory=Times)
    new_ca_fingerprint: str = ""
    agents_done: list[str] = field(default_factory=list)  # re-enrolled in step 3 (saved as each one ends)
    mco: MCollectiveFacts = field(default_factory=MCollectiveFacts)
    # agents step 3 began on (saved before it stops one); None: a state file older than this field
    agents_touched: list[str] | None = field(default_factory=list)
    # where Puppet keeps its files on each host (step 0, `puppet config print`), by host name
    layouts: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict) -> Facts:
        return cls(Before(**data["before"]), Backup(**data["backup"]), Times(**data["times"]),
                   data["new_ca_fingerprint"], list(data["agents_done"]), MCollectiveFacts(**data["mco"]),
                   data.get("agents_touched"), dict(data.get("layouts", {})))


@dataclass
class RunState:
    """What a run has done and learned; persisted after every step."""

    lab: str
    mode: str  # a Mode (ids.py)
    agents: list[str]
    autosign: bool
    server_name: str = ""  # the master's new DNS name (it moved); "": it keeps its alt names
    ca_import: str = ""  # the import set's folder (an intermediate under an external root); "": `ca setup`
    started: str = field(default_factory=now)
    finished: str = ""
    facts: Facts = field(default_factory=Facts)
    steps: list[StepResult] = field(default_factory=list)
    begun: list[str] = field(default_factory=list)  # every step whose run began, saved before it runs
    schema: int = SCHEMA

    @property
    def done(self) -> set[str]:
        return {s.id for s in self.steps if s.result in ("done", "skipped")}

    @property
    def begun_ids(self) -> set[str]:
        """Every step that began (saved before it ran) or has an attempt recorded (a state
        file written before ``begun`` existed has only those)."""
        return set(self.begun) | {s.id for s in self.steps}

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> RunState:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ProcedureStateError(f"the state file {path} cannot be read ({exc}); move it away to start anew") \
                from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema", 1) if isinstance(data, dict) else "?"
            raise ProcedureStateError(
                f"the state file {path} is of schema {found}; this Regen Lab reads schema {SCHEMA}: finish or roll "
                "back that run with the Regen Lab that started it, or move the file away to start anew")
        try:
            return cls(**{**data, "facts": Facts.of(data["facts"]),
                          "steps": [StepResult(**s) for s in data["steps"]]})
        except (KeyError, TypeError) as exc:
            raise ProcedureStateError(f"the state file {path} is not a run's state ({exc}); move it away to start "
                                      "anew") from None


@dataclass
class Context:
    """What a step may use: the site, the run's state, where backups go, the options."""

    site: Site
    state: RunState
    backup_dir: Path
    progress: Progress
    autosign: bool = False
    reports_timeout: float = REPORTS_TIMEOUT
    path: Path | None = None  # the state file, once ``execute`` runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        prime_layouts(self.site, self.state)

    def save(self, change: Callable[[], object] = lambda: None) -> None:
        """Apply ``change`` to the state and save it, under the lock (steps run side by side):
        what a step learns half-way (an agent done) survives a kill."""
        with self.lock:
            change()
            if self.path is not None:
                self.state.save(self.path)

    @property
    def ca(self):
        return self.site.ca.executor

    def agents(self) -> list[Host]:
        return [self.site.agent(a) for a in self.state.agents]


def prime_layouts(site: Site, state: RunState) -> None:
    """Each host's Layout as step 0 read it, given back to its ``Host``: a resume, a rollback
    or a proof of that run reads no host's settings again."""
    for host in site.all_hosts:
        known = state.facts.layouts.get(host.name)
        if known:
            host.remember(puppet.Layout(**known))


PREVIOUS = ("<",)  # a Step's default ``needs``: the step before it in its procedure


@dataclass(frozen=True)
class Step:
    """One step of a procedure. ``needs``: the ids of the steps that must be done before it
    starts (by default the one before it in the list); a need that is not in the run (a
    step skipped, or left out where the site has no MCollective) is taken as met."""

    id: str
    title: str
    run: Callable[[Context], str | None]
    check: Callable[[Context], bool] = lambda ctx: False
    needs: tuple[str, ...] = PREVIOUS
    # a service it started: a resume checks it again even when done (a reboot stops it, or
    # starts it before its files were new) and runs it again if it no longer holds
    recheck: bool = False
    shows: str = ""  # what its check shows when the effect is there (the runbook says it)
    # what it changes (a rollback's rules, the runbook's way back); one that does not say is
    # taken as touching agents: no rollback once it began
    changes: Change = Change.AGENTS
    role: str = ""  # only on a site with a host of this role (roles.ROLES): "" on every site


def needs_of(steps: tuple[Step, ...]) -> dict[str, set[str]]:
    """Each step's needs among these steps (``PREVIOUS`` resolved, needs not in the run dropped)."""
    ids = [s.id for s in steps]
    out: dict[str, set[str]] = {}
    for i, step in enumerate(steps):
        wanted = ids[i - 1:i] if step.needs == PREVIOUS else step.needs  # the first step: none before it
        out[step.id] = {n for n in wanted if n in ids}
    return out


def state_path(state_root: Path, lab: str) -> Path:
    return state_root / "runs" / f"{lab}.json"


def transcript_path(state_root: Path, lab: str) -> Path:
    """Every command the lab's last run sent, by step (``core/transcript.py``)."""
    return state_root / "runs" / f"{lab}.commands.json"


def execute(ctx: Context, steps: tuple[Step, ...], path: Path, stop_after: str | None = None,
            workers: int = 8, redo: set[str] = frozenset()) -> None:
    """Each step not done yet, as soon as the steps it needs are done: checked (already
    done?), run, timed, recorded in the state file. After a failure nothing new starts;
    the steps running beside it finish and are recorded, then the first error is raised.
    ``stop_after``: only the steps up to that one (in the procedure's order) run, then
    Interrupted. ``redo``: steps run again, done or not, their check not asked (an operator's
    fix of a mistake the check may not see). The state is finished when every step is done."""
    state = ctx.state
    needs = needs_of(steps)
    order = [s.id for s in steps]
    last = order.index(stop_after) if stop_after in order else len(order) - 1
    ctx.path = path
    undone = {s.id for s in steps[: last + 1] if s.recheck and s.id in state.done and s.id not in redo and
              not s.check(ctx)}
    if undone:
        ctx.progress.say(f"steps {', '.join(sorted(undone))} no longer hold (a host restarted?): run again")
    undone |= set(redo) & set(order)
    todo = {s.id: s for s in steps[: last + 1] if s.id not in state.done or s.id in undone}
    done = (set(state.done) - undone) | {i for i in order[: last + 1] if i not in todo}
    running: dict[Future, Step] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            if failure is None:
                for step_id in [i for i in order if i in todo]:
                    if needs[step_id] <= done:
                        step = todo.pop(step_id)
                        running[pool.submit(_attempt, ctx, step, step_id in redo)] = step
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                error = future.exception()
                if error is None:
                    done.add(step.id)
                elif failure is None:
                    failure = error
    if failure is not None:
        raise failure
    if todo:  # unreachable needs: a bug in a procedure's definition, never an operator's doing
        raise RegenLabError(f"steps {', '.join(todo)} need steps that never ran")
    if stop_after in order:
        raise Interrupted(f"stopped after step {stop_after} as asked; continue with --resume")
    state.finished = now()
    state.save(path)


def _attempt(ctx: Context, step: Step, again: bool = False) -> None:
    """One step: checked (unless it is run ``again``), run, timed; its result recorded (and
    the state saved) under the lock."""
    started, t0 = now(), time.monotonic()

    def record(result: str, detail: str) -> None:
        ctx.save(lambda: ctx.state.steps.append(StepResult(step.id, step.title, started, now(),
                                                           round(time.monotonic() - t0, 2), result, detail)))

    # saved before the step touches anything: a kill inside it leaves it known as begun
    ctx.save(lambda: ctx.state.begun.append(step.id) if step.id not in ctx.state.begun else None)
    with ctx.progress.step(f"step {step.id}: {step.title}"):
        try:
            with within(step.id, "check"):
                already = not again and step.check(ctx)
            if already:
                result, detail = "skipped", "already done"
            else:
                with within(step.id, "run"):
                    result, detail = "done", step.run(ctx) or ""
        except Exception as exc:
            record("failed", pki.redact_keys(str(exc))[:2000])
            raise
    record(result, pki.redact_keys(detail))
