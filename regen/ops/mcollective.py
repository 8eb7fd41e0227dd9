"""MCollective over ActiveMQ, the seed's second extension on Puppet's CA, as the operator's
commands: the broker's keystore and truststore built from its Puppet cert (``openssl
pkcs12`` + ``keytool``), the shared server keypair and the admin's client cert issued on
the CA, the ``mcollectived`` daemons, and ``mco`` on the admin's host.

The deployment is the classic "standard" one: the activemq connector over STOMP+TLS
with each host's Puppet cert, the SSL security plugin with one server keypair
(``mcollective-servers``) and the authorized clients' public keys. ``mco`` never exits
by itself when TLS fails, so every call here is bounded by a timeout."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509

from ..core.executor import ExecResult, Executor
from ..core.wait import parallel, wait_until
from . import pki, puppet, puppet_ca

# the broker (images/broker): lab-only passwords, as in its activemq.xml
BROKER_SSL = "/etc/activemq/ssl"
KEYSTORE = f"{BROKER_SSL}/keystore.jks"
TRUSTSTORE = f"{BROKER_SSL}/truststore.jks"
STORE_PASSWORD = "regenlab-store"
BROKER_LOG = "/var/log/activemq/activemq.log"
BROKER_HOST = "broker"
STOMP_PORT = 61614
USERS = {"mcollective": "marionette", "admin": "regenlab-admin"}

# the daemons (images/agent) and the admin's client (images/server)
MCO_SSL = "/etc/mcollective/ssl"
SERVER_PRIVATE = f"{MCO_SSL}/server_private.pem"
SERVER_PUBLIC = f"{MCO_SSL}/server_public.pem"
CLIENTS_DIR = f"{MCO_SSL}/clients"
ADMIN_DIR = "/root/.mcollective.d"
ADMIN_CERT = f"{ADMIN_DIR}/admin.pem"
ADMIN_KEY = f"{ADMIN_DIR}/admin-private.pem"
SERVER_KEYPAIR = "mcollective-servers"  # the shared server keypair's certname on the CA
ADMIN = "admin"  # the admin client's certname; its caller id is cert=admin
DAEMON_LOG = "/var/log/mcollective.log"

MCO_TIMEOUT = 20  # seconds any `mco` call may take before it is killed
PING_WAIT = 2  # `mco ping -t`: how long mco waits for replies

_STORES = r"""
set -e
umask 077
certname=$1 pw=$2 d=/etc/activemq/ssl cert=$3 key=$4 bundle=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl pkcs12 -export -name "$certname" -in "$cert" -inkey "$key" \
  -certfile "$bundle" -out "$tmp/broker.p12" -passout "pass:$pw"
keytool -importkeystore -noprompt -srckeystore "$tmp/broker.p12" -srcstoretype PKCS12 -srcstorepass "$pw" \
  -srcalias "$certname" -destalias "$certname" -destkeystore "$tmp/keystore.jks" -deststoretype JKS \
  -deststorepass "$pw"
awk -v d="$tmp" '/BEGIN CERTIFICATE/ {n++} n {print > (d "/ca-" n ".pem")}' "$bundle"
for f in "$tmp"/ca-*.pem; do
  keytool -importcert -noprompt -alias "puppet-$(basename "$f" .pem)" -file "$f" \
    -keystore "$tmp/truststore.jks" -storetype JKS -storepass "$pw"
