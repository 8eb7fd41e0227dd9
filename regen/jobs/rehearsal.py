"""The main job, end to end: images (cached) -> lab up -> procedure -> proof -> report ->
lab down (kept on failure, or when asked); and the procedure or a rollback on a lab that is up."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..core.config import state_dir
from ..core.errors import BadInput
from ..core.lock import hold
from ..core.progress import Progress
from ..lab.lab import Lab, site_of, ssh_site_of
from ..lab.spec import LabSpec
from ..ops import pki, rootca
from ..procedure import backups as procedure_backups
from ..procedure import preflight, proven, report, runbook
from ..procedure.report import Report
from ..procedure.site import Site
from ..procedure.steps.options import RunOptions
from .labs import fresh_lab

NODE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


def run_options(agents: str = "", server_name: str = "", mode: str = "full", ca_import: str = "",
                autosign: bool = False, resume: bool = False, redo: str = "") -> RunOptions:
    """``regen.run``'s options as the command line gives them (``agents``, ``redo`` comma-separated), made
    into the run's options and checked before any engine is reached (the import set read whole)."""
    chosen = tuple(a.strip() for a in agents.split(",") if a.strip())
    for name in chosen:
        if not NODE_NAME_RE.fullmatch(name):
            raise BadInput(f"--agents {name!r} is not a node name (agent-1, agent-2, ...; comma-separated)")
    options = RunOptions(agents=chosen, server_name=server_name, mode=mode, ca_import=ca_import, autosign=autosign,
                         resume=resume, redo=tuple(s.strip() for s in redo.split(",") if s.strip()))
    if ca_import:
        rootca.read_import(Path(ca_import))
    return options


def external_root(lab: str, root_crl_days: int, renew_crl: bool = False,
                  open_lab: Callable[[], Lab] | None = None) -> str:
    """The lab's external root (made once, kept) and a new intermediate it signs: the import
    set's folder, what it holds and when the root's CRL must be renewed; or only a new CRL of
    the root, submitted to the lab's Puppet Server (``open_lab``)."""
    folder = rootca.folder_of(state_dir(), lab)
    if root_crl_days < 1:
        raise BadInput("--root-crl-days must be 1 or more")
    if renew_crl:
        if not (folder / rootca.ROOT_KEY).exists():
            raise BadInput(f"no external root for {lab} in {folder}: `regen.root` without --renew-crl makes one")
        site = site_of(open_lab()) if open_lab else None
        if site is None:
            rootca.renew_root_crl(folder, root_crl_days)
        else:
            with hold(lab):
                rootca.submit_renewed_crl(folder, root_crl_days, site.authority, check=True)
        made = rootca.read_import(folder / "import")
        return (f"a new CRL of the root, valid {root_crl_days} day(s), in {made.folder / rootca.CRLS}"
                + ("; submitted to Puppet Server: agents fetch it at their next CRL refresh (an agent whose CRL "
                   "has expired already cannot: remove its crl.pem)" if site is not None else ""))
    made = rootca.issue(folder, root_crl_days=root_crl_days)
    certs = [pki.info(c) for c in pki.load_certs(made.bundle)]
    return (f"import set: {made.folder} ({rootca.BUNDLE}, {rootca.KEY}, {rootca.CRLS}; owner-only)\n"
            f"intermediate: {certs[0].subject!r}, until {certs[0].not_after:%Y-%m-%d}\n"
            f"root: {certs[-1].subject!r}, key kept in {folder / 'root'}\n"
            f"the root's CRL is valid {root_crl_days} day(s): renew it before then with `regen.root --renew-crl` "
            "(which submits it to the lab's Puppet Server)")


def backups(name: str | None, keep: int | None) -> tuple[list, list]:
    """The CA backups of the state folder (one lab's, if named), and those pruned with ``keep``."""
    removed = procedure_backups.prune(state_dir(), keep, name) if keep is not None else []
    return procedure_backups.find(state_dir(), name), removed


def regenerate(lab: Lab, progress: Progress, options: RunOptions | None = None, ssh: bool = False) -> Report:
    """Run (or resume) the procedure on a lab that is up (over SSH with ``ssh``: a lab started
    with ``--ssh``), prove it, write the report and, when it passed, the runbook (the lab's lock
    held: one run at a time on a lab)."""
    with hold(lab.name):
        site = _site(lab, ssh)
        result = proven.regenerate(site, state_dir(), progress, options)
        if result.passed:
            write_runbook(site, f"the run on lab {lab.name}{' over SSH' if ssh else ''}", progress)
        return result


def write_runbook(site: Site, source: str, progress: Progress) -> Path:
    """The runbook of the site's last run, written under the state folder's runbooks/."""
    path = runbook.write(runbook.of_last_run(site, state_dir(), source), runbook.folder_of(state_dir(), site.name))
    progress.say(f"runbook: {path} (and one script per host beside it)")
    return path


def _site(lab: Lab, ssh: bool) -> Site:
    """The lab's hosts, reached over SSH (a lab started with ``--ssh``) or with ``docker exec``."""
    return ssh_site_of(lab) if ssh else site_of(lab)


def runbook_path(name: str) -> Path:
    return runbook.path_of(state_dir(), name)


def plan(lab: Lab) -> Path:
    """The runbook of the lab's last run, again (no new run)."""
    return write_runbook(site_of(lab), f"the last run on lab {lab.name}", Progress())


def expiry_line(lab: Lab) -> str:
    """``expiry: CA ..., master ..., earliest host cert ... (host)`` of a lab that is up."""
    return report.expiry_line(proven.expiry(site_of(lab)))


def check(lab: Lab, ssh: bool = False) -> preflight.Preflight:
    """The lab's preflight (read only): what ``regen.run`` checks before it starts."""
    return preflight.check(_site(lab, ssh), state_dir())


def prove(lab: Lab, progress: Progress) -> Report:
    """The proof and report of the lab's last run, again (the lab's lock held)."""
    with hold(lab.name):
        return proven.prove(site_of(lab), state_dir(), progress)


def roll_back(lab: Lab, progress: Progress, ssh: bool = False) -> Report:
    """Roll a run that failed back, prove it, write the report (the lab's lock held)."""
    with hold(lab.name):
        return proven.roll_back(_site(lab, ssh), state_dir(), progress)


def rehearse(spec: LabSpec, keep: bool = False, progress: Progress | None = None,
             skip: tuple[str, ...] = (), mode: str = "full") -> Report:
    """A fresh lab, the procedure (``mode``: full, or extend), its proof and report. The lab is
    removed when the rehearsal passes, and kept when it fails (or with ``keep``) for inspection."""
    progress = progress or Progress()
    with fresh_lab(spec, progress, keep) as (lab, verdict):
        options = RunOptions(skip=skip, mode=mode, autosign=spec.site.autosign if spec.site else False)
        result = regenerate(lab, progress, options, ssh=spec.ssh)
        verdict.passed = result.passed
        return result
