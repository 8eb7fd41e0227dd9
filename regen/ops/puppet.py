"""The operator's Puppet commands (Puppet 7/8 on Debian), run through an Executor.

Each function is what an operator types on a host; ``docs/puppet.md`` maps them to the
seed's Puppet 4 commands."""

from __future__ import annotations

import contextvars
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..core.errors import EXIT_RUN_FAILED, CommandFailed, HostsFailed, RegenLabError
from ..core.executor import ExecResult, Executor
from ..core.wait import PARALLEL, wait_until

SERVER_LOG = "/var/log/puppetserver/puppetserver.log"  # Debian's path
ACCESS_LOG = "/var/log/puppetserver/puppetserver-access.log"
# where the procedure keeps one agent's old cert and key (on that agent, owner-only) for the proof
OLD_CREDS = "/root/regen-old-credentials"


@dataclass(frozen=True)
class Layout:
    """Where Puppet keeps its files on one host, as ``puppet config print`` says there:
    Debian's packages (``/etc/puppet``, ``/var/lib/puppet/ssl``) and Puppet's own all-in-one
    packages (``/etc/puppetlabs``) differ, and a site may move any of them."""

    ssldir: str
    certdir: str
    privatekeydir: str
    publickeydir: str
    localcacert: str
    hostcrl: str
    cadir: str
    confdir: str

    def hostcert(self, certname: str) -> str:
        return f"{self.certdir}/{certname}.pem"

    def hostkey(self, certname: str) -> str:
        return f"{self.privatekeydir}/{certname}.pem"

    def publickey(self, certname: str) -> str:
        return f"{self.publickeydir}/{certname}.pem"

    @property
    def cacert(self) -> str:
        """The CA's own certificates (root + intermediate), on the CA host."""
        return f"{self.cadir}/ca_crt.pem"

    @property
    def puppet_conf(self) -> str:
        return f"{self.confdir}/puppet.conf"


LAYOUT_SETTINGS = tuple(f.name for f in Layout.__dataclass_fields__.values())
# Debian's packages, as `puppet config print` gives them there: what the lab's images hold
# (the lab builds them, so it knows); the procedure reads each host's own (``layout``)
DEBIAN = Layout("/var/lib/puppet/ssl", "/var/lib/puppet/ssl/certs", "/var/lib/puppet/ssl/private_keys",
                "/var/lib/puppet/ssl/public_keys", "/var/lib/puppet/ssl/certs/ca.pem", "/var/lib/puppet/ssl/crl.pem",
                "/etc/puppet/puppetserver/ca", "/etc/puppet")


def parse_layout(output: str, node: str = "") -> Layout:
    """A Layout from ``puppet config print SETTING...`` ("name = value" lines)."""
    values = {}
    for line in output.splitlines():
        name, sep, value = line.partition(" = ")
        if sep and name.strip() in LAYOUT_SETTINGS:
            values[name.strip()] = value.strip()
    missing = [n for n in LAYOUT_SETTINGS if not values.get(n, "").startswith("/")]
    if missing:
        raise RegenLabError(f"{node}: `puppet config print` did not give {', '.join(missing)}: is Puppet installed "
                            "there?")
    return Layout(**values)


def layout(ex: Executor) -> Layout:
    """This host's Layout, read once (``puppet config print``, with the all-in-one
    packages' /opt/puppetlabs/bin on the PATH) and kept with its executor."""
    known = ex.__dict__.get("layout")
    if known is None:
        res = ex.run(["sh", "-c", 'PATH="$PATH:/opt/puppetlabs/bin" exec puppet config print "$@" --section server',
                      "sh", *LAYOUT_SETTINGS], timeout=60)
        known = ex.__dict__["layout"] = parse_layout(res.stdout, ex.node)
    return known


def remember_layout(ex: Executor, known: Layout) -> None:
    """A Layout read before (kept in a run's state) given to a new executor of that host."""
    ex.__dict__["layout"] = known


# --- services (the seed's `puppet resource service NAME ensure=...`) -------------------

