"""Rolling a failed regeneration back: the master's cadir and ssldir restored from the
verified backup of step 1.1, Puppet Server started again under the old CA.

Only while nothing but the master has changed (the run failed in step 1; before the
backup, 1.1, nothing was deleted and the rollback only starts the services again): once PuppetDB,
the broker or agents hold certs of the new CA, restoring the master alone would cut them
off, and the way out is to resume the run. The rollback is recorded in the same state file
as the run, with its own steps (``r.*``), so its report shows the failure and the way back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..core.errors import RegenLabError
from ..core.progress import Progress
from ..ops import puppet
from .runner import Context, ProcedureStateError, RunState, Step, execute, now, state_path
from .site import Site
from .steps import BACKUP_PATHS, fingerprint_of_ca, start_master_agent, stop_leftovers, stop_server, verify_backup

RESTORE_TMP = "/root/regen-restore.tar.gz"


def restorable(state: RunState) -> None:
    """Raise unless this run can be rolled back: a full run, its backup made and kept,
    no host but the master touched."""
    if state.mode == "rollback":
        raise ProcedureStateError(f"the run of {state.lab!r} was already rolled back at {state.finished}")
    if state.finished:
        raise ProcedureStateError(f"the run of {state.lab!r} finished at {state.finished}: a rollback undoes only "
                                  "a run that failed in step 1")
    if state.mode != "full":
        raise ProcedureStateError("a partial run keeps the CA: there is nothing to restore (resume it instead)")
    if not state.facts.backup.path:
        changed = sorted(state.begun_ids - {"0", "1.1", "1.2", "1.3"})
        if changed:  # never: 1.4 needs the backup; a state file edited by hand or damaged
            raise ProcedureStateError(f"the run has no backup, yet steps {', '.join(changed)} were started: "
                                      "nothing to restore from; continue the run with --resume")
    # r.*: an earlier rollback of this run, interrupted
    beyond = sorted(i for i in state.begun_ids if not (i == "0" or i.startswith(("1.", "r."))))
    if beyond:  # begun counts, not only done: a step killed or failed half-way may have changed its host
        raise ProcedureStateError(
            f"steps {', '.join(beyond)} were started, and may have moved hosts to the new CA: restoring the "
            "master alone would cut them off; continue the run with --resume instead")


def _backup(ctx: Context) -> bytes:
    path = Path(ctx.state.facts.backup.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegenLabError(f"the backup {path} cannot be read ({exc.strerror}): nothing was changed") from None
    if hashlib.sha256(data).hexdigest() != ctx.state.facts.backup.sha256:
        raise RegenLabError(f"the backup {path} is not the one step 1.1 verified (sha256 differs): "
                            "nothing was changed")
    verify_backup(data, ctx.site.ca.certname)
    return data


def restore(ctx: Context) -> str:
    """r.2: the backup checked again (its sha256 and CA key), the new CA's files removed,
    the backup unpacked with its owners and modes."""
    data = _backup(ctx)
    ctx.ca.write_file(RESTORE_TMP, data, mode=0o600)
    ctx.ca.run(["sh", "-c", 'rm -rf "$2" "$3" && tar -C / -xzpf "$1"; rc=$?; rm -f "$1"; exit $rc',
                "sh", RESTORE_TMP, puppet.SSLDIR, puppet.CADIR])
    fp = fingerprint_of_ca(ctx)
    old = ctx.state.facts.before.ca_fingerprint
    if fp != old:
        raise RegenLabError(f"after the restore the CA is {fp}, not the old {old}")
    return f"{ctx.state.facts.backup.path} unpacked into /{BACKUP_PATHS[0]} and /{BACKUP_PATHS[1]}; CA {fp[:23]}..."


def restored(ctx: Context) -> bool:
    return fingerprint_of_ca(ctx) == ctx.state.facts.before.ca_fingerprint


def start_old_server(ctx: Context) -> str:
    puppet.start_server(ctx.ca)
    ctx.state.facts.times.restored_at = now()
    return "puppet resource service puppetserver ensure=running (returns when ready)"


STEPS = (
    Step("r.1", "stop Puppet Server", stop_server, lambda ctx: not puppet.service_running(ctx.ca, "puppetserver")),
    Step("r.2", "restore the cadir and ssldir from the verified backup", restore, restored),
    Step("r.3", "start Puppet Server under the old CA", start_old_server,
         lambda ctx: restored(ctx) and puppet.server_status(ctx.ca) == "running"),
    Step("r.4", "start the master's agent service", start_master_agent,
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
        _backup(ctx)  # the backup is read and checked before anything on the master is stopped
    stop_leftovers(site, progress)
    state.finished = ""
    execute(ctx, STEPS, path)
    state.mode = "rollback"
    state.save(path)
    return state
