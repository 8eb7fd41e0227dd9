"""The operator's Puppet commands (Puppet 7/8 on Debian), run through an Executor.

Each function is what an operator types on a host; ``docs/puppet.md`` maps them to the
seed's Puppet 4 commands."""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from ..core.errors import CommandFailed, RegenLabError
from ..core.executor import ExecResult, Executor

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
# (the lab builds them, so it knows); the procedure reads each host's own (``read_layout``)
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


def read_layout(ex: Executor) -> Layout:
    """This host's Layout, read there (``puppet config print``, with the all-in-one
    packages' /opt/puppetlabs/bin on the PATH: one Ruby start). Whoever holds the host keeps
    it: a run's ``Host`` (and its state, for a resume), a lab's provisioning."""
    res = ex.run(["sh", "-c", 'PATH="$PATH:/opt/puppetlabs/bin" exec puppet config print "$@" --section server',
                  "sh", *LAYOUT_SETTINGS], timeout=60)
    return parse_layout(res.stdout, ex.node)


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


# `puppet ssl bootstrap`'s errors that no retry mends, as Puppet words them (Puppet::SSL's
# verifier and SSLProvider, the same in 7 and 8): the server's cert does not verify against what
# the host holds or does not carry the name it was reached by, or the host's own CA bundle, CRL
# or cert does not verify. Puppet's own loop retries them each `waitforcert` until
# `maxwaitforcert`; a CA that does not answer yet is not among them.
TLS_FAILURE = re.compile(
    r"certificate verify failed|SSL_connect returned|did not match server certificate|"
    r"verify time is synchronized|Invalid signature for|The CRL issued by '[^']*' is missing|"
    r"The issuer '[^']*' of certificate '[^']*' is missing|Certificate '[^']*' is revoked|"
    r"failed verification \(|does not match its private key|did not match expected digest|"
    r"Failed to parse certificate")


def bootstrap(ex: Executor, maxwait: int = MAXWAITFORCERT) -> ExecResult:
    """``puppet ssl bootstrap``: the host gets the CA's certs and CRL, makes its key,
    requests a cert and waits until the CA has signed it (one Ruby start for what
    ``submit_request`` and ``download_cert`` do in two). ``maxwait`` counts from its start,
    key generation included: give more when many hosts share the CPU.

    First with ``--onetime``: Puppet's state machine then raises its first error instead of
    retrying it (it still waits for the CA to sign). An error that a retry cannot mend
    (``TLS_FAILURE``) is the host's answer at once, where Puppet would retry it for
    ``maxwait`` seconds; any other (the CA not answering yet) gets Puppet's own loop for the
    time left of ``maxwait``, so that the two together wait no longer than one did."""

    def attempt(wait: int, *extra: str) -> ExecResult:
        return ex.run(["puppet", "ssl", "bootstrap", f"--waitforcert={WAITFORCERT}", f"--maxwaitforcert={wait}",
                       "--color=false", *extra], timeout=wait + 60, check=False)

    started = time.monotonic()
    res = attempt(maxwait, "--onetime")
    left = math.ceil(maxwait - (time.monotonic() - started))
    if res.exit_code != 0 and not TLS_FAILURE.search(res.output) and left > 0:
        res = attempt(left)
    if res.exit_code != 0:
        raise CommandFailed(res.node, list(res.argv), res.exit_code, res.output)
    return res


def maxwait_for(hosts: int) -> int:
    """``bootstrap``'s bound when ``hosts`` enroll at once on one machine (8 at a time,
    each a Ruby start and a 4096-bit key): 75 s for one, and 2 s more for each other."""
    return MAXWAITFORCERT + 2 * max(0, hosts - 1)


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