done
install -o activemq -g activemq -m 0600 "$tmp/keystore.jks" "$tmp/truststore.jks" "$d/"
"""


# --- the broker ------------------------------------------------------------------------

def build_broker_stores(broker: Executor, where: puppet.Layout, certname: str) -> ExecResult:
    """The keystore (the broker's Puppet cert and key, with the CA chain) and the truststore
    (every cert of the Puppet CA bundle), rebuilt from the host's ssldir (``where``), owner-only."""
    return broker.run(["sh", "-c", _STORES, "sh", certname, STORE_PASSWORD, where.hostcert(certname),
                       where.hostkey(certname), where.localcacert], timeout=120)


def truststore_certs(broker: Executor) -> list[x509.Certificate]:
    """The certificates the broker trusts, read back with ``keytool -list -rfc``."""
    res = broker.run(["keytool", "-list", "-rfc", "-keystore", TRUSTSTORE, "-storepass", STORE_PASSWORD])
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", res.stdout, re.S)
    return [c for pem in pems for c in pki.load_certs(pem.encode(), "the broker's truststore")]


def stomp_connect(ex: Executor, cert: str, key: str, ca: str,
                  user: str = "mcollective") -> tuple[bool, str]:
    """A STOMP CONNECT to the broker over TLS with this client cert and key, as
    ``openssl s_client`` does it: (whether the broker answered CONNECTED, the output)."""
    frame = f"CONNECT\\naccept-version:1.1,1.2\\nhost:{BROKER_HOST}\\nlogin:{user}\\npasscode:{USERS[user]}\\n\\n\\000"
    # stdin stays open until the broker has answered (or refused, or 10 s): a fixed pause
    # lost the CONNECTED of a broker slowed down by a busy machine
    script = ('out=$(mktemp) || exit 1; { printf "$1"; i=0; while [ $i -lt 50 ] && '
              '! grep -qE "^(CONNECTED|ERROR)|error|alert" "$out"; do sleep 0.2; i=$((i+1)); done; } | '
              'openssl s_client -quiet -no_ign_eof -verify_return_error -connect "$2" '
              '-CAfile "$3" -cert "$4" -key "$5" >"$out" 2>&1; cat "$out"; rm -f "$out"')
    res = ex.run(["sh", "-c", script, "sh", frame, f"{BROKER_HOST}:{STOMP_PORT}", ca, cert, key],
                 check=False, timeout=30)
    return bool(re.search(r"^CONNECTED", res.stdout, re.M)), res.output


def broker_log_errors(broker: Executor, since_lines: int = 0) -> list[str]:
    """The broker's TLS refusals in its log (after line ``since_lines``)."""
    res = broker.run(["sh", "-c", 'tail -n +"$1" "$2" 2>/dev/null | grep -E "Transport Connection to: .* failed|'
                      'PKIX|SSLHandshakeException" || true', "sh", str(since_lines + 1), BROKER_LOG],
                     check=False, timeout=20)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def broker_log_length(broker: Executor) -> int:
    res = broker.run(["sh", "-c", 'wc -l < "$1" 2>/dev/null || echo 0', "sh", BROKER_LOG], check=False, timeout=20)
    return int(res.stdout.strip() or 0)


# --- credentials issued on the CA ---------------------------------------------------------

def issue(authority: puppet_ca.CA, certname: str) -> tuple[bytes, bytes, bytes]:
    """``puppetserver ca generate`` for a credential that is not a host (the server keypair,
    a client); a previous one of that name is revoked first. Returns (cert, public key,
    private key) and removes them from the CA host: the key lives only where it is used."""
    puppet_ca.ca_generate_anew(authority, certname)
    ca, where = authority.executor, authority.where
    paths = [where.hostcert(certname), where.publickey(certname), where.hostkey(certname)]
    cert, public, private = (ca.read_file(p) for p in paths)
    ca.run(["rm", "-f", *paths])
    return cert, public, private


def install_credentials(ca: puppet_ca.CA, admin: Executor, servers: list[Executor]) -> dict[str, str]:
    """A new shared server keypair and admin client cert from the CA: the server keypair
    and the admin's public key on every daemon's host, the admin's cert and key and the
    server public key on the admin's host. Returns the public keys' fingerprints."""
    _, server_public, server_private = issue(ca, SERVER_KEYPAIR)
    admin_cert, admin_public, admin_private = issue(ca, ADMIN)
    def install(ex: Executor) -> None:
        ex.write_file(SERVER_PRIVATE, server_private, mode=0o600)
        ex.write_file(SERVER_PUBLIC, server_public)
        ex.write_file(f"{CLIENTS_DIR}/{ADMIN}.pem", admin_public)

    parallel(servers, install)
    admin.write_file(ADMIN_KEY, admin_private, mode=0o600)
    admin.write_file(ADMIN_CERT, admin_cert)
    admin.write_file(SERVER_PUBLIC, server_public)
    return {"server_public": public_key_id(server_public), "admin_public": public_key_id(admin_public)}


def public_key_id(pem: bytes) -> str:
    """A short id of a public key file (a public key has no certificate fingerprint)."""
    return hashlib.sha256(b"".join(pem.split())).hexdigest()[:16]


# --- daemons and the client ------------------------------------------------------------------

def restart_daemon(ex: Executor) -> ExecResult:
    """``service mcollective restart``: the daemon reads its cert, key and keys anew."""
    return ex.run(["service", "mcollective", "restart"], timeout=60)


@dataclass(frozen=True)
class Ping:
    """What ``mco ping`` said: the nodes that replied (with their latency in ms)."""

    replies: dict[str, float]
    exit_code: int
    output: str

    @property
    def timed_out(self) -> bool:
        return self.exit_code in (124, 137)


def ping_wait(nodes: int) -> int:
    """``mco ping -t``: how long to wait for replies from this many nodes (2 s; on a busy box
    100 daemons reply in 2-4.5 s, so 1 s more for every 10 nodes)."""
    return max(PING_WAIT, nodes // 10)


def ping(admin: Executor, wait: int = PING_WAIT, timeout: int = MCO_TIMEOUT) -> Ping:
    """``mco ping -t WAIT`` on the admin's host, killed after ``timeout`` seconds."""
    res = admin.run(["mco", "ping", "-t", str(wait)], check=False, timeout=timeout + max(0, wait - PING_WAIT))
    replies = {m.group(1): float(m.group(2))
               for m in re.finditer(r"^(\S+)\s+time=([\d.]+) ms", res.stdout, re.M)}
    return Ping(replies, res.exit_code, res.output)


def wait_ping(admin: Executor, identities: list[str], timeout: float, log=None) -> Ping:
    """Poll ``mco ping`` until every identity has replied (to this poll or an earlier one)."""
    last, heard = Ping({}, -1, ""), {}
    wait = ping_wait(len(identities))

    def probe() -> bool:
        nonlocal last
        last = ping(admin, wait)
        heard.update(last.replies)
        return set(heard) >= set(identities)

    wait_until(f"mco ping replies from {', '.join(identities)}", probe, timeout, interval=1.0,
                      log=lambda: describe(last) + ("\n" + log() if log else ""))
    return Ping({i: heard[i] for i in identities if i in heard}, last.exit_code, last.output)


def describe(p: Ping) -> str:
    if p.timed_out:
        return f"mco ping did not exit within {MCO_TIMEOUT}s (killed): {p.output[-300:] or 'no output'}"
    return f"mco ping exit {p.exit_code}, {len(p.replies)} replies: {p.output[-300:]}"


def daemon_errors(ex: Executor, limit: int = 3) -> list[str]:
    """The last errors in a daemon's log (TLS failures, security validation failures)."""
    res = ex.run(["sh", "-c", 'grep -E " [EW], |rror|failed" "$1" 2>/dev/null | tail -n "$2" || true', "sh",
                  DAEMON_LOG, str(limit)], check=False, timeout=20)
    return [line.strip()[:300] for line in res.stdout.splitlines() if line.strip()]



def start_broker(broker: Executor, where: puppet.Layout, timeout: float = 120) -> float:
    """``service activemq start`` (unless it runs), then wait until a STOMP CONNECT
    with the broker host's own Puppet cert succeeds (the broker really serves TLS)."""
    puppet.start(broker, "activemq")
    return wait_broker(broker, where, timeout)


def wait_broker(broker: Executor, where: puppet.Layout, timeout: float = 120) -> float:
    certname = broker.run(["hostname"], timeout=20).stdout.strip()

    def probe() -> bool:
        return stomp_connect(broker, where.hostcert(certname), where.hostkey(certname), where.localcacert)[0]

    return wait_until("the ActiveMQ broker (STOMP over TLS)", probe, timeout, interval=1.0,
                             log=lambda: "\n".join(broker_log_errors(broker)[-5:]))


def errors_of(daemons: list[tuple[str, Executor]], broker: Executor | None, limit: int = 2) -> list[str]:
    """What the daemons' logs and the broker's log say went wrong, for an error or a proof."""
    lines = [f"{name} mcollectived: {e}" for name, ex in daemons[:2] for e in daemon_errors(ex, limit)]
    if broker is not None:
        lines += [f"broker: {e[:300]}" for e in broker_log_errors(broker)[-limit:]]
    return lines