def service(ex: Executor, name: str, ensure: str, timeout: int = 300) -> ExecResult:
    """`puppet resource service NAME ensure=...`. It exits 0 even when the init script
    failed (docs/puppet.md), so its ``Error:`` lines are what tell."""
    argv = ["puppet", "resource", "--color=false", "service", name, f"ensure={ensure}"]
    res = ex.run(argv, timeout=timeout)
    if any(line.startswith("Error:") for line in res.output.splitlines()):
        raise CommandFailed(ex.node, argv, res.exit_code, res.output)
    return res


# Services are driven with `service NAME ACTION` (init-system-helpers on Debian, initscripts on
# EL): it runs the init script on a host without systemd (the lab's nodes) and `systemctl ACTION
# NAME` on one with it, so the same command, and the same runbook, serves both.

def stop(ex: Executor, name: str, timeout: int = 300) -> ExecResult:
    """``service NAME stop``: what ``puppet resource service NAME ensure=stopped`` runs,
    without starting Ruby first (0.2 s instead of 1.6 s for an agent, docs/puppet.md)."""
    return ex.run(["service", name, "stop"], timeout=timeout)


def start(ex: Executor, name: str, timeout: int = 300) -> ExecResult:
    """``service NAME start`` unless ``status`` says it runs: ``ensure=running`` without
    Ruby (a second ``start`` of a running agent fails, as ``puppet resource`` never does)."""
    return ex.run(["sh", "-c", 'service "$1" status >/dev/null 2>&1 || service "$1" start', "sh", name],
                  timeout=timeout)


def start_jvm(ex: Executor, name: str, timeout: int = 300) -> ExecResult:
    """``service NAME start`` of Puppet Server or PuppetDB: returns when the service is
    ready, also when it was already starting (a start of an interrupted attempt: its init
    script then waits for it instead of starting another)."""
    return ex.run(["service", name, "start"], timeout=timeout)


def start_server(ex: Executor) -> None:
    """Start Puppet Server (its init script returns when it is ready); when it dies while
    starting, the error says why in the server's own words (its "Error during service
    init" and the cause under it)."""
    try:
        start_jvm(ex, "puppetserver")
    except CommandFailed as exc:
        res = ex.run(["sh", "-c", 'grep -A1 "Error during service init" "$1" | tail -n 2', "sh", SERVER_LOG],
                     check=False, timeout=20)
        cause = " ".join(line.strip() for line in res.stdout.splitlines())
        if not cause:
            raise
        raise RegenLabError(f"Puppet Server did not start; it says: {cause[:600]}\n{exc}") from None


def serves(ex: Executor, port: int, cert: str) -> bool:
    """The service on ``port`` of this host presents the cert now in ``cert`` (not one it
    loaded before the file changed: a service a reboot started early)."""
    script = ('a=$(timeout 10 openssl s_client -connect 127.0.0.1:"$1" </dev/null 2>/dev/null | '
              'openssl x509 -noout -fingerprint -sha256 2>/dev/null); '
              'b=$(openssl x509 -in "$2" -noout -fingerprint -sha256 2>/dev/null); [ -n "$a" ] && [ "$a" = "$b" ]')
    return ex.run(["sh", "-c", script, "sh", str(port), cert], check=False, timeout=30).exit_code == 0


def service_running(ex: Executor, name: str) -> bool:
    return ex.run(["service", name, "status"], check=False, timeout=30).exit_code == 0


# --- the CA (on the server) ------------------------------------------------------------

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
    ex.run(["chown", "-R", "puppet:puppet", layout(ex).cadir, layout(ex).ssldir])
    return res


IMPORT_DIR = "/root/regenlab-ca-import"  # the import set on the CA host, removed once imported


