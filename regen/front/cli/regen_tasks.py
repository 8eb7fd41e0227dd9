"""`regen.*`: the procedure run (on a lab or, over SSH, a site's real hosts), checked, written
up as a runbook, rolled back; the backups listed; an organisation's root for `--ca-import`."""


from __future__ import annotations

from invoke import Collection, Exit

from regen.core.commands import command
from regen.core.console import table
from regen.core.errors import EXIT_NOT_READY, EXIT_PROOF_FAILED, EXIT_USAGE
from regen.core.progress import Progress
from regen.jobs import production, rehearsal
from regen.lab import engine as engine_lib
from regen.lab import lab as lab_lib
from regen.lab import spec as lab_spec
from regen.procedure import backups as backups_lib
from regen.procedure import report as report_lib
from regen.sites import format as sites_lib

from .common import (
    JUNIT_HELP,
    MODE_HELP,
    NAME_HELP,
    OUTPUT_HELP,
    REAL_HELP,
    ROOT_CRL_DAYS,
    friendly,
    lab_name,
    print_json,
    progress_for,
    real_site,
    task,
    verdict,
    write_junit,
)


@task(name="run", help={"name": NAME_HELP,
                        "agents": "re-enroll only these agents (comma-separated), keeping the CA",
                        "autosign": "the CA autosigns: no `puppetserver ca sign` step",
                        "server_name": "the master has moved: its new DNS name, for its new cert's alt names "
                                       "and every host's `server` setting",
                        "resume": "continue an interrupted run from its state file",
                        "redo": "with --resume: run these steps again (comma-separated, e.g. 2.3), the run finished "
                                "or not: the fix of a step skipped or done wrong",
                        "dry_run": "with --site FILE --ssh: the preflight and the steps, changing nothing",
                        "mode": MODE_HELP,
                        "ca_import": "the new CA is this import set's intermediate (`puppetserver ca import`): a "
                                     "folder of cert-bundle.pem, private-key.pem, crl-chain.pem (see regen.root)",
                        "junit": JUNIT_HELP, **REAL_HELP, **OUTPUT_HELP})
@friendly
def regen_run(c, name="", agents="", autosign=False, server_name="", resume=False, ssh=False, site="",
              known_hosts="", identity="", dry_run=False, mode="full", ca_import="", junit="", quiet=False,
              json_=False, redo=""):
    """Run the regeneration on a lab that is up (or, with --site FILE --ssh, on real hosts), prove it, report."""
    real = real_site(site, ssh, known_hosts, identity, name)
    options = rehearsal.run_options(agents, server_name, mode, ca_import, autosign, resume, redo)
    if real is not None:
        if dry_run:
            found, steps, book = production.dry_run(real, mode)
            print(table(list(found.checks)))
            print(found.summary())
            print(table([(s.id, s.title) for s in steps], ["step", "what it does"]))
            print(f"the commands, host by host: {book}" if book else
                  f"no runbook of this site yet: {command('regen.plan', '--site', site)} makes one")
            if not found.ok:
                raise Exit(code=EXIT_NOT_READY)
            return
        result = production.regenerate(real, progress_for(quiet, json_), options)
        write_junit(junit, report_lib.junit(result))
        print_json(json_, report_lib.to_json(result))
        verdict(result, "the regeneration", real.name)
        return
    if dry_run:
        raise Exit("error: --dry-run goes with --site FILE --ssh (real hosts); on a lab: `invoke regen.plan`",
                   code=EXIT_USAGE)
    lab_spec.check_name(lab_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name))
    result = rehearsal.regenerate(lab, progress_for(quiet, json_), options, ssh=ssh)
    write_junit(junit, report_lib.junit(result))
    print_json(json_, report_lib.to_json(result))
    verdict(result, "the regeneration", lab_name(c, name))


@task(name="root", help={"name": NAME_HELP,
                         "root_crl_days": "how long the root's CRL is valid (default: 30)",
                         "renew_crl": "only a new CRL of the root, put in the import set's chain and submitted "
                                      "to the lab's Puppet Server"})
@friendly
def regen_root(c, name="", root_crl_days=ROOT_CRL_DAYS, renew_crl=False):
    """An external root and a new intermediate it signs for Puppet: the import set for `regen.run --ca-import`.

    The root is made once per lab and kept here, owner-only."""
    lab_spec.check_name(lab_name(c, name))
    print(rehearsal.external_root(lab_name(c, name), int(root_crl_days), renew_crl,
                                  lambda: lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name))))


@task(name="check", help={"name": NAME_HELP, **REAL_HELP})
@friendly
def regen_check(c, name="", ssh=False, site="", known_hosts="", identity=""):
    """Preflight, changing nothing: hosts, services, clocks, disk, certificate expiry, pending requests."""
    real = real_site(site, ssh, known_hosts, identity, name)
    if real is not None:
        result = production.check(real)
    else:
        lab_spec.check_name(lab_name(c, name))
        result = rehearsal.check(lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name)), ssh=ssh)
    print(table(list(result.checks)))
    print(result.summary())
    if not result.ok:
        raise Exit(code=EXIT_NOT_READY)


@task(name="plan", help={"name": "the lab whose last run to write up (default: regenlab)",
                         "site": "rehearse this site file on a lab of its shape, and write up that run"})
@friendly
def regen_plan(c, name="", site=""):
    """The runbook: each step's commands host by host, with its checks, waits and recovery, from a real run.

    Markdown and one script per host, made of a new rehearsal of --site FILE, or of a lab's last run."""
    if site:
        spec = lab_spec.LabSpec.of_site(sites_lib.find(site), name)
        result = rehearsal.rehearse(spec)
        verdict(result, "the rehearsal the runbook comes from (its lab is kept)", spec.name)
        print(f"runbook: {rehearsal.runbook_path(spec.name)}")
        return
    lab_spec.check_name(lab_name(c, name))
    print(f"runbook: {rehearsal.plan(lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name)))}")


@task(name="rollback", help={"name": NAME_HELP, **REAL_HELP})
@friendly
def regen_rollback(c, name="", ssh=False, site="", known_hosts="", identity=""):
    """Roll back a run that failed before any agent was touched: the old CA back, proven, reported.

    The master's CA and ssldir come back from the verified backup, the other hosts' TLS files from
    step 1.0's, and Puppet Server starts under the old CA."""
    real = real_site(site, ssh, known_hosts, identity, name)
    if real is not None:
        result = production.roll_back(real, Progress())
    else:
        lab_spec.check_name(lab_name(c, name))
        lab = lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name))
        result = rehearsal.roll_back(lab, Progress(), ssh=ssh)
    if not result.passed:
        raise Exit("the rollback failed: see the report above", code=EXIT_PROOF_FAILED)


@task(name="backups", help={"name": "only this lab's backups (default: every lab's)",
                            "keep": "remove all but the N newest backups of each lab (one an unfinished run "
                                    "needs is always kept)"})
@friendly
def regen_backups(c, name="", keep=None):
    """List the backups on this machine (lab, run, of what, age, size, CA or parts); prune with --keep N runs."""
    if name:
        lab_spec.check_name(name)
    try:
        count = None if keep is None else int(keep)
    except ValueError:
        raise Exit(f"error: --keep takes a number of backups, not {keep!r}", code=EXIT_USAGE) from None
    kept, removed = rehearsal.backups(name or None, count)
    for b in removed:
        print(f"removed {b.path}")
    print(table([b.row() for b in kept], backups_lib.HEADERS))


regen = Collection("regen", regen_run, regen_check, regen_plan, regen_rollback, regen_backups, regen_root)
