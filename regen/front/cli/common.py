"""What every command shares: the options' help and short flags, typed defaults, one
friendly error line per failure, a run's verdict and exit code, its JUnit and JSON output, a
lab's name, a real site over SSH."""


from __future__ import annotations

import functools
import json
from pathlib import Path

from invoke import Exit, Task
from invoke import task as invoke_task
from invoke.exceptions import ParseError

from regen.core import junit as junit_lib
from regen.core.commands import command
from regen.core.console import table
from regen.core.errors import EXIT_PROOF_FAILED, EXIT_RUN_FAILED, EXIT_USAGE, RegenLabError
from regen.core.progress import Progress
from regen.jobs import production, rehearsal
from regen.lab import lab as lab_lib

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


def write_junit(path: str, suite) -> None:
    if path:
        print(f"JUnit XML: {junit_lib.write(Path(path), [suite])}")


OUTPUT_HELP = {"quiet": "no progress lines and no summary: the exit code says it (errors still on stderr)",
               "json_": "print the result as JSON on stdout (the report's schema), nothing else"}


def progress_for(quiet: bool, json_: bool) -> Progress:
    return Progress(quiet=quiet or json_)


def print_json(json_: bool, data: dict) -> None:
    if json_:
        print(json.dumps(data, indent=2))


def lab_name(c, name):
    return name or c.config.regenlab.name


def real_site(site: str, ssh: bool, known_hosts: str, identity: str, name: str):
    """The real hosts of ``--site FILE --ssh`` (None without --site); the options that go with it checked."""
    if not site:
        if known_hosts or identity:
            raise Exit("error: --known-hosts and --identity go with --site FILE --ssh (real hosts)", code=EXIT_USAGE)
        return None
    if not ssh:
        raise Exit("error: --site names real hosts here: they are reached over SSH; add --ssh (a lab of the site's "
                   "shape: `invoke rehearse --site FILE`)", code=EXIT_USAGE)
    alone("--site", name=name)
    return production.site(site, known_hosts, identity)


def show_status(lab) -> None:
    """The lab's table, then a line on MCollective and one on expiry dates."""
    rows = lab.status()
    print(table(rows))
    print(lab_lib.mcollective_line(rows))
    print(rehearsal.expiry_line(lab))


def alone(option: str, **given) -> None:
    """``option`` sets the lab's shape: the options that would too are refused beside it."""
    clash = [f"--{k.replace('_', '-')}" for k, v in given.items() if v]
    if clash:
        raise Exit(f"error: {', '.join(clash)} do not go with {option}: its file sets the lab", code=EXIT_USAGE)
