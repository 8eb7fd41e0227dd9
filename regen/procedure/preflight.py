"""Preflight: what must hold on a site before its regeneration starts, read before anything
changes. Every host answers; the servers' services run; no host's clock is far from the
master's (the new CA's CRL is not back-dated: a host behind it refuses it); the CA host and
this machine have room for the backup. Shown with them, as warnings: each host's Puppet version,
the CA's and each host's certificate expiry (an expired CA is a reason to regenerate, not a
bar), the master's alt names, requests pending on the CA (they are for the old CA: lost by the
wipe), agents whose daemon is stopped. The run goes ahead only when nothing FAILs.

``invoke regen.check`` prints the table; ``steps.run`` refuses to start a run (not a resume)
when a check fails."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import CommandFailed, RegenLabError
from ..core.wait import parallel
from ..ops import pki, puppet, puppet_ca, puppet_reports
from .roles import ROLES
from .site import Host, Site

OK, WARN, FAIL = "ok", "warn", "FAIL"
CLOCK_WARN, CLOCK_FAIL = 2.0, 60.0  # s from the master's clock
STEP_ID = "pre"  # its id in a run's transcript and runbook
TITLE = "preflight: hosts, services, clocks, disk, certificates"
EXPIRY_WARN_DAYS = 30
REACH_TIMEOUT = 30
LIMIT = 8  # hosts probed at once
# Puppet's version without loading Puppet (0.05 s, where `puppet --version` takes 0.9 s of CPU):
# its version file, with the all-in-one packages' own Ruby first on the PATH
VERSION = ('PATH="/opt/puppetlabs/puppet/bin:$PATH" ruby -e \'require "puppet/version"; puts Puppet.version\' '
           '2>/dev/null || PATH="$PATH:/opt/puppetlabs/bin" exec puppet --version')
# the servers whose main service (their role's first) must run for the procedure to start
# (an agent's daemon: a warning); PuppetDB counts once its status service says running
REQUIRED = ("server", "compiler", "puppetdb", "postgres", "broker")


def _running(host: Host, role: str, service: str) -> bool:
    if role == "puppetdb":
        return puppet_reports.puppetdb_state(host.executor) == "running"
    return puppet.service_running(host.executor, service)


class PreflightFailed(RegenLabError):
    """A check that bars the run failed (exit 3: the site is not in a state to proceed)."""


@dataclass(frozen=True)
class Check:
    host: str  # a host's name, or "site" for what concerns the whole site
    check: str
    status: str  # ok, warn, FAIL
    detail: str


@dataclass(frozen=True)
class Preflight:
    site: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def summary(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in (OK, WARN, FAIL)}
        said = f"{counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failed"
        return f"preflight of {self.site}: {said}: " + ("the run can go ahead" if self.ok else "the run cannot start")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:240]


def _expiry(host: str, what: str, info: pki.CertInfo, now: datetime) -> Check:
    days = (info.not_after - now).total_seconds() / 86400
    when = info.not_after.strftime("%Y-%m-%d")
    if days < 0:
        return Check(host, what, WARN, f"EXPIRED on {when} ({-days:.0f} days ago)")
    return Check(host, what, WARN if days < EXPIRY_WARN_DAYS else OK, f"expires {when} (in {days:.0f} days)")


def clock_offset(host: Host) -> float:
    """The host's clock minus this machine's, in seconds (the exec's round trip halved)."""
    t0 = time.time()
    res = host.executor.run(["date", "+%s.%N"], timeout=REACH_TIMEOUT)
    t1 = time.time()
    return float(res.stdout.strip()) - (t0 + t1) / 2


def _probe(site: Site, host: Host, role: str, now: datetime, master_offset: float) -> list[Check]:
    """Every check of one host; a host that does not answer is one FAIL."""
    name = host.name
    try:
        offset = clock_offset(host)
    except (CommandFailed, ValueError) as exc:
        return [Check(name, "reachable", FAIL, f"no answer: {_one_line(exc)}")]
    out = [Check(name, "reachable", OK, role)]
    if host is not site.ca:
        skew = offset - master_offset
        status = FAIL if abs(skew) > CLOCK_FAIL else WARN if abs(skew) > CLOCK_WARN else OK
        out.append(Check(name, "clock", status, f"{skew:+.1f} s from the master's"
                         + (" (its certs and the new CA's CRL may not be valid yet there)" if status != OK else "")))
    if role in REQUIRED:
        service = ROLES[role].services[0]
        up = _running(host, role, service)
        out.append(Check(name, "service", OK if up else FAIL, f"{service} {'running' if up else 'NOT running'}"))
    elif role == "agent":
        up = puppet.service_running(host.executor, "puppet")
        out.append(Check(name, "service", OK if up else WARN,
                         "puppet (agent daemon) " + ("running" if up else "stopped: step 3.s will start it")))
    if role == "postgres":
        return out
    version = host.executor.run(["sh", "-c", VERSION], check=False, timeout=REACH_TIMEOUT)
    out.append(Check(name, "puppet", OK if version.exit_code == 0 else WARN,
                     f"Puppet {version.stdout.strip()}" if version.exit_code == 0 else "`puppet --version` failed"))
    try:
        info = pki.info(pki.load_certs(host.executor.read_file(host.cert), host.cert)[0])
    except RegenLabError as exc:
        return [*out, Check(name, "cert", WARN, f"no readable cert at {host.cert}: {_one_line(exc)}")]
    return [*out, _expiry(name, "cert", info, now)]


def _guarded(host: str, what: str, probe: Callable[[], list[Check]]) -> list[Check]:
    """A check that cannot be made (a file missing, a command failing) is a FAIL that says why."""
    try:
        return probe()
    except (RegenLabError, ValueError) as exc:
        return [Check(host, what, FAIL, f"could not check: {_one_line(exc)}")]


def _master(site: Site, state_root: Path, now: datetime) -> list[Check]:
    """The CA's expiry and alt names, requests pending on it, room for the backup."""
    ca, where, name = site.ca.executor, site.ca.layout, site.ca.name

    def ca_cert() -> list[Check]:
        bundle = pki.load_certs(ca.read_file(where.cacert), where.cacert)
        return [_expiry("site", "CA", pki.info(pki.root_of(bundle)), now)]

    def alt_names() -> list[Check]:
        master = pki.info(pki.load_certs(ca.read_file(site.ca.cert), site.ca.cert)[0])
        alt = [n for n in master.dns_names if n != site.ca.certname]
        return [Check(name, "alt names", OK, ", ".join(alt) or "none (agents must use its certname)")]

    def requests() -> list[Check]:
        pending = sorted(puppet_ca.pending_requests(site.authority))
        return [Check(name, "requests", WARN if pending else OK,
                      f"{len(pending)} pending, made for the old CA (lost by the wipe): {', '.join(pending[:8])}"
                      if pending else "none pending")]

    def disk() -> list[Check]:  # the backup: a tarball in /root on the CA host, then a copy here
        res = ca.run(["sh", "-c", 'du -sk "$1" "$2" | awk \'{s+=$1} END {print s}\'; '
                      'df -Pk /root | awk \'NR==2 {print $4}\'', "sh", where.cadir, where.ssldir],
                     timeout=REACH_TIMEOUT)
        size_k, free_k = (int(x) for x in res.stdout.split()[:2])
        need_k = 2 * size_k + 1024
        here = shutil.disk_usage(state_root if state_root.exists() else state_root.parent).free // 1024
        return [Check(name, "disk", OK if free_k >= need_k else FAIL,
                      f"{free_k // 1024} MiB free in /root for a backup of {size_k} KiB"),
                Check("site", "disk here", OK if here >= need_k else FAIL,
                      f"{here // 1024} MiB free in {state_root} for the backups")]

    return [c for what, probe in (("CA", ca_cert), ("alt names", alt_names), ("requests", requests),
                                  ("disk", disk)) for c in _guarded(name, what, probe)]


def check(site: Site, state_root: Path, now: datetime | None = None) -> Preflight:
    """Every check of the site, read only: nothing on any host changes."""
    now = now or datetime.now(UTC)
    try:
        master_offset = clock_offset(site.ca)
    except (CommandFailed, ValueError) as exc:
        return Preflight(site.name, (Check(site.ca.name, "reachable", FAIL,
                                           f"the master does not answer: {_one_line(exc)}"),))

    def probe(host: Host, role: str) -> list[Check]:
        return _guarded(host.name, role, lambda: _probe(site, host, role, now, master_offset))

    checks = parallel(site.roles(), lambda hr: probe(*hr), limit=LIMIT)
    rows = [c for per_host in checks for c in per_host]
    if site.ca.name in {c.host for c in rows if c.check == "reachable" and c.status == OK}:
        rows = _master(site, state_root, now) + rows
    return Preflight(site.name, tuple(rows))


def require(site: Site, state_root: Path) -> Preflight:
    """The checks before a run: raise PreflightFailed, naming each failed check, unless it can go ahead."""
    result = check(site, state_root)
    if not result.ok:
        raise PreflightFailed(f"{result.summary()}: " + "; ".join(f"{c.host}: {c.check}: {c.detail}"
                                                                  for c in result.failed))
    return result
