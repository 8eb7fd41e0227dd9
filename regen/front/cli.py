"""Regen Lab's commands (invoke's tasks): ``invoke TASK`` in the checkout (``tasks.py``), or
``regenlab TASK`` from any folder once the package is installed. Thin: parse arguments, call
one job or library function, print.

    invoke lab.up [--name NAME] [--agents N] [--suite SUITE] [--agent-suite SUITE] [--keep] [--publish] [--ssh]
    invoke lab.status [--name NAME] [--json]
    invoke lab.logs [--name NAME] NODE|all
    invoke lab.down [--name NAME]
    invoke images.build [--suite SUITE]
    invoke engine.ensure
    invoke regen.run [--name NAME] [--agents a,b] [--autosign] [--server-name DNS] [--resume] [--ssh]
    invoke regen.run --site FILE --ssh [--known-hosts F] [--identity F] [--dry-run] [--autosign] [--resume]
    invoke regen.check [--name NAME] [--ssh] | --site FILE --ssh [--known-hosts F] [--identity F]
    invoke regen.plan [--name NAME] | --site FILE
    invoke regen.rollback [--name NAME] [--ssh] | --site FILE --ssh [--known-hosts F] [--identity F]
    invoke regen.backups [--name NAME] [--keep N]
    invoke rehearse [--agents N] [--suite SUITE] [--agent-suite SUITE] [--keep] [--scenario NAME] [--ssh]
    invoke scenarios.list
    invoke bench.lab [--cold] [--agents 3,10] [--no-regen]
    invoke bench.regen [--agents 3,10,30,100] [--seed-at 10]
    invoke soak.kill [--trials 30] [--seed S] [--agents 1] [--horizon 60] [--disturb kill,node,engine] [--keep]
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from pathlib import Path

from invoke import Collection, Exit, Program, Task
from invoke import task as invoke_task
from invoke.exceptions import ParseError

from regen.core import junit as junit_lib
from regen.core.commands import command
from regen.core.config import DEFAULT_SUITE
from regen.core.console import table
from regen.core.errors import EXIT_NOT_READY, EXIT_PROOF_FAILED, EXIT_RUN_FAILED, EXIT_USAGE, RegenLabError
from regen.core.progress import Progress
from regen.jobs import bench as bench_lib
from regen.jobs import production, rehearsal
from regen.jobs import scenario as scenario_job
from regen.jobs import soak as soak_lib
from regen.lab import engine as engine_lib
from regen.lab import images as images_lib
from regen.lab import lab as lab_lib
from regen.lab import provision
from regen.lab import spec as lab_spec
from regen.procedure import backups as backups_lib
from regen.procedure import report as report_lib
from regen.scenarios import format as scenario_lib
from regen.scenarios import runner as scenario_runner
from regen.sites import format as sites_lib

NAME_HELP = "the lab's name (default: regenlab)"
SITE_HELP = "a site file (a path, or the name of one of examples/): the lab in its shape, names and versions"
SUITE_HELP = "Debian suite of the server, PuppetDB and PostgreSQL: bookworm (Puppet 7, default) or trixie (Puppet 8)"
AGENT_SUITE_HELP = "the agents' suite, if not the same (a mixed fleet: --suite trixie --agent-suite bookworm)"
MODE_HELP = ("full: every certificate anew (default); extend: the CA's certificates renewed with the same keys, "
             "every host keeping its own cert (a CA about to expire)")
SSH_HELP = ("over SSH: a lab started with --ssh (as user regen, with sudo), or with --site the site file's real hosts "
            "(as its `connect:` says)")
REAL_HELP = {"site": "with --ssh: the site file whose real hosts to work on", "ssh": SSH_HELP,
             "known_hosts": "the hosts' SSH keys (default: ~/.ssh/known_hosts); an unknown key is refused",
             "identity": "the SSH private key to log in with (default: the SSH agent's and ~/.ssh's)"}


# One meaning per short flag, in every task; every other option is long only.
SHORT = {"name": "n", "agents": "a", "site": "i", "keep": "k", "json_": "j", "mode": "m", "resume": "r",
         "scenario": "s", "suite": "u", "tail": "t"}


def _typed(base: type, what: str) -> type:
    """An option's type: a word that is not ``what`` is one clear line, not a traceback (invoke
    casts the value while it parses, before any task runs)."""

    class Typed(base):  # type: ignore[valid-type,misc]
        def __new__(cls, value):
            try:
                return super().__new__(cls, value)
            except (TypeError, ValueError):
                raise ParseError(f"error: {what} is needed here, not {value!r}") from None

    return Typed


Whole = _typed(int, "a whole number")
Seconds = _typed(float, "a number of seconds")


class RegenTask(Task):
    """invoke's Task with the short flags of ``SHORT`` only (invoke would give each option the
    first free letter of its name: `-s` meant --suite, --server-name, --ssh or --scenario)."""

    def arg_opts(self, name, default, taken_names):
        auto, self.auto_shortflags = self.auto_shortflags, False
        try:
            opts = super().arg_opts(name, default, taken_names)
        finally:
            self.auto_shortflags = auto
        short = SHORT.get(name)
        if short and short not in taken_names and (name != "keep" or isinstance(default, bool)):
            opts["names"] = [*opts["names"], short]
        return opts


task = functools.partial(invoke_task, klass=RegenTask)
TAIL, ROOT_CRL_DAYS, SOAK_TRIALS, SOAK_AGENTS = Whole(200), Whole(30), Whole(30), Whole(1)  # typed defaults
SOAK_HORIZON = Seconds(60.0)
AGENTS = Whole(3)  # a lab's agents when not told


def friendly(fn):
    """Every failure is one message on stderr and its exit code (regen.core.errors: 1 a proof
    failed, 2 a usage mistake, 3 the lab or engine cannot proceed, 4 a run failed and can be
    resumed or rolled back): no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RegenLabError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None

    return wrapper


