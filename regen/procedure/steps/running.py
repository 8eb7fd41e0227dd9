"""A run of the procedure, new or resumed: its options checked, the preflight, what an
interrupted run left settled, its steps executed, every command noted in its transcript."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import CommandFailed
from ...core.progress import Progress
from ...core.transcript import Recording, Transcript, within
from ...core.wait import parallel
from ...ops import puppet
from .. import preflight
from ..ids import Mode, StepId
from ..runner import REPORTS_TIMEOUT, Context, ProcedureStateError, RunState, Step, execute, state_path, transcript_path
from ..site import Host, Site
from .common import AGENT_PARALLEL
from .options import check_import, check_mode, check_server_name
from .plan import steps_of


def stop_leftovers(site: Site, progress: Progress) -> None:
    """Before a resume or a rollback: the commands an interrupted run left running on its hosts
    (its controller was killed, not they: a `puppet ssl bootstrap`, a `ca generate`, a `tar`)
    are ended, so that none of them races the steps run again."""
    unreachable: list[str] = []

    def one(host: Host) -> int:
        try:
            return host.executor.stop_leftovers()
        except CommandFailed:  # a host that is down runs nothing; the step that needs it says so
            unreachable.append(host.name)
            return 0

    ended = parallel(list(site.all_hosts), one, limit=AGENT_PARALLEL)
    if sum(ended):
        progress.say(f"ended {sum(ended)} command(s) an interrupted run left running on its hosts")
    if unreachable:
        progress.say(f"could not look for commands left running on {', '.join(sorted(unreachable))} (unreachable)")


def settle(site: Site, state: RunState, progress: Progress) -> None:
    """Before a resume: the agents step 3 re-enrolled keep their daemons stopped until 3.s
    starts them (their first run must find PuppetDB back); one that rebooted since has
    started its daemon early, and is stopped again."""
    if StepId.START_AGENTS in state.done:
        return
    done = [site.agent(a) for a in state.facts.agents_done]
    running = [h for h, up in zip(done, parallel(done, lambda h: puppet.service_running(h.executor, "puppet"),
                                                 limit=AGENT_PARALLEL), strict=True) if up]
    if running:
        parallel(running, lambda h: puppet.stop(h.executor, "puppet"), limit=AGENT_PARALLEL)
        progress.say(f"stopped the agent daemon a restart had started early on {', '.join(h.name for h in running)}")


def run(
    site: Site, state_root: Path, *, agents: list[str] | None = None, autosign: bool = False,
    resume: bool = False, skip: tuple[str, ...] = (), stop_after: str | None = None,
    progress: Progress | None = None, steps: tuple[Step, ...] | None = None, reports_timeout: float | None = None,
    server_name: str | None = None, check: bool = True, mode: str = Mode.FULL, ca_import: str | None = None,
) -> RunState:
    """Run (or resume) the procedure on a site; return the final state with every step's result.
    ``mode``: ``full`` (every certificate anew; ``partial`` with ``agents``) or ``extend`` (the
    CA's certificates renewed with the same keys, every host keeping its cert).
    ``server_name``: the master moved; its new cert carries this name and every host uses it.
    A new run starts only once the site passes its preflight (``check``; a resume does not:
    its site is mid-run)."""
    progress = progress or Progress()
    check_server_name(server_name, agents)
    check_mode(mode, agents, server_name, ca_import)
    path, commands = state_path(state_root, site.name), transcript_path(state_root, site.name)
    previous = RunState.load(path) if path.exists() else None
    # every command sent is noted, by step: the runbook (`regen.plan`) is made of them
    transcript = Transcript.load(commands) if resume and commands.exists() else Transcript()
    site = site.through(lambda ex: Recording(ex, transcript))
    try:
        if resume:
            if previous is None or previous.finished:
                raise ProcedureStateError(f"nothing to resume for {site.name!r}: no unfinished run in {path}")
            state = previous
            stop_leftovers(site, progress)
            settle(site, state, progress)
        else:
            if previous is not None and not previous.finished:
                raise ProcedureStateError(
                    f"a regeneration of {site.name!r} was interrupted after step "
                    f"{previous.steps[-1].id if previous.steps else '(none)'}; continue it with --resume"
                )
            names = agents if agents else [a.name for a in site.agents]
            for n in names:
                site.agent(n)
            imported = check_import(site, ca_import) if ca_import else ""
            if check:
                with progress.step(preflight.TITLE), within(preflight.STEP_ID, "preflight"):
                    found = preflight.require(site, state_root)
                for c in found.checks:
                    if c.status == preflight.WARN:
                        progress.say(f"preflight warning: {c.host}: {c.check}: {c.detail}")
            state = RunState(lab=site.name, mode=Mode.PARTIAL if agents else Mode(mode), agents=names,
                             autosign=autosign, server_name=server_name or "", ca_import=imported)
        if reports_timeout is None:  # 2 cores: about 3 s of CPU for each agent's first run
            reports_timeout = REPORTS_TIMEOUT + 3 * len(state.agents)
        ctx = Context(site, state, state_root / "backups", progress, autosign=state.autosign,
                      reports_timeout=reports_timeout)
        execute(ctx, steps if steps is not None else steps_of(site, state.mode, skip, bool(state.ca_import)), path,
                stop_after)
        return state
    finally:
        if transcript.commands:
            transcript.save(commands)
