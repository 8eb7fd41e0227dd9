"""A run with its proof and report: the procedure (or a rollback) on a Site, then the proof
of what it left, then the report, written and shown. A run that fails still gets its proof
and report: they show what broke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..core.errors import BadInput, CommandFailed, RegenLabError
from ..core.progress import Progress
from ..core.transcript import Transcript
from ..core.wait import parallel
from ..ops import pki
from . import proof, report, rollback
from .roles import ROLES
from .runner import Interrupted, ProcedureStateError, RunState, prime_layouts, state_path, transcript_path
from .site import Host, Site
from .steps import running
from .steps.options import RunOptions


def regenerate(site: Site, state_root: Path, progress: Progress, options: RunOptions | None = None) -> report.Report:
    """Run (or resume) the procedure on a site as ``options`` say, prove it, write and show the report."""
    return _proven(site, state_root, progress, lambda: running.run(site, state_root, options, progress))


def roll_back(site: Site, state_root: Path, progress: Progress) -> report.Report:
    """Restore the master of a failed run from its verified backup, prove that the old CA
    works again and nothing was lost, write and show the report."""
    return _proven(site, state_root, progress, lambda: rollback.rollback(site, state_root, progress))


def prove(site: Site, state_root: Path, progress: Progress) -> report.Report:
    """The proof and report of the lab's last run as its state file has it (a run whose
    procedure finished, but whose proof was cut short)."""
    path = state_path(state_root, site.name)
    if not path.exists():
        raise ProcedureStateError(f"no run of {site.name!r} to prove: no state file {path}")
    def load() -> RunState:
        state = RunState.load(path)
        prime_layouts(site, state)
        return state

    return _proven(site, state_root, progress, load)


def inventory(site: Site) -> list[report.HostRow]:
    """Each host's part, its role's Debian package and that package's version (`dpkg-query`);
    "?" where the host does not answer."""

    def one(item: tuple[Host, str]) -> report.HostRow:
        host, role = item
        package = ROLES[role].package
        res = host.executor.run(["dpkg-query", "-W", "-f", "${Version}", package], check=False, timeout=30)
        return report.HostRow(host.name, role, package, res.stdout.strip() if res.exit_code == 0 else "?")

    return parallel(site.roles(), one)


def expiry(site: Site) -> report.Expiry:
    """When the CA (its earliest certificate: root or intermediate), the master's cert and the
    earliest of the other hosts' certs expire, as each host holds them now ("?" where one
    cannot be read)."""

    def not_after(host: Host, path: Callable[[Host], str]) -> datetime | None:
        try:
            return min(pki.info(c).not_after for c in pki.load_certs(host.executor.read_file(path(host))))
        except (CommandFailed, BadInput):  # a host down, a file missing
            return None

    def day(when: datetime | None) -> str:
        return when.strftime("%Y-%m-%d") if when else "?"

    others = [h for h in site.all_hosts if h is not site.ca]
    dates = parallel(others, lambda h: not_after(h, lambda one: site.cert_paths(one)[0]))
    known = [(d, h.name) for d, h in zip(dates, others, strict=True) if d is not None]
    earliest = min(known, default=None)
    return report.Expiry(ca=day(not_after(site.ca, lambda ca: ca.layout.cacert)),
                         master=day(not_after(site.ca, lambda ca: ca.cert)),
                         earliest_host=f"{day(earliest[0])} ({earliest[1]})" if earliest else "?")


def _touched(state_root: Path, name: str, mode: str) -> dict[str, list[str]]:
    """Each step's hosts, from the run's transcript, for the report's timeline (none for a
    rollback, whose transcript is the failed run's; none if it cannot be read)."""
    path = transcript_path(state_root, name)
    if mode == "rollback" or not path.exists():
        return {}
    try:
        return report.touched_hosts(Transcript.load(path))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _proven(site: Site, state_root: Path, progress: Progress, act: Callable[[], RunState]) -> report.Report:
    try:
        state = act()
    except (Interrupted, ProcedureStateError):
        raise
    except RegenLabError as exc:
        progress.say(f"the procedure failed: {exc}")
        path = state_path(state_root, site.name)
        if not path.exists():
            raise
        state = RunState.load(path)
    # the paths step 0 read on each host, given to these executors too (the run's own were
    # wrapped to note its commands): a host down since is not asked again
    prime_layouts(site, state)
    with progress.step("proof"):
        proofs = proof.prove(site, state)
    result = report.build(state, proofs, site.description, inventory(site), expiry(site))
    json_path, md_path = report.write(result, state_root)
    html_path = report.write_html(result, state_root, _touched(state_root, site.name, state.mode))
    progress.show(report.summary(result))
    progress.say(f"report: {md_path}, {html_path.name} and {json_path.name}")
    return result