def verdict(report, what: str, name: str) -> None:
    """A run's exit: 0 when its proof passed, 4 when a step failed (resumable), 1 when every
    step ran and a proof failed."""
    if report.passed:
        return
    if report.failed_step:
        raise Exit(f"{what} failed at step {report.failed_step}: see the report above; continue with "
                   f"{command('regen.run', '--resume', name=name)} or undo with {command('regen.rollback', name=name)}",
                   code=EXIT_RUN_FAILED)
    raise Exit(f"{what} failed its proof: see the report above", code=EXIT_PROOF_FAILED)


SCENARIOS_HELP = "a folder of your own scenario files, besides scenarios/ (repeat it for several)"
JUNIT_HELP = "also write the result as JUnit XML to PATH (each proof, or each expectation, a test case) for CI"


def _junit(path: str, suite) -> None:
    if path:
        print(f"JUnit XML: {junit_lib.write(Path(path), [suite])}")


OUTPUT_HELP = {"quiet": "no progress lines and no summary: the exit code says it (errors still on stderr)",
               "json_": "print the result as JSON on stdout (the report's schema), nothing else"}


def _progress(quiet: bool, json_: bool) -> Progress:
    return Progress(quiet=quiet or json_)


def _json_out(json_: bool, data: dict) -> None:
    if json_:
        print(json.dumps(data, indent=2))


def _name(c, name):
    return name or c.config.regenlab.name


def _real(site: str, ssh: bool, known_hosts: str, identity: str, name: str):
    """The real hosts of ``--site FILE --ssh`` (None without --site); the options that go with it checked."""
    if not site:
        if known_hosts or identity:
            raise Exit("error: --known-hosts and --identity go with --site FILE --ssh (real hosts)", code=EXIT_USAGE)
        return None
    if not ssh:
        raise Exit("error: --site names real hosts here: they are reached over SSH; add --ssh (a lab of the site's "
                   "shape: `invoke rehearse --site FILE`)", code=EXIT_USAGE)
    _alone("--site", name=name)
    return production.site(site, known_hosts, identity)


def _show_status(lab) -> None:
    """The lab's table, then a line on MCollective and one on expiry dates."""
    rows = lab.status()
    print(table(rows))
    print(lab_lib.mcollective_line(rows))
    print(rehearsal.expiry_line(lab))