def ca_import(ex: Executor, certname: str, alt_names: list[str], bundle: bytes, key: bytes,
              crls: bytes) -> ExecResult:
    """A CA from an external chain (`puppetserver ca import`, server stopped): the signing
    CA's cert bundle, its key and the CRL chain, written owner-only on the CA host for the
    import and removed after it, pass or fail; the master's cert is made as by ``ca setup``."""
    names = ("cert-bundle.pem", "private-key.pem", "crl-chain.pem")
    ex.run(["sh", "-c", 'rm -rf "$1" && mkdir -m 0700 "$1"', "sh", IMPORT_DIR])
    try:
        for name, data in zip(names, (bundle, key, crls), strict=True):
            ex.write_file(f"{IMPORT_DIR}/{name}", data, mode=0o600)
        argv = ["puppetserver", "ca", "import", "--certname", certname,
                *(["--subject-alt-names", ",".join(alt_names)] if alt_names else []),
                "--cert-bundle", f"{IMPORT_DIR}/{names[0]}", "--private-key", f"{IMPORT_DIR}/{names[1]}",
                "--crl-chain", f"{IMPORT_DIR}/{names[2]}"]
        res = ex.run(argv)
    finally:
        ex.run(["rm", "-rf", IMPORT_DIR], check=False, timeout=20)
    ex.run(["chown", "-R", "puppet:puppet", layout(ex).cadir, layout(ex).ssldir])
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
    signed by name on the CA (a PUT of the certificate's status, as ``puppetserver ca sign``
    and the operator's curl send; autosigning sends none)."""

    signed: tuple[str, ...]
    by_hand: tuple[str, ...]

    def describe(self, certnames: list[str]) -> str:
        def names(which) -> str:
            return ", ".join(sorted(which)) or "none"

        wanted = set(certnames)
        signed, by_hand = wanted & set(self.signed), wanted & set(self.by_hand)
        return (f"the CA's log: signed {names(signed)}; signed by name on the CA: {names(by_hand)}; "
                f"autosigned on request: {names(signed - by_hand)}")


# what the CA logs for each cert it signs: puppetserver 7 "Signed certificate request for NAME";
# puppetserver 8 "Entity WHO signed N certificate(s): NAME, NAME." (WHO: CA when it autosigns)
SIGNED_7 = "s/.*Signed certificate request for \\([^ ]*\\).*/S \\1/p"
SIGNED_8 = "s/.* Entity [^ ]* signed [0-9]* certificates\\{0,1\\}: \\(.*\\)\\.$/S \\1/p"


def ca_signed_since(ex: Executor, mark: tuple[int, int]) -> Signings:
    script = ('tail -n +"$1" "$3" 2>/dev/null | sed -n -e "$5" -e "$6"; '
              'tail -n +"$2" "$4" 2>/dev/null | '
              'sed -n "s|.*\\"PUT /puppet-ca/v1/certificate_status/\\([^ ?]*\\)[^\\"]*\\" 204 .*|H \\1|p"')
    res = ex.run(["sh", "-c", script, "sh", str(mark[0] + 1), str(mark[1] + 1), SERVER_LOG, ACCESS_LOG,
                  SIGNED_7, SIGNED_8], check=False, timeout=20)
    rows = [line.split(" ", 1) for line in res.stdout.splitlines() if " " in line]
    signed = tuple(n.strip() for k, names in rows if k == "S" for n in names.split(","))
    return Signings(signed, tuple(n for k, n in rows if k == "H"))


def submit_crls(ca: Executor, ca_certname: str, crls: bytes, check: bool = False) -> ExecResult:
    """CRLs of an external chain given to Puppet Server (`PUT
    /puppet-ca/v1/certificate_revocation_list`, with the CA host's own cert): it keeps each
    one newer than the CRL of the same issuer it holds, and serves them to the agents."""
    argv = ["curl", "-sS", "--fail-with-body", "--resolve", f"{ca_certname}:8140:127.0.0.1",
            "--cacert", layout(ca).localcacert, "--cert", layout(ca).hostcert(ca_certname),
            "--key", layout(ca).hostkey(ca_certname), "-X", "PUT", "-H", "Content-Type: text/plain",
            "--data-binary", "@-", f"https://{ca_certname}:8140/puppet-ca/v1/certificate_revocation_list"]
    return ca.run(argv, input=crls, check=check, timeout=60)


# --- an agent's own SSL ----------------------------------------------------------------

def set_autosign(ca: Executor, autosign: bool) -> ExecResult:
    """The CA's signing policy in its puppet.conf (read by Puppet Server when it starts)."""
    return ca.run(["puppet", "config", "set", "autosign", str(autosign).lower(), "--section", "server"])


def autosign_setting(ca: Executor) -> str:
    return ca.run(["puppet", "config", "print", "autosign", "--section", "server"]).stdout.strip()


def reload_server(ca: Executor) -> ExecResult:
    """Puppet Server re-reads its configuration (SIGHUP, as `systemctl reload` sends);
    returns when it is ready again."""
    return ca.run(["service", "puppetserver", "reload"], timeout=300)


def set_server(ex: Executor, name: str) -> ExecResult:
    """Point the host's agent (and, on the CA, `puppetserver ca`) at the master by ``name``."""
    return ex.run(["puppet", "config", "set", "server", name, "--section", "main"])


WAITFORCERT = 1  # `puppet ssl bootstrap`: seconds between its tries
# and how long it tries; a host whose TLS fails (a stale CA or CRL) tries that long. 45 s was
# passed on 2 cores by 4 agents enrolling while 2 compilers, PuppetDB and the broker restarted
# beside another lab (the CA's signing calls slowed down): 75 s
MAXWAITFORCERT = 75


def bootstrap(ex: Executor, maxwait: int = MAXWAITFORCERT) -> ExecResult:
    """``puppet ssl bootstrap``: the host gets the CA's certs and CRL, makes its key,
    requests a cert and waits until the CA has signed it (one Ruby start for what
    ``submit_request`` and ``download_cert`` do in two). ``maxwait`` counts from its start,
    key generation included: give more when many hosts share the CPU."""
    return ex.run(["puppet", "ssl", "bootstrap", f"--waitforcert={WAITFORCERT}", f"--maxwaitforcert={maxwait}",
                   "--color=false"], timeout=maxwait + 60)


def maxwait_for(hosts: int) -> int:
    """``bootstrap``'s bound when ``hosts`` enroll at once on one machine (8 at a time,
    each a Ruby start and a 4096-bit key): 75 s for one, and 2 s more for each other."""
    return MAXWAITFORCERT + 2 * max(0, hosts - 1)


def signed_certs(ca: Executor) -> set[str]:
    """The certnames the CA holds a signed cert of (its ``signed`` folder)."""
    res = ca.run(["ls", f"{layout(ca).cadir}/signed"], check=False, timeout=20)
    return {n[:-4] for n in res.stdout.split() if n.endswith(".pem")}


def ca_clean_signed(ca: Executor, ca_certname: str, certnames: list[str]) -> list[str]:
    """``ca_clean`` of those of these certnames the CA holds a signed cert of (a clean
    repeated after an interruption skips what is already gone); returns them."""
    held = signed_certs(ca)
    signed = [n for n in certnames if n in held]
    if signed:
        ca_clean(ca, ca_certname, signed)
    return signed


def ca_forget(ca: Executor, ca_certname: str, certnames: list[str]) -> list[str]:
    """What the CA holds of these hosts from an interrupted attempt, discarded before they
    request again: a signed cert cleaned (revoked, deleted), a pending request deleted (the
    CA would sign the old request, whose key the host no longer has: "The certificate for
    'CN=...' does not match its private key"). Returns the names it held something of."""
    signed = ca_clean_signed(ca, ca_certname, certnames)
    pending = sorted(pending_requests(ca) & set(certnames) - set(signed))
    if pending:
        ca_status_call(ca, ca_certname, pending, "DELETE", None, "204")
    return signed + pending


def ca_generate_anew(ca: Executor, ca_certname: str, certname: str, alt_names: list[str] | None = None) -> None:
    """``puppetserver ca generate`` that can be repeated: what an earlier, interrupted
    attempt left of that name on the CA (a signed cert, or its request still pending) is
    discarded first, and the files it left on the CA host removed (``generate`` refuses
    each: "Existing file at", "already has a requested certificate"). A request or a signing
    that attempt had sent may land on the server a moment later (seen in the kill soak):
    then it is discarded and tried again."""
    for attempt in range(3):
        ca_forget(ca, ca_certname, [certname])
        where = layout(ca)
        ca.run(["rm", "-f", where.hostcert(certname), where.hostkey(certname), where.publickey(certname)])
        try:
            ca_generate(ca, certname, alt_names)
            return
        except CommandFailed as exc:
            # the server may still finish what an ended `generate` had asked for: once more
            if not any(s in exc.output for s in LATE_ARRIVALS) or attempt == 2:
                raise
            time.sleep(1)


LATE_ARRIVALS = ("Existing file at", "already has a requested certificate")


def pending_requests(ca: Executor) -> set[str]:
    """The certnames with a request waiting on the CA (its ``requests`` folder)."""
    res = ca.run(["ls", f"{layout(ca).cadir}/requests"], check=False, timeout=20)
    return {n[:-4] for n in res.stdout.split() if n.endswith(".pem")}


def ca_status_call(ca: Executor, ca_certname: str, certnames: list[str], method: str, body: str | None,
                   ok: str) -> ExecResult:
    """One ``curl`` call to the CA's certificate_status API for several certnames, with the
    CA host's own cert (as ``puppetserver ca`` does); every answer must be ``ok``."""
    urls = [f"https://{ca_certname}:8140/puppet-ca/v1/certificate_status/{urllib.parse.quote(n)}" for n in certnames]
    argv = ["curl", "-sS", "--parallel", "--parallel-max", "4", "--resolve", f"{ca_certname}:8140:127.0.0.1",
            "--cacert", layout(ca).localcacert, "--cert", layout(ca).hostcert(ca_certname),
            "--key", layout(ca).hostkey(ca_certname), "-X", method,
            *(["-H", "Content-Type: application/json", "--data", body] if body else []),
            "-o", "/dev/null", "-w", "%{http_code} %{url_effective}\\n", *urls]
    res = ca.run(argv, timeout=120)
    refused = [line for line in res.stdout.splitlines() if not line.startswith(f"{ok} ")]
    if refused or len(res.stdout.splitlines()) != len(urls):
        raise CommandFailed(ca.node, argv, res.exit_code, "the CA refused: " + ("; ".join(refused) or res.output))
    return res


def ca_sign_requests(ca: Executor, ca_certname: str, certnames: list[str]) -> ExecResult:
    """Sign these pending requests, by name, with one call to the CA's certificate_status
    API. One ``puppetserver ca sign --certname a,b`` would do the same, but its client
    waits 30 s on each name after the first (docs/puppet.md)."""
    return ca_status_call(ca, ca_certname, certnames, "PUT", '{"desired_state":"signed"}', "204")


def ca_clean(ca: Executor, ca_certname: str, certnames: list[str]) -> None:
    """What ``puppetserver ca clean`` does (revoke: the serials go on the CRL; then the
    signed certs are deleted), in two calls for every certname instead of 30 s each."""
    ca_status_call(ca, ca_certname, certnames, "PUT", '{"desired_state":"revoked"}', "204")
    ca_status_call(ca, ca_certname, certnames, "DELETE", None, "204")


def enroll_all(ca: Executor, ca_certname: str, jobs: list[tuple[str, Callable[[], object]]],
               sign: bool = True, limit: int = PARALLEL, interval: float = 1.0) -> list:
    """Many hosts enrolled at once: each job (a certname and the work on its host, which
    ends with ``bootstrap``) runs, ``limit`` at a time, while the operator signs on the CA
    the requests of exactly these certnames as they arrive, those pending at a time with
    one call; a stranger's request stays unsigned. With autosign (``sign`` false) the CA
    signs on its own. Returns each job's result. Once every job has ended, a failure is
    raised: one host's error as it is, several as one ``HostsFailed`` quoting each."""
    expected = {name for name, _ in jobs}
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(jobs)))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, job) for _, job in jobs]
        while sign and not all(f.done() for f in futures):
            pending = sorted(pending_requests(ca) & expected)  # a request made again is signed again
            if pending:
                try:
                    ca_sign_requests(ca, ca_certname, pending)
                except CommandFailed:
                    pass  # a request replaced meanwhile: signed on the next pass; a host never signed fails itself
            time.sleep(interval)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if len(errors) > 1 and all(isinstance(e, RegenLabError) for e in errors):
            raise HostsFailed(errors)  # type: ignore[arg-type]
        return [f.result() for f in futures]


