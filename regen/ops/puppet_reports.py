"""Where runs are reported and how they are read: Puppet Server's and PuppetDB's status
endpoints, PuppetDB's reports (or, without it, the servers' own report store), a wait until
each host's fresh report is in, the server's own errors."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import EXIT_RUN_FAILED, CommandFailed, RegenLabError
from ..core.executor import Executor
from ..core.wait import wait_until
from . import puppet
from .puppet import Layout

# --- status endpoints (asked on the node itself, like an operator's curl) -------------

def server_status(ex: Executor) -> str:
    res = ex.run(["curl", "-sk", "https://127.0.0.1:8140/status/v1/simple"], check=False, timeout=20)
    return res.stdout.strip() if res.exit_code == 0 else "down"


def puppetdb_state(ex: Executor) -> str:
    res = ex.run(["curl", "-s", "http://127.0.0.1:8080/status/v1/services/puppetdb-status"],
                 check=False, timeout=20)
    try:
        return str(json.loads(res.stdout).get("state", "unknown"))
    except (ValueError, AttributeError):
        return "down"


@dataclass(frozen=True)
class ReportSummary:
    """A node's latest report, as PuppetDB or a server's own report store holds it."""

    certname: str
    status: str
    receive_time: str
    producer: str = ""  # the Puppet Server that sent it (a compiler, or the master)


def puppetdb_query(ex: Executor, endpoint: str, query: list | None = None) -> list[dict]:
    """A PuppetDB v4 query over the node-local HTTP port (inside the PuppetDB host)."""
    url = f"http://127.0.0.1:8080/pdb/query/v4/{endpoint}"
    if query is not None:
        url += "?query=" + urllib.parse.quote(json.dumps(query))
    res = ex.run(["curl", "-sf", url], timeout=30)
    return json.loads(res.stdout)


def latest_reports(ex: Executor) -> dict[str, ReportSummary]:
    rows = puppetdb_query(ex, "reports", ["extract", ["certname", "status", "receive_time", "producer"],
                                          ["=", "latest_report?", True]])
    return {r["certname"]: ReportSummary(r["certname"], r["status"], r["receive_time"], r.get("producer") or "")
            for r in rows}


# Puppet Server keeps reports (`reports = store`) under its own `server-var-dir` (puppetserver.conf,
# beside the CA's folder), not where `puppet config print reportdir` points: Debian's
# /var/lib/puppetserver/reports, the all-in-one packages' /opt/puppetlabs/server/data/puppetserver/reports
SERVER_VAR_DIR = r's/^[[:space:]]*server-var-dir[[:space:]]*[:=][[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p'
STORED_REPORTS = (
    'cd "$1" 2>/dev/null || exit 0; for d in */; do f=$(ls -t "$d" | head -n 1); [ -n "$f" ] || continue; '
    'printf "%s\t%s\t%s\n" "${d%/}" "$(date -u -r "$d$f" +%Y-%m-%dT%H:%M:%S.%3NZ)" '
    '"$(sed -n "s/^status: *//p" "$d$f" | head -n 1)"; done')


def server_reportdir(ex: Executor, where: Layout) -> str:
    """Where this Puppet Server stores reports: ``server-var-dir``/reports, read from its
    puppetserver.conf (the folder of ``cadir``'s parent: ``conf.d``)."""
    conf_d = f"{where.cadir.rsplit('/', 1)[0]}/conf.d"
    res = ex.run(["sh", "-c", 'sed -n "$1" "$2"/*.conf 2>/dev/null | tail -n 1', "sh", SERVER_VAR_DIR, conf_d],
                 check=False, timeout=30)
    var = res.stdout.strip()
    if not var.startswith("/"):
        raise RegenLabError(f"{ex.node}: no server-var-dir in {conf_d}/*.conf: is Puppet Server installed there?")
    return f"{var}/reports"


def stored_reports(ex: Executor, reportdir: str, producer: str) -> dict[str, ReportSummary]:
    """Each node's newest report in this server's own store (a YAML file per run under
    ``<reportdir>/<certname>/``; its time: when the server wrote it)."""
    res = ex.run(["sh", "-c", STORED_REPORTS, "sh", reportdir], timeout=60)
    out = {}
    for line in res.stdout.splitlines():
        certname, _, rest = line.partition("\t")
        received, _, status = rest.partition("\t")
        if certname and received:
            out[certname] = ReportSummary(certname, status.strip() or "unknown", received, producer)
    return out


def store_name(puppetdb: bool) -> str:
    """Where a site keeps its agents' reports, as proofs and reports name it."""
    return "PuppetDB" if puppetdb else "the servers' report store"


@dataclass(frozen=True)
class Reports:
    """Where the agents' reports are read: PuppetDB (queried on its host), or, in a site
    without PuppetDB, each Puppet Server's own store (`reports = store`: the master's and the
    compilers'; the newest of each node's wins)."""

    puppetdb: Executor | None = None
    servers: tuple[tuple[Executor, Layout, str], ...] = ()  # each server's executor, Layout, certname
    reportdirs: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # read once per server

    @property
    def where(self) -> str:
        return store_name(self.puppetdb is not None)

    def latest(self) -> dict[str, ReportSummary]:
        if self.puppetdb is not None:
            return latest_reports(self.puppetdb)
        newest: dict[str, ReportSummary] = {}
        for ex, where, certname in self.servers:
            if certname not in self.reportdirs:
                self.reportdirs[certname] = server_reportdir(ex, where)
            for node, r in stored_reports(ex, self.reportdirs[certname], certname).items():
                if node not in newest or r.receive_time > newest[node].receive_time:
                    newest[node] = r
        return newest


def wait_reports(
    reports: Reports, certnames: list[str], since: str | None, timeout: float, log: Callable[[], str] | None = None,
    counted: Callable[[int, int], object] | None = None,
) -> dict[str, ReportSummary]:
    """Wait until the report store holds a latest report from each certname, received after
    ``since`` (ISO time) if given; a failed one fails at once. ``counted(done, total)`` hears
    each time more have reported (a wave of agents, for the user to watch)."""
    fresh: dict[str, ReportSummary] = {}
    heard = 0
    unanswered = "not asked yet"  # why the store's last answer is missing ("": it answered)

    def probe() -> bool:
        nonlocal fresh, unanswered, heard
        try:
            latest = reports.latest()
        except CommandFailed as exc:
            unanswered = f"exit {exc.exit_code}: {exc.output.strip()[-200:]}"
            raise
        unanswered = ""
        fresh = {c: r for c, r in latest.items() if c in certnames and (since is None or r.receive_time > since)}
        if counted and len(fresh) > heard:
            heard = len(fresh)
            counted(heard, len(certnames))
        failed = sorted(c for c, r in fresh.items() if r.status == "failed")
        if failed:
            raise RunFailed(failed, reports.where)
        return set(fresh) >= set(certnames)

    def missing() -> str:
        absent = [c for c in certnames if c not in fresh]
        since_text = f" since {since}" if since else ""
        said = f"{reports.where} did not answer the query ({unanswered})" if unanswered else \
            f"{reports.where} answered, with no report from {', '.join(absent)}{since_text}"
        return said + (f"\n{log()}" if log else "")

    wait_until(f"reports in {reports.where} from {', '.join(certnames)}", probe, timeout, interval=1.0, log=missing)
    return fresh


class RunFailed(RegenLabError):
    exit_code = EXIT_RUN_FAILED

    def __init__(self, certnames: list[str], where: str = "PuppetDB") -> None:
        self.certnames = certnames
        super().__init__(f"catalog run failed on {', '.join(certnames)} (its report in {where} says failed)")


def server_errors(ex: Executor) -> list[str]:
    """The master's last ERROR line, and its last TLS complaint if it has one (what it
    says when it cannot reach PuppetDB)."""
    script = ('grep " ERROR " "$1" 2>/dev/null | tail -n 1; '
              'grep -E "SSL|PKIX|certificate verify" "$1" 2>/dev/null | tail -n 1; true')
    res = ex.run(["sh", "-c", script, "sh", puppet.SERVER_LOG], check=False, timeout=20)
    return list(dict.fromkeys(line.strip()[:400] for line in res.stdout.splitlines() if line.strip()))