def _alone(option: str, **given) -> None:
    """``option`` sets the lab's shape: the options that would too are refused beside it."""
    clash = [f"--{k.replace('_', '-')}" for k, v in given.items() if v]
    if clash:
        raise Exit(f"error: {', '.join(clash)} do not go with {option}: its file sets the lab", code=EXIT_USAGE)


@task(help={"name": NAME_HELP, "agents": "how many agent nodes (default: 3)",
            "suite": SUITE_HELP, "agent_suite": AGENT_SUITE_HELP,
            "keep": "keep the lab when it fails to come up, for inspection",
            "publish": "publish Puppet Server and PuppetDB ports on 127.0.0.1 (random ports)",
            "site": SITE_HELP, "ssh": "start every node's sshd (on 127.0.0.1) for `regen.run --ssh`"})
@friendly
def up(c, name="", agents=AGENTS, suite=DEFAULT_SUITE, agent_suite="", keep=False, publish=False, site="", ssh=False):
    """Start a lab (in a site file's shape with --site); wait until every agent's first run is in PuppetDB."""
    if site:
        _alone("--site", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite)
        spec = lab_spec.LabSpec.of_site(sites_lib.find(site), name, publish, ssh=ssh)
    else:
        spec = lab_spec.LabSpec.parse(_name(c, name), agents, suite=suite,
                                     publish=publish, agent_suite=agent_suite, ssh=ssh)
    progress = Progress()
    client = engine_lib.ensure(progress)
    _show_status(provision.up(client, spec, progress, keep=keep))


@task(help={"name": NAME_HELP, "json": "print JSON instead of a table"})
@friendly
def status(c, name="", json_=False):
    """Show every node of a lab: role, certname, cert serial, CA fingerprint, state."""
    lab_spec.check_name(_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), _name(c, name))
    if json_:
        print(json.dumps([asdict(r) for r in lab.status()], indent=2))
    else:
        _show_status(lab)


@task(positional=["node"], help={"name": NAME_HELP,
                                 "node": "a node (server, puppetdb, postgres, broker, agent-N), or `all`",
                                 "tail": "how many lines per node (default: 200)"})
@friendly
def logs(c, name="", node=None, tail=TAIL):
    """Print a node's log (its services' logs, as `docker logs` shows them)."""
    lab_spec.check_name(_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), _name(c, name))
    every = node == "all"
    for n in lab.nodes if every else [lab.node(node)]:
        if every:
            print(f"===== {n.name}")
        print(lab.logs(n.name, tail=int(tail)), end="")


