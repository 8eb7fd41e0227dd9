"""The main job, end to end: images (cached) -> lab up -> procedure -> proof -> report ->
lab down (kept on failure, or when asked)."""

from __future__ import annotations

from . import engine, procedure, proof, report, rollback
from .config import state_dir
from .errors import RegenLabError
from .lab import Lab, LabSpec, remove, up
from .progress import Progress
from .site import site_of


def regenerate(lab: Lab, progress: Progress, **options) -> report.Report:
    """Run (or resume) the procedure on a lab that is up, prove it, write the report.
    A procedure that fails still gets its proof and report: they show what broke."""
    return _proven(lab, progress, lambda site, root: procedure.run(site, root, progress=progress, **options))


def roll_back(lab: Lab, progress: Progress) -> report.Report:
    """Restore the master of a failed run from its verified backup, prove that the old CA
    works again and nothing was lost, write the report."""
    return _proven(lab, progress, lambda site, root: rollback.rollback(site, root, progress))


def _proven(lab: Lab, progress: Progress, act) -> report.Report:
    site = site_of(lab)
    root = state_dir()
    try:
        state = act(site, root)
    except (procedure.Interrupted, procedure.ProcedureStateError):
        raise
    except RegenLabError as exc:
        progress.say(f"the procedure failed: {exc}")
        path = procedure.state_path(root, site.name)
        if not path.exists():
            raise
        state = procedure.RunState.load(path)
    with progress.step("proof"):
        proofs = proof.prove(site, state)
    result = report.build(state, proofs)
    json_path, md_path = report.write(result, root)
    print(report.summary(result), flush=True)
    progress.say(f"report: {md_path} and {json_path.name}")
    return result


def rehearse(spec: LabSpec, keep: bool = False, progress: Progress | None = None,
             skip: tuple[str, ...] = ()) -> report.Report:
    """A fresh lab, the full procedure, its proof and report. The lab is removed when the
    rehearsal passes, and kept when it fails (or with ``keep``) for inspection."""
    progress = progress or Progress()
    client = engine.ensure(progress)
    procedure.state_path(state_dir(), spec.name).unlink(missing_ok=True)  # a new lab: no run to resume
    lab = up(client, spec, progress, keep=keep)
    passed = False
    try:
        result = regenerate(lab, progress, skip=skip)
        passed = result.passed
        return result
    finally:
        if keep or not passed:
            progress.say(f"lab {spec.name} kept (`invoke lab.down --name {spec.name}` removes it)")
        else:
            with progress.step(f"removing lab {spec.name}"):
                remove(client, spec.name)