AGENT_RUN_OK = (0, 2)  # `puppet agent -t`: no change, or changes applied


LOCK_WAIT = 120  # s: how long `puppet agent -t` waits for the daemon's own run to finish


def agent_test(ex: Executor, timeout: int = 300, check: bool = True, clock: str | None = None,
               extra: list[str] | None = None) -> ExecResult:
    """``puppet agent -t``: exit 0 (no change) or 2 (changes) is a successful run. ``clock``
    runs it under Debian's ``faketime`` (that command's clock only, e.g. "2 days ago").

    When the agent's daemon is in the middle of its own run, the catalog run lock is held and
    a plain ``-t`` exits 1 at once ("Run of Puppet configuration client already in progress;
    skipping"); ``--waitforlock`` (Puppet 6.16 and later) polls the lock each second instead,
    up to ``LOCK_WAIT`` seconds."""
    argv = ["puppet", "agent", "--test", "--color=false",
            "--waitforlock", "1", "--maxwaitforlock", str(LOCK_WAIT), *(extra or [])]
    if clock:
        argv = ["faketime", clock, *argv]
    res = ex.run(argv, ok_codes=AGENT_RUN_OK, timeout=timeout, check=False)
    if lost_lock_race(res):  # the lock's holder had just ended: the lock is free now, run again
        res = ex.run(argv, ok_codes=AGENT_RUN_OK, timeout=timeout, check=False)
    if check and res.exit_code not in AGENT_RUN_OK:
        raise CommandFailed(res.node, list(res.argv), res.exit_code, res.output)
    return res