@task(help={"name": NAME_HELP})
@friendly
def down(c, name=""):
    """Remove every container, network and volume of a lab."""
    lab_spec.check_name(_name(c, name))
    counts = lab_lib.down(engine_lib.connect(), _name(c, name))
    print(f"lab {_name(c, name)} removed: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@task(name="build", help={"suite": "Debian suite: bookworm (Puppet 7) or trixie (Puppet 8)"})
@friendly
def build_images(c, suite=DEFAULT_SUITE):
    """Build the node images that are missing (cached by content hash)."""
    progress = Progress()
    built = images_lib.ensure_images(engine_lib.ensure(progress), suite, progress)
    print(table([(b.name, b.tag, "built" if b.built else "cached", f"{b.seconds:.1f}s") for b in built.values()],
                ["image", "tag", "", "time"]))


@task(name="browser")
@friendly
def ensure_browser(c):
    """Debian's chromium for the HTML report's screenshot test (installed where missing)."""
    print(f"chromium: {engine_lib.ensure_browser(Progress())}")


@task(name="ensure")
@friendly
def ensure_engine(c):
    """Make sure a Docker daemon answers (installs docker.io and starts dockerd as root on Debian)."""
    client = engine_lib.ensure(Progress())
    print(f"Docker engine {client.version()['Version']} answers")


@task(help={"agents": "how many agent nodes (default: 3)", "keep": "keep the lab afterwards",
            "name": "the lab's name (default: regenlab; with --site, the site's name)", "suite": SUITE_HELP,
            "agent_suite": AGENT_SUITE_HELP,
            "scenario": "rehearse this scenario of scenarios/ instead (see `invoke scenarios.list`)",
            "site": SITE_HELP, "ssh": "run the procedure over SSH (each node's sshd, as user regen with sudo)",
            "mode": MODE_HELP, "junit": JUNIT_HELP, "scenarios": SCENARIOS_HELP, **OUTPUT_HELP},
      iterable=["scenarios"])
@friendly
def rehearse(c, agents=AGENTS, keep=False, name="", scenario="", suite=DEFAULT_SUITE, agent_suite="", site="",
             ssh=False, mode="full", junit="", scenarios=None, quiet=False, json_=False):
    """The main job: lab up, the whole regeneration (or a scenario), its proof, report and runbook, lab down."""
    rehearsal.run_options("", "", mode)
    progress = _progress(quiet, json_)
    if site:
        _alone("--site", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite,
               scenario=scenario)
        spec = lab_spec.LabSpec.of_site(sites_lib.find(site), name, ssh=ssh)
        result = rehearsal.rehearse(spec, keep=keep, mode=mode, progress=progress)
        _junit(junit, report_lib.junit(result))
        _json_out(json_, report_lib.to_json(result))
        verdict(result, "the rehearsal (its lab is kept)", spec.name)
        return
    if scenario:
        _alone("--scenario", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite, ssh=ssh,
               mode=mode != "full")
        scn = scenario_lib.find(scenario, [Path(f) for f in scenarios or ()])
        done = scenario_job.rehearse(scn, lab_spec.check_name(_name(c, name)), keep=keep, progress=progress)
        _junit(junit, scenario_runner.junit(done))
        _json_out(json_, asdict(done) | {"passed": done.passed})
        if not done.passed:
            raise Exit(f"scenario {scn.name} failed: see its expectations above", code=EXIT_PROOF_FAILED)
        return
    spec = lab_spec.LabSpec.parse(_name(c, name), agents, suite=suite,
                                 agent_suite=agent_suite, ssh=ssh)
    result = rehearsal.rehearse(spec, keep=keep, mode=mode, progress=progress)
    _junit(junit, report_lib.junit(result))
    _json_out(json_, report_lib.to_json(result))
    verdict(result, "the rehearsal (its lab is kept)", spec.name)


@task(name="list", help={"scenarios": SCENARIOS_HELP}, iterable=["scenarios"])
@friendly
def scenarios_list(c, scenarios=None):
    """Every scenario (scenarios/, and your own folders): its name and what it rehearses (each file validated)."""
    paths = scenario_lib.all_paths([Path(f) for f in scenarios or ()])
    rows = [(s.name, s.summary) for s in (scenario_lib.load(p) for p in paths)]
    print(table(rows, ["scenario", "what it rehearses"]))


@task(name="run", help={"name": NAME_HELP,
                        "agents": "re-enroll only these agents (comma-separated), keeping the CA",
                        "autosign": "the CA autosigns: no `puppetserver ca sign` step",
                        "server_name": "the master has moved: its new DNS name, for its new cert's alt names "
                                       "and every host's `server` setting",
                        "resume": "continue an interrupted run from its state file",
                        "dry_run": "with --site FILE --ssh: the preflight and the steps, changing nothing",
                        "mode": MODE_HELP,
                        "ca_import": "the new CA is this import set's intermediate (`puppetserver ca import`): a "
                                     "folder of cert-bundle.pem, private-key.pem, crl-chain.pem (see regen.root)",
                        "junit": JUNIT_HELP, **REAL_HELP, **OUTPUT_HELP})
@friendly
def regen_run(c, name="", agents="", autosign=False, server_name="", resume=False, ssh=False, site="",
              known_hosts="", identity="", dry_run=False, mode="full", ca_import="", junit="", quiet=False,
              json_=False):
    """Run the regeneration on a lab that is up (or, with --site FILE --ssh, on real hosts), prove it, report."""
    real = _real(site, ssh, known_hosts, identity, name)
    chosen = rehearsal.run_options(agents, server_name, mode, ca_import)
    mode_options = {"mode": mode, **({"ca_import": ca_import} if ca_import else {})}
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
        result = production.regenerate(real, _progress(quiet, json_), agents=chosen, autosign=autosign,
                                       resume=resume, server_name=server_name or None, **mode_options)
        _junit(junit, report_lib.junit(result))
        _json_out(json_, report_lib.to_json(result))
        verdict(result, "the regeneration", real.name)
        return
    if dry_run:
        raise Exit("error: --dry-run goes with --site FILE --ssh (real hosts); on a lab: `invoke regen.plan`",
                   code=EXIT_USAGE)
    lab_spec.check_name(_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), _name(c, name))
    result = rehearsal.regenerate(lab, _progress(quiet, json_), ssh=ssh, agents=chosen, autosign=autosign,
                                  resume=resume, server_name=server_name or None, **mode_options)
    _junit(junit, report_lib.junit(result))
    _json_out(json_, report_lib.to_json(result))
    verdict(result, "the regeneration", _name(c, name))


