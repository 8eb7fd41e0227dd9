"""The operator's Puppet commands (Puppet 7/8 on Debian), run through an Executor.

Each function is what an operator types on a host; ``docs/puppet.md`` maps them to the
seed's Puppet 4 commands."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import CommandFailed, RegenLabError
from ..core.executor import ExecResult, Executor
from ..core.wait import wait_until

SSLDIR = "/var/lib/puppet/ssl"
CADIR = "/etc/puppet/puppetserver/ca"
CACERT = f"{CADIR}/ca_crt.pem"  # the CA's own certificates (root + intermediate)
LOCALCACERT = f"{SSLDIR}/certs/ca.pem"
LOCALCRL = f"{SSLDIR}/crl.pem"
SERVER_LOG = "/var/log/puppetserver/puppetserver.log"  # Debian's path
ACCESS_LOG = "/var/log/puppetserver/puppetserver-access.log"
# where the procedure keeps one agent's old cert and key (on that agent, owner-only) for the proof
OLD_CREDS = "/root/regen-old-credentials"


def hostcert(certname: str) -> str:
    return f"{SSLDIR}/certs/{certname}.pem"


def hostkey(certname: str) -> str:
    return f"{SSLDIR}/private_keys/{certname}.pem"


# --- services (the seed's `puppet resource service NAME ensure=...`) -------------------

def service(ex: Executor, name: str, ensure: str, timeout: int = 300) -> ExecResult:
    """`puppet resource service NAME ensure=...`. It exits 0 even when the init script
    failed (docs/puppet.md), so its ``Error:`` lines are what tell."""
    argv = ["puppet", "resource", "--color=false", "service", name, f"ensure={ensure}"]
    res = ex.run(argv, timeout=timeout)
    if any(line.startswith("Error:") for line in res.output.splitlines()):
        raise CommandFailed(ex.node, argv, res.exit_code, res.output)
    return res


def start_server(ex: Executor) -> None:
    """Start Puppet Server; when it dies while starting, the error says why in the
    server's own words (its "Error during service init" and the cause under it)."""
    try:
        service(ex, "puppetserver", "running")
    except CommandFailed as exc:
        res = ex.run(["sh", "-c", 'grep -A1 "Error during service init" "$1" | tail -n 2', "sh", SERVER_LOG],
                     check=False, timeout=20)
        cause = " ".join(line.strip() for line in res.stdout.splitlines())
        if not cause:
            raise
        raise RegenLabError(f"Puppet Server did not start; it says: {cause[:600]}\n{exc}") from None


def service_running(ex: Executor, name: str) -> bool:
    return ex.run([f"/etc/init.d/{name}", "status"], check=False, timeout=30).exit_code == 0


# --- the CA (on the server) ------------------------------------------------------------

def ca_sign(ex: Executor, certname: str) -> ExecResult:
    """Sign one pending request. One certname per call: `puppetserver ca sign` with
    several stalls 30 s on a reused keep-alive connection (docs/puppet.md)."""
    return ex.run(["puppetserver", "ca", "sign", "--certname", certname])


def ca_generate(ex: Executor, certname: str, alt_names: list[str] | None = None) -> ExecResult:
    argv = ["puppetserver", "ca", "generate", "--certname", certname]
    if alt_names:
        argv += ["--subject-alt-names", ",".join(alt_names)]
    return ex.run(argv)


def ca_setup(ex: Executor, certname: str, alt_names: list[str]) -> ExecResult:
    """A new CA (root + intermediate) and the master's cert, server stopped; the files
    are then given to the `puppet` user that Puppet Server runs as."""
    argv = ["puppetserver", "ca", "setup", "--certname", certname]
    res = ex.run(argv + (["--subject-alt-names", ",".join(alt_names)] if alt_names else []))
    ex.run(["chown", "-R", "puppet:puppet", CADIR, SSLDIR])
    return res