# Puppet 7's Puppet::Util::Pidlock checks a lock's holder with `kill -0` and then `ps -p PID
# -o comm=`, unguarded: when the holder (a daemon's run, or the daemon being stopped) ends
# between the two, `ps` exits 1 and the run fails with this line, touching nothing (PUP-10218).
LOCK_RACE = re.compile(r"Execution of 'ps -p \d+ -o comm=' returned 1")


def lost_lock_race(res: ExecResult) -> bool:
    return res.exit_code == 1 and LOCK_RACE.search(res.output) is not None


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
    known = ex.__dict__.get("reportdir")
    if known is None:
        conf_d = f"{where.cadir.rsplit('/', 1)[0]}/conf.d"
        res = ex.run(["sh", "-c", 'sed -n "$1" "$2"/*.conf 2>/dev/null | tail -n 1', "sh", SERVER_VAR_DIR, conf_d],
                     check=False, timeout=30)
        var = res.stdout.strip()
        if not var.startswith("/"):
            raise RegenLabError(f"{ex.node}: no server-var-dir in {conf_d}/*.conf: is Puppet Server installed there?")
        known = ex.__dict__["reportdir"] = f"{var}/reports"
    return known


def stored_reports(ex: Executor, where: Layout, producer: str) -> dict[str, ReportSummary]:
    """Each node's newest report in this server's own store (a YAML file per run under
    ``<reportdir>/<certname>/``; its time: when the server wrote it)."""
    res = ex.run(["sh", "-c", STORED_REPORTS, "sh", server_reportdir(ex, where)], timeout=60)
    out = {}
    for line in res.stdout.splitlines():
        certname, _, rest = line.partition("\t")
        received, _, status = rest.partition("\t")
        if certname and received:
            out[certname] = ReportSummary(certname, status.strip() or "unknown", received, producer)
    return out