@task(name="root", help={"name": NAME_HELP,
                         "root_crl_days": "how long the root's CRL is valid (default: 30)",
                         "renew_crl": "only a new CRL of the root, put in the import set's chain and submitted "
                                      "to the lab's Puppet Server"})
@friendly
def regen_root(c, name="", root_crl_days=ROOT_CRL_DAYS, renew_crl=False):
    """An external root and a new intermediate it signs for Puppet: the import set for `regen.run --ca-import`.

    The root is made once per lab and kept here, owner-only."""
    lab_spec.check_name(_name(c, name))
    print(rehearsal.external_root(_name(c, name), int(root_crl_days), renew_crl,
                                  lambda: lab_lib.Lab.open(engine_lib.connect(), _name(c, name))))


@task(name="check", help={"name": NAME_HELP, **REAL_HELP})
@friendly
def regen_check(c, name="", ssh=False, site="", known_hosts="", identity=""):
    """Preflight, changing nothing: hosts, services, clocks, disk, certificate expiry, pending requests."""
    real = _real(site, ssh, known_hosts, identity, name)
    if real is not None:
        result = production.check(real)
    else:
        lab_spec.check_name(_name(c, name))
        result = rehearsal.check(lab_lib.Lab.open(engine_lib.connect(), _name(c, name)), ssh=ssh)
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
    lab_spec.check_name(_name(c, name))
    print(f"runbook: {rehearsal.plan(lab_lib.Lab.open(engine_lib.connect(), _name(c, name)))}")


@task(name="rollback", help={"name": NAME_HELP, **REAL_HELP})
@friendly
def regen_rollback(c, name="", ssh=False, site="", known_hosts="", identity=""):
    """Roll back a run that failed before any agent was touched: the old CA back, proven, reported.

    The master's CA and ssldir come back from the verified backup, the other hosts' TLS files from
    step 1.0's, and Puppet Server starts under the old CA."""
    real = _real(site, ssh, known_hosts, identity, name)
    if real is not None:
        result = production.roll_back(real, Progress())
    else:
        lab_spec.check_name(_name(c, name))
        lab = lab_lib.Lab.open(engine_lib.connect(), _name(c, name))
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


@task(name="lab", help={"cold": "remove every Regen Lab image first and time a build from nothing",
                        "agents": "lab sizes to time, comma-separated (default: 3,10)",
                        "regen": "also time the full regeneration on each lab (default: yes)"})
@friendly
def bench_lab(c, cold=False, agents="3,10", regen=True):
    """Benchmark: image builds, lab up to all-ready, memory per container, the regeneration's steps."""
    try:
        sizes = [int(a) for a in str(agents).split(",") if a.strip()]
    except ValueError:
        raise Exit(f"error: --agents takes lab sizes like 3,10, not {agents!r}", code=EXIT_USAGE) from None
    bench_lib.run(cold=cold, sizes=sizes, regen=regen)


@task(name="regen", help={"agents": "lab sizes, comma-separated (default: 3,10,30,100)",
                          "seed_at": "the size at which the seed's literal sequence also runs (default: 10; 0: none)",
                          "agent_keys": "the agents' keys, comma-separated: default (Puppet's, RSA 4096), rsa:2048, "
                                        "rsa:3072, ec; each is run at every size (default: default)",
                          "keylength": "every host's RSA keys (the CA's too), comma-separated bits: 0 (Puppet's, "
                                       "4096), 2048, ...; each is run at every size (default: 0)"})
