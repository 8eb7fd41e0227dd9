"""A run of the procedure, new or resumed: its options checked, the preflight, what an
interrupted run left settled, its steps executed, every command noted in its transcript."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import BadInput, CommandFailed
from ...core.progress import Progress
from ...core.transcript import Recording, Transcript, within
from ...core.wait import parallel
from ...ops import puppet
from .. import preflight
from ..ids import StepId
from ..runner import REPORTS_TIMEOUT, Context, ProcedureStateError, RunState, Step, execute, state_path, transcript_path
from ..site import Host, Site
from .common import AGENT_PARALLEL
from .options import RunOptions, check_import
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


def run(site: Site, state_root: Path, options: RunOptions | None = None, progress: Progress | None = None) -> RunState:
    """Run (or resume) the procedure on a site as ``options`` say; return the final state with
    every step's result. A new run starts only once the site passes its preflight (unless
    ``options.check`` is off); a resume does not: its site is mid-run."""
    options = options or RunOptions()
    progress = progress or Progress()
    path, commands = state_path(state_root, site.name), transcript_path(state_root, site.name)
    previous = RunState.load(path) if path.exists() else None
    # every command sent is noted, by step: the runbook (`regen.plan`) is made of them
    transcript = Transcript.load(commands) if options.resume and commands.exists() else Transcript()
    site = site.through(lambda ex: Recording(ex, transcript))

    def plan_of(state: RunState) -> tuple[Step, ...]:
        return options.steps if options.steps is not None else \
            steps_of(site, state.mode, options.skip, bool(state.ca_import))

    steps: tuple[Step, ...] | None = None
    try:
        if options.resume:
            if previous is None or (previous.finished and not options.redo):
                raise ProcedureStateError(f"nothing to resume for {site.name!r}: no unfinished run in {path}")
            state = previous
            steps = plan_of(state)
            unknown = sorted(set(options.redo) - {s.id for s in steps})
            if unknown:  # before any host is touched
                raise BadInput(f"--redo {', '.join(unknown)}: not a step of this run; its steps: "
                               f"{', '.join(s.id for s in steps)}")
            state.finished = ""  # a finished run with steps to redo goes on again
            stop_leftovers(site, progress)
            settle(site, state, progress)
        else:
            if previous is not None and not previous.finished:
                raise ProcedureStateError(
                    f"a regeneration of {site.name!r} was interrupted after step "
                    f"{previous.steps[-1].id if previous.steps else '(none)'}; continue it with --resume"
                )
            names = list(options.agents) if options.agents else [a.name for a in site.agents]
            for n in names:
                site.agent(n)
            imported = check_import(site, options.ca_import) if options.ca_import else ""
            if options.check:
                with progress.step(preflight.TITLE), within(preflight.STEP_ID, "preflight"):
                    found = preflight.require(site, state_root)
                for c in found.checks:
                    if c.status == preflight.WARN:
                        progress.say(f"preflight warning: {c.host}: {c.check}: {c.detail}")
            state = RunState(lab=site.name, mode=options.run_mode, agents=names, autosign=options.autosign,
                             server_name=options.server_name, ca_import=imported)
        reports_timeout = options.reports_timeout
        if reports_timeout is None:  # 2 cores: about 3 s of CPU for each agent's first run
            reports_timeout = REPORTS_TIMEOUT + 3 * len(state.agents)
        ctx = Context(site, state, state_root / "backups", progress, autosign=state.autosign,
                      reports_timeout=reports_timeout)
        execute(ctx, steps if steps is not None else plan_of(state), path, options.stop_after, redo=set(options.redo))
        return state
    finally:
        if transcript.commands:
            transcript.save(commands)