@dataclass(frozen=True)
class Reports:
    """Where the agents' reports are read: PuppetDB (queried on its host), or, in a site
    without PuppetDB, each Puppet Server's own store (`reports = store`: the master's and the
    compilers'; the newest of each node's wins)."""

    puppetdb: Executor | None = None
    servers: tuple[tuple[Executor, Layout, str], ...] = ()  # each server's executor, Layout, certname

    @property
    def where(self) -> str:
        return "PuppetDB" if self.puppetdb is not None else "the servers' report store"

    def latest(self) -> dict[str, ReportSummary]:
        if self.puppetdb is not None:
            return latest_reports(self.puppetdb)
        newest: dict[str, ReportSummary] = {}
        for ex, where, certname in self.servers:
            for node, r in stored_reports(ex, where, certname).items():
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
    res = ex.run(["sh", "-c", script, "sh", SERVER_LOG], check=False, timeout=20)
    return list(dict.fromkeys(line.strip()[:400] for line in res.stdout.splitlines() if line.strip()))


# --- extending the CA (its certificates signed anew with the same keys) -------------------

EXTEND_DAYS = 5475  # Puppet's own CA lifetime (15 years), counted from the extension
# On the CA host, keys never leaving it: the bundle split; the root (self-signed) signed anew
# with its own key, the intermediate (if any) made a request again with its own key and
# signed by the new root, each with its extensions, its serial and `days` of validity (the
# hosts' certs name their issuer by key id AND by its issuer's name and serial: a new serial
# breaks every chain, "unable to get local issuer certificate");
# the master's cert checked against the result; the bundle put in place whole, with the
# old file's owner and mode.
_EXTEND = r'''
set -e
umask 077
cadir=$1 days=$2 leaf=$3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
awk -v d="$d" '/BEGIN CERTIFICATE/ {n++} n {print > (d "/c-" n ".pem")}' "$cadir/ca_crt.pem"
root="" inter=""
for c in "$d"/c-*.pem; do
  s=$(openssl x509 -in "$c" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  i=$(openssl x509 -in "$c" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
  if [ "$s" = "$i" ]; then root=$c; else inter=$c; fi
done
[ -n "$root" ] || { echo "no self-signed root in $cadir/ca_crt.pem" >&2; exit 1; }
rootkey=$cadir/ca_key.pem
[ -z "$inter" ] || rootkey=$cadir/root_key.pem
[ -s "$rootkey" ] || { echo "no key of the CA's root here ($rootkey): a CA imported under an external root is \
renewed by that root's owner, not on the CA host" >&2; exit 1; }
serial() { echo "0x$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)"; }
openssl x509 -in "$root" -signkey "$rootkey" -days "$days" -set_serial "$(serial "$root")" -out "$d/root.new"
if [ -n "$inter" ]; then
  openssl x509 -x509toreq -in "$inter" -signkey "$cadir/ca_key.pem" -copy_extensions copyall -out "$d/inter.csr"
  openssl x509 -req -in "$d/inter.csr" -CA "$d/root.new" -CAkey "$rootkey" -copy_extensions copyall \
    -days "$days" -set_serial "$(serial "$inter")" -out "$d/inter.new"
  cat "$d/inter.new" "$d/root.new" > "$d/bundle"
  openssl verify -CAfile "$d/root.new" -untrusted "$d/inter.new" "$leaf" >/dev/null
else
  cp "$d/root.new" "$d/bundle"
  openssl verify -CAfile "$d/root.new" "$leaf" >/dev/null
fi
cp "$d/bundle" "$cadir/ca_crt.pem.new"
chown --reference="$cadir/ca_crt.pem" "$cadir/ca_crt.pem.new"
chmod --reference="$cadir/ca_crt.pem" "$cadir/ca_crt.pem.new"
mv "$cadir/ca_crt.pem.new" "$cadir/ca_crt.pem"
'''


def extend_ca(ca: Executor, where: Layout, master_cert: str, days: int = EXTEND_DAYS) -> ExecResult:
    """The CA's certificates signed anew with their own keys for ``days`` (what puppetlabs'
    ca_extend does), on the CA host: ``$cadir/ca_crt.pem`` replaced; the keys stay where they are."""
    return ca.run(["sh", "-c", _EXTEND, "sh", where.cadir, str(days), master_cert], timeout=60)


def replace_bundle(ex: Executor, path: str, bundle: bytes) -> None:
    """A host's CA bundle replaced whole, keeping the owner of the file it replaces."""
    owner = ex.run(["stat", "-c", "%U:%G", path], check=False, timeout=20).stdout.strip() or "root:root"
    ex.write_file(path, bundle, mode=0o644, owner=owner)