def ca_log_mark(ex: Executor) -> tuple[int, int]:
    """How many lines the CA's log and access log hold now (for ``ca_signed_since``)."""
    res = ex.run(["sh", "-c", 'for f in "$@"; do wc -l < "$f" 2>/dev/null || echo 0; done', "sh",
                  SERVER_LOG, ACCESS_LOG], check=False, timeout=20)
    counts = [int(n) for n in res.stdout.split()] + [0, 0]
    return counts[0], counts[1]


@dataclass(frozen=True)
class Signings:
    """What the CA's own logs say it signed since a mark: every cert it signed, and those
    signed by an operator's ``puppetserver ca sign`` (a PUT of the certificate's status)."""

    signed: tuple[str, ...]
    by_hand: tuple[str, ...]

    def describe(self, certnames: list[str]) -> str:
        def names(which) -> str:
            return ", ".join(sorted(which)) or "none"

        wanted = set(certnames)
        signed, by_hand = wanted & set(self.signed), wanted & set(self.by_hand)
        return (f"the CA's log: signed {names(signed)}; by `puppetserver ca sign`: {names(by_hand)}; "
                f"autosigned on request: {names(signed - by_hand)}")


def ca_signed_since(ex: Executor, mark: tuple[int, int]) -> Signings:
    script = ('tail -n +"$1" "$3" 2>/dev/null | sed -n "s/.*Signed certificate request for \\([^ ]*\\).*/S \\1/p"; '
              'tail -n +"$2" "$4" 2>/dev/null | '
              'sed -n "s|.*\\"PUT /puppet-ca/v1/certificate_status/\\([^ ?]*\\)[^\\"]*\\" 204 '
              '.*PuppetserverCaCli.*|H \\1|p"')
    res = ex.run(["sh", "-c", script, "sh", str(mark[0] + 1), str(mark[1] + 1), SERVER_LOG, ACCESS_LOG],
                 check=False, timeout=20)
    rows = [line.split(" ", 1) for line in res.stdout.splitlines() if " " in line]
    return Signings(tuple(n for k, n in rows if k == "S"), tuple(n for k, n in rows if k == "H"))


# --- an agent's own SSL ----------------------------------------------------------------

def ssl_clean(ex: Executor) -> ExecResult:
    """Remove the host's cert, key and request, its local CA and its CRL."""
    return ex.run(["puppet", "ssl", "clean", "--localca"])


def set_autosign(ca: Executor, autosign: bool) -> ExecResult:
    """The CA's signing policy in its puppet.conf (read by Puppet Server when it starts)."""
    return ca.run(["puppet", "config", "set", "autosign", str(autosign).lower(), "--section", "server"])


def autosign_setting(ca: Executor) -> str:
    return ca.run(["puppet", "config", "print", "autosign", "--section", "server"]).stdout.strip()


def reload_server(ca: Executor) -> ExecResult:
    """Puppet Server re-reads its configuration (SIGHUP, as `systemctl reload` sends);
    returns when it is ready again."""
    return ca.run(["/etc/init.d/puppetserver", "reload"], timeout=300)


def set_server(ex: Executor, name: str) -> ExecResult:
    """Point the host's agent (and, on the CA, `puppetserver ca`) at the master by ``name``."""
    return ex.run(["puppet", "config", "set", "server", name, "--section", "main"])


def submit_request(ex: Executor) -> ExecResult:
    return ex.run(["puppet", "ssl", "submit_request"], timeout=120)


def download_cert(ex: Executor) -> ExecResult:
    return ex.run(["puppet", "ssl", "download_cert"], timeout=120)


def enroll(ca: Executor, host: Executor, certname: str, sign: bool = True) -> None:
    """What an operator does for a host: it requests a certificate, the operator signs it
    on the CA (not with autosign), the host downloads it."""
    submit_request(host)
    if sign:
        ca_sign(ca, certname)
    download_cert(host)


