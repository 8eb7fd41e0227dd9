"""Rolling a failed regeneration back, from any point before its first agent is touched:
the master's cadir, ssldir and puppet.conf restored from step 1.1's verified backup, Puppet
Server started under the old CA; then the other hosts whose steps began (PostgreSQL, PuppetDB,
the broker, MCollective's keys) restored from step 1.0's backup and their services started.

Once step 3 has stopped an agent, that agent may hold a cert of the new CA or none: restoring
the servers would cut it off, and the way out is to resume the run. (Before the backup, 1.1,
nothing was deleted and the rollback only starts the services again.) The rollback is recorded
in the same state file as the run, with its own steps (``r.*``), so its report shows the
failure and the way back."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import RegenLabError
from ..core.progress import Progress
from ..ops import puppet, puppet_reports
from . import hostbackup
from .ids import Change, Mode, StepId
from .runner import Context, ProcedureStateError, RunState, Step, execute, now, state_path
from .site import Site
from .steps.common import fingerprint_of_ca
from .steps.master import start_master_agent, stop_master_agent, stop_server
from .steps.plan import FULL
from .steps.running import stop_leftovers


def restorable(state: RunState) -> None:
    """Raise unless this run can be rolled back: a full run, its backups made and kept,
    no agent touched yet."""
    if state.mode == Mode.ROLLBACK:
        raise ProcedureStateError(f"the run of {state.lab!r} was already rolled back at {state.finished}")
    if state.finished:
        raise ProcedureStateError(f"the run of {state.lab!r} finished at {state.finished}: a rollback undoes only "
                                  "a run that failed before its agents were re-enrolled")
    if state.mode == Mode.EXTEND:
        raise ProcedureStateError("an extension keeps the CA's keys and every host's cert: resume it instead (each "
                                  "of its steps is safe to repeat; the CA as it was is in step 1.1's backup)")
    if state.mode != Mode.FULL:
        raise ProcedureStateError("a partial run keeps the CA: there is nothing to restore (resume it instead)")
    begun = state.begun_ids
    # r.*: an earlier rollback of this run, interrupted, changes only what it restores. A step
    # this Regen Lab does not know is taken as touching agents. Begun counts, not only done: a
    # step killed or failed half-way may have changed its host.
    changes = {**{s.id: s.changes for s in FULL}, **{s.id: Change.MASTER for s in STEPS}}
    change = {i: changes.get(i, Change.AGENTS) for i in begun}
    if set(change.values()) <= {Change.NOTHING}:
        raise ProcedureStateError(f"nothing to roll back: the run of {state.lab!r} stopped in step "
                                  f"{', '.join(sorted(begun))} and changed nothing; continue it with --resume")
    if not state.facts.backup.path:
        changed = sorted(i for i, c in change.items() if c not in (Change.NOTHING, Change.SERVICES))
        if changed:  # never: 1.4 needs the backup; a state file edited by hand or damaged
            raise ProcedureStateError(f"the run has no backup, yet steps {', '.join(changed)} were started: "
                                      "nothing to restore from; continue the run with --resume")
    touched = state.facts.agents_touched
    # a step that names the agents it touches counts by them; a state file of an earlier
    # Regen Lab (touched None) does not say which
    beyond = sorted(i for i, c in change.items()
                    if c == Change.AGENTS or (c == Change.AGENTS_NAMED and touched is None))
    if beyond:
        raise ProcedureStateError(
            f"steps {', '.join(beyond)} were started, and may have moved agents to the new CA: restoring the "
            "servers would cut them off; continue the run with --resume instead")
    if touched:
        raise ProcedureStateError(
            f"step 3 has begun re-enrolling agents ({', '.join(touched[:5])}{' ...' if len(touched) > 5 else ''}): "
            "restoring the servers would cut them off; continue the run with --resume instead")
    others = sorted(i for i, c in change.items() if c == Change.HOSTS)
    if others and not state.facts.backup.hosts_path:  # a state file of an earlier Regen Lab
        raise ProcedureStateError(
            f"steps {', '.join(others)} changed other hosts and this run kept no backup of them (step 1.0): "
            "continue the run with --resume instead")


def restore(ctx: Context) -> str:
    """r.2: the master's backup checked again (its sha256, every file, the CA's and the
    master's keys), the new CA's files removed, the backup unpacked with its owners and modes."""
    part = hostbackup.master_part(ctx.site.ca)
    hostbackup.unpack(part, hostbackup.load_master(ctx))
    fp = fingerprint_of_ca(ctx)
    old = ctx.state.facts.before.ca_fingerprint
    if fp != old:
        raise RegenLabError(f"after the restore the CA is {fp}, not the old {old}")
    return f"{ctx.state.facts.backup.path} unpacked into {', '.join(part.paths)}; CA {fp[:23]}..."


def restored(ctx: Context) -> bool:
    if not ctx.state.facts.backup.path:  # stopped before its backup: nothing was deleted, nothing to restore
        return True
    return fingerprint_of_ca(ctx) == ctx.state.facts.before.ca_fingerprint


def start_old_server(ctx: Context) -> str:
    puppet.start_server(ctx.ca)
    ctx.state.facts.times.restored_at = now()
    return "puppet resource service puppetserver ensure=running (returns when ready)"


def stop_master(ctx: Context) -> str:
    """r.1: the master's agent (started again in 1.9, it runs with the new CA's cert) and Puppet Server."""
    return f"{stop_master_agent(ctx)}; {stop_server(ctx)}"


STEPS = (
    Step(StepId.STOP_MASTER, "stop the master's agent and Puppet Server", stop_master,
         lambda ctx: not puppet.service_running(ctx.ca, "puppet") and
         not puppet.service_running(ctx.ca, "puppetserver")),
    Step(StepId.RESTORE, "restore the cadir, ssldir and puppet.conf from the verified backup", restore, restored),
    Step(StepId.START_OLD_SERVER, "start Puppet Server under the old CA", start_old_server,
         lambda ctx: restored(ctx) and puppet_reports.server_status(ctx.ca) == "running"),
    Step(StepId.RESTORE_HOSTS, "restore the other hosts that changed (PostgreSQL, PuppetDB, broker, MCollective keys)",
         hostbackup.restore, hostbackup.restored),
    Step(StepId.RESTART_MASTER_AGENT, "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet")),
)


def rollback(site: Site, state_root: Path, progress: Progress | None = None) -> RunState:
    """Roll the lab's unfinished (or failed) run back to the old CA; return its state."""
    progress = progress or Progress()
    path = state_path(state_root, site.name)
    if not path.exists():
        raise ProcedureStateError(f"nothing to roll back for {site.name!r}: no run in {path}")
    state = RunState.load(path)
    restorable(state)
    ctx = Context(site, state, state_root / "backups", progress)
    if state.facts.backup.path:  # without one, nothing was deleted yet: the services are started again
        hostbackup.load_master(ctx)  # the backups are read and checked before anything is stopped
    if hostbackup.to_restore(site, state):
        hostbackup.load(ctx)
    stop_leftovers(site, progress)
    state.finished = ""
    execute(ctx, STEPS, path)
    state.mode = Mode.ROLLBACK
    state.save(path)
    return state
