"""The procedure on a site file's real hosts, over SSH: its preflight, a dry run, the run and
a rollback, each under the site's lock, with the same state, backups, proof, report and
runbook as a rehearsal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.config import state_dir
from ..core.errors import BadInput
from ..core.lock import hold
from ..core.progress import Progress
from ..procedure import preflight, proven, runbook
from ..procedure.report import Report
from ..procedure.runner import Step
from ..procedure.site import Site
from ..procedure.steps.options import RunOptions
from ..procedure.steps.plan import steps_of
from ..sites.format import find
from ..ssh import site as ssh_site
from .rehearsal import write_runbook

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
# the real hosts' runs are kept apart from the rehearsals of the same site file (a lab named
# as the site): their state, lock, backups and report are under "<site>-prod"
SUFFIX = "-prod"


def site(path: str, known_hosts: str = "", identity: str = "") -> Site:
    """A site file's hosts, reached over SSH: their keys checked against ``known_hosts`` (default
    ~/.ssh/known_hosts), logging in with ``identity`` (default: the SSH agent's and ~/.ssh's keys)."""
    spec = find(path)
    known = Path(known_hosts).expanduser() if known_hosts else DEFAULT_KNOWN_HOSTS.expanduser()
    key = Path(identity).expanduser() if identity else None
    return replace(ssh_site.site_of(spec, known, key), name=spec.name + SUFFIX)


def check(real: Site) -> preflight.Preflight:
    return preflight.check(real, state_dir())


def dry_run(real: Site, mode: str = "full") -> tuple[preflight.Preflight, tuple[Step, ...], Path | None]:
    """What a run would do, changing nothing: the preflight, the steps, and the runbook of this
    site's rehearsal if one was made (``regen.plan``)."""
    book = runbook.path_of(state_dir(), real.name.removesuffix(SUFFIX))
    return check(real), steps_of(real, mode), book if book.exists() else None


def regenerate(real: Site, progress: Progress, options: RunOptions | None = None) -> Report:
    """The procedure on the real hosts (the site's lock held), its proof and report; its runbook
    when it passed."""
    if options is not None and options.agents:
        raise BadInput("--agents goes with a lab; on real hosts the whole procedure runs")
    with hold(real.name):
        result = proven.regenerate(real, state_dir(), progress, options)
        if result.passed:
            write_runbook(real, f"the run on {real.description} over SSH", progress)
        return result


def roll_back(real: Site, progress: Progress) -> Report:
    with hold(real.name):
        return proven.roll_back(real, state_dir(), progress)