AGENT_RUN_OK = (0, 2)  # `puppet agent -t`: no change, or changes applied


def agent_test(ex: Executor, timeout: int = 300, check: bool = True, clock: str | None = None) -> ExecResult:
    """``puppet agent -t``: exit 0 (no change) or 2 (changes) is a successful run. ``clock``
    runs it under Debian's ``faketime`` (that command's clock only, e.g. "2 days ago")."""
    argv = ["puppet", "agent", "--test", "--color=false"]
    if clock:
        argv = ["faketime", clock, *argv]
    return ex.run(argv, ok_codes=AGENT_RUN_OK, timeout=timeout, check=check)


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
    """A node's latest report in PuppetDB."""

    certname: str
    status: str
    receive_time: str


def puppetdb_query(ex: Executor, endpoint: str, query: list | None = None) -> list[dict]:
    """A PuppetDB v4 query over the node-local HTTP port (inside the PuppetDB host)."""
    url = f"http://127.0.0.1:8080/pdb/query/v4/{endpoint}"
    if query is not None:
        url += "?query=" + urllib.parse.quote(json.dumps(query))
    res = ex.run(["curl", "-sf", url], timeout=30)
    return json.loads(res.stdout)


def latest_reports(ex: Executor) -> dict[str, ReportSummary]:
    rows = puppetdb_query(ex, "reports", ["extract", ["certname", "status", "receive_time"],
                                          ["=", "latest_report?", True]])
    return {r["certname"]: ReportSummary(r["certname"], r["status"], r["receive_time"]) for r in rows}


def wait_reports(
    ex: Executor, certnames: list[str], since: str | None, timeout: float, log: Callable[[], str] | None = None,
) -> dict[str, ReportSummary]:
    """Wait until PuppetDB (queried on its host ``ex``) holds a latest report from each
    certname, received after ``since`` (ISO time) if given; a failed one fails at once."""
    fresh: dict[str, ReportSummary] = {}
    unanswered = "not asked yet"  # why PuppetDB's last answer is missing ("": it answered)

    def probe() -> bool:
        nonlocal fresh, unanswered
        try:
            latest = latest_reports(ex)
        except CommandFailed as exc:
            unanswered = f"exit {exc.exit_code}: {exc.output.strip()[-200:]}"
            raise
        unanswered = ""
        fresh = {c: r for c, r in latest.items() if c in certnames and (since is None or r.receive_time > since)}
        failed = sorted(c for c, r in fresh.items() if r.status == "failed")
        if failed:
            raise RunFailed(failed)
        return set(fresh) >= set(certnames)

    def missing() -> str:
        absent = [c for c in certnames if c not in fresh]
        since_text = f" since {since}" if since else ""
        said = f"PuppetDB did not answer the query ({unanswered})" if unanswered else \
            f"PuppetDB answered, with no report from {', '.join(absent)}{since_text}"
        return said + (f"\n{log()}" if log else "")

    wait_until(f"reports in PuppetDB from {', '.join(certnames)}", probe, timeout, interval=2.0, log=missing)
    return fresh


class RunFailed(RegenLabError):
    def __init__(self, certnames: list[str]) -> None:
        self.certnames = certnames
        super().__init__(f"catalog run failed on {', '.join(certnames)} (its report in PuppetDB says failed)")


def server_errors(ex: Executor) -> list[str]:
    """The master's last ERROR line, and its last TLS complaint if it has one (what it
    says when it cannot reach PuppetDB)."""
    script = ('grep " ERROR " "$1" 2>/dev/null | tail -n 1; '
              'grep -E "SSL|PKIX|certificate verify" "$1" 2>/dev/null | tail -n 1; true')
    res = ex.run(["sh", "-c", script, "sh", SERVER_LOG], check=False, timeout=20)
    return list(dict.fromkeys(line.strip()[:400] for line in res.stdout.splitlines() if line.strip()))
