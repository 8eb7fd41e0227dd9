"""The procedure's runner: Steps with a check that tells whether their effect is already
there, the run's state (persisted after every step, owner-only), and ``execute``, which runs
each step not done yet, times it, records it, and stops on the first failure. Resume is
running ``execute`` again on the saved state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import RegenLabError
from ..core.files import write_private
from ..core.progress import Progress
from ..ops import pki
from .site import Host, Site

REPORTS_TIMEOUT = 300  # step 3.w: how long to wait for the agents' first runs under the new CA


class Interrupted(RegenLabError):
    """The run was stopped on purpose after a step (a test hook); ``resume`` continues."""


class ProcedureStateError(RegenLabError):
    """A state file that does not allow this run (an unfinished run, nothing to resume)."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class StepResult:
    id: str
    title: str
    started: str
    ended: str
    seconds: float
    result: str  # done | skipped (already done) | failed
    detail: str = ""


@dataclass
class RunState:
    """What a run has done and learned; persisted after every step."""

    lab: str
    mode: str  # full | partial
    agents: list[str]
    autosign: bool
    server_name: str = ""  # the master's new DNS name (it moved); "": it keeps its alt names
    started: str = field(default_factory=now)
    finished: str = ""
    facts: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)

    @property
    def done(self) -> set[str]:
        return {s["id"] for s in self.steps if s["result"] in ("done", "skipped")}

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls(**json.loads(path.read_text()))


@dataclass
class Context:
    """What a step may use: the site, the run's state, where backups go, the options."""

    site: Site
    state: RunState
    backup_dir: Path
    progress: Progress
    autosign: bool = False
    reports_timeout: float = REPORTS_TIMEOUT

    @property
    def ca(self):
        return self.site.ca.executor

    def agents(self) -> list[Host]:
        return [self.site.agent(a) for a in self.state.agents]


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    run: Callable[[Context], str | None]
    check: Callable[[Context], bool] = lambda ctx: False


def state_path(state_root: Path, lab: str) -> Path:
    return state_root / "runs" / f"{lab}.json"


def execute(ctx: Context, steps: tuple[Step, ...], path: Path, stop_after: str | None = None) -> None:
    """Each step not done yet: checked (already done?), run, timed, recorded in the state
    file; a failed step is recorded and re-raised; the state is finished at the end."""
    state, progress = ctx.state, ctx.progress
    for step in steps:
        if step.id in state.done:
            continue
        started, t0 = now(), time.monotonic()
        title = f"step {step.id}: {step.title}"
        with progress.step(title):
            try:
                if step.check(ctx):
                    result, detail = "skipped", "already done"
                else:
                    result, detail = "done", step.run(ctx) or ""
            except Exception as exc:
                state.steps.append(asdict(StepResult(step.id, step.title, started, now(),
                                                     time.monotonic() - t0, "failed",
                                                     pki.redact_keys(str(exc))[:2000])))
                state.save(path)
                raise
        state.steps.append(asdict(StepResult(step.id, step.title, started, now(), round(time.monotonic() - t0, 2),
                                             result, pki.redact_keys(detail))))
        state.save(path)
        if stop_after == step.id:
            raise Interrupted(f"stopped after step {step.id} as asked; continue with --resume")
    state.finished = now()
    state.save(path)