@friendly
def bench_regen(c, agents="3,10,30,100", seed_at=10, agent_keys="default", keylength="0"):
    """Benchmark of the regeneration per lab size: lab up, each step, downtime, marginal agent, CPU, memory.

    Beside it, the seed's literal sequence on the same lab."""
    try:
        sizes = [int(a) for a in str(agents).split(",") if a.strip()]
        seed_size = int(seed_at)
        bits = tuple(int(b) for b in str(keylength).split(",") if b.strip()) or (0,)
    except ValueError:
        raise Exit(f"error: --agents takes lab sizes like 3,10, --seed-at a size and --keylength bits, not "
                   f"{agents!r} / {seed_at!r} / {keylength!r}", code=EXIT_USAGE) from None
    keys = tuple(k.strip() for k in str(agent_keys).split(",") if k.strip()) or ("default",)
    for n in sizes:
        for k in keys:  # the same bounds as lab.up, before anything starts
            spec = lab_spec.LabSpec.parse(f"bench-{n}", n, agent_keys=k)
            for b in (b for b in bits if b):
                spec.with_keylength(b)  # a bad size refused here, before any lab starts
    bench_lib.regen(sizes, seed_size if seed_size in sizes else None, agent_keys=keys, keylengths=bits)


@task(name="kill", help={"trials": "how many kills (default: 30)",
                         "seed": "replay the kill instants of an earlier soak (printed at its start)",
                         "agents": "agents in the soak's lab (default: 1)",
                         "horizon": "kills fall in [0, HORIZON) seconds after the run starts (default: 60)",
                         "name": NAME_HELP, "keep": "keep the lab afterwards",
                         "disturb": "kill,node,engine (default: all three): every 10th trial restarts the engine "
                                    "(this machine's own dockerd only; every lab on it restarts), every 5th from the "
                                    "3rd a node, the others kill",
                         "first": "replay from this trial (with --seed: the trials before it are drawn, not run)"})
@friendly
def soak_kill(c, trials=SOAK_TRIALS, seed=None, agents=SOAK_AGENTS, horizon=SOAK_HORIZON, name="", keep=False,
              disturb="kill,node,engine", first=1):
    """The kill-anywhere soak: runs killed or disturbed at random instants, then resumed or rolled back.

    regen.run SIGKILLed, a node or the engine restarted; each trial's proof passes, every backup whole."""
    name = _name(c, name)
    lab_spec.check_name(name)
    kinds = tuple(k.strip() for k in disturb.split(",") if k.strip())
    if not kinds or set(kinds) - set(soak_lib.DISTURBANCES):
        raise Exit(f"error: --disturb takes some of {','.join(soak_lib.DISTURBANCES)}, not {disturb!r}",
                   code=EXIT_USAGE)
    try:
        n, count, span = int(trials), int(agents), float(horizon)
        replay = None if seed is None else int(seed)
    except ValueError:
        raise Exit("error: --trials, --agents and --seed take whole numbers, --horizon seconds", code=EXIT_USAGE) \
            from None
    lab_spec.LabSpec.parse(name, count)
    try:
        start = int(first)
    except ValueError:
        raise Exit(f"error: --first takes a trial's number, not {first!r}", code=EXIT_USAGE) from None
    done = soak_lib.kill_soak(n, replay, count, span, name, keep, disturbances=kinds, first=start)
    if len(done) < n - start + 1 or not all(t.passed for t in done):
        raise Exit("the soak lost something: see the trial that failed above", code=EXIT_PROOF_FAILED)


lab = Collection("lab", up, status, logs, down)
regen = Collection("regen", regen_run, regen_check, regen_plan, regen_rollback, regen_backups, regen_root)
images = Collection("images", build_images)
engine = Collection("engine", ensure_engine, ensure_browser)
bench = Collection("bench", bench_lab, bench_regen)
soak = Collection("soak", soak_kill)
scenarios = Collection("scenarios", scenarios_list)
ns = Collection(rehearse, lab, regen, images, engine, bench, soak, scenarios)
ns.configure({"regenlab": {"name": "regenlab"}})


def main() -> None:
    """The `regenlab` command: the same tasks as `invoke` in the checkout, from any folder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("regenlab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        release = "unknown"
    Program(namespace=ns, name="Regen Lab", binary="regenlab", version=release).run()


if __name__ == "__main__":
    main()
