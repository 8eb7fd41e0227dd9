"""Proofs of refusal: an old agent's or compiler's cert offered to Puppet Server and PuppetDB
is refused with the server's own TLS alert (anything else proves nothing)."""

from __future__ import annotations

from ...ops import pki, puppet
from ..runner import RunState
from ..site import Host, Site
from .verdict import CERT_ALERT, CURL_TLS_EXITS, FAIL, PASS, UNKNOWN, Found, nothing_to_check


def old_credentials_ok(ex, cert: str, key: str, serial: int | None) -> str:
    """Why the old credentials kept in step 0 cannot serve the refusal proof ("" when they
    can): both files there, the cert the one recorded (by serial), the key its own. The
    key is compared on its host (its public half only); it never leaves it."""
    script = ('[ -s "$1" ] || { echo "no cert at $1"; exit 1; }; [ -s "$2" ] || { echo "no key at $2"; exit 1; }; '
              'a=$(openssl x509 -in "$1" -noout -pubkey) && b=$(openssl pkey -in "$2" -pubout) || exit 1; '
              '[ "$a" = "$b" ] || { echo "the key is not the cert'"'"'s"; exit 1; }; cat "$1"')
    res = ex.run(["sh", "-c", script, "sh", cert, key], check=False, timeout=30)
    if res.exit_code != 0:
        why = res.output.strip()[:200] or f"exit {res.exit_code}"
        return f"could not tell: the old credentials kept in step 0 are not usable: {why}"
    if serial is not None:
        kept = pki.load_certs(res.stdout.encode(), "the kept old cert")[0].serial_number
        if kept != serial:
            return f"could not tell: the kept old cert has serial {kept:X}, not {serial:X} as recorded in step 0"
    return ""


def tls_answer(res) -> str:
    """What a TLS probe (curl) observed of the client cert: "accepted" (the handshake
    completed, whatever HTTP said), "refused" (a certificate alert from the peer), or
    "unknown" (anything else: no connection, a timeout, a file missing)."""
    if res.exit_code == 0:
        return "accepted"
    if res.exit_code in CURL_TLS_EXITS and CERT_ALERT.search(res.stderr):
        return "refused"
    return "unknown"


def old_credentials_refused(
    site: Site, state: RunState, where: tuple[str, ...] = ("server", "puppetdb"),
) -> Found:
    witness = site.agent(state.facts.before.witness)
    return _refused(site, witness, f"{puppet.OLD_CREDS}/cert.pem", f"{puppet.OLD_CREDS}/key.pem",
                    state.facts.before.agent_serials.get(witness.name), where)


def old_compiler_cert_refused(site: Site, state: RunState) -> Found:
    """A compiler's old cert and key (kept in step 0 on it) against the master and PuppetDB."""
    before = state.facts.before
    if not site.compilers:
        return nothing_to_check("no compiler")
    compiler = next((c for c in site.compilers if c.name == before.compiler_witness), site.compilers[0])
    return _refused(site, compiler, f"{puppet.OLD_CREDS}/cert.pem", f"{puppet.OLD_CREDS}/key.pem",
                    before.compiler_serial, ("server", "puppetdb"), master=True)


def _refused(site: Site, host: Host, old_cert: str, old_key: str, serial: int | None,
             where: tuple[str, ...], master: bool = False) -> Found:
    """``host``'s old cert and key (kept in step 0) probed against Puppet Server (the name
    the host uses for catalogs, or the master itself) and PuppetDB, each after the host's new
    cert got HTTP 200 there: refused only with a certificate alert. A site without PuppetDB
    is probed at Puppet Server only."""
    ex = host.executor
    where = tuple(w for w in where if w != "puppetdb" or site.puppetdb is not None)
    whose = f"{host.name}'s old cert and key"
    unusable = old_credentials_ok(ex, old_cert, old_key, serial)
    if unusable:
        return Found(UNKNOWN, f"{whose}: {unusable}")
    server = site.ca.certname if master else \
        ex.run(["puppet", "config", "print", "server"]).stdout.strip()  # the name this agent uses
    urls = {"server": f"https://{server}:8140/puppet/v3/environments",
            **({"puppetdb": f"https://{site.puppetdb.certname}:8081/pdb/query/v4/nodes"} if site.puppetdb else {})}

    def probe(url: str, cert: str, key: str):
        return ex.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", host.layout.localcacert,
                       "--cert", cert, "--key", key, url], check=False, timeout=30)

    def said(res) -> str:
        return f"curl exit {res.exit_code}: {res.stderr.strip()[:300] or 'HTTP ' + res.stdout.strip()}"

    parts, verdicts = [], []
    for part in where:
        new = probe(urls[part], host.cert, host.key)
        if tls_answer(new) != "accepted" or new.stdout.strip() != "200":  # the positive control
            verdicts.append(UNKNOWN)
            parts.append(f"{part}: could not tell: the new cert itself is not served ({said(new)})")
            continue
        old = probe(urls[part], old_cert, old_key)
        answer = tls_answer(old)
        if answer == "refused":
            verdicts.append(PASS)
            parts.append(f"{part}: old cert refused ({said(old)}); new cert accepted (HTTP 200)")
        elif answer == "accepted":
            verdicts.append(FAIL)
            parts.append(f"{part}: old cert ACCEPTED (TLS handshake completed, HTTP {old.stdout.strip() or '-'}); "
                         "new cert accepted (HTTP 200)")
        else:
            verdicts.append(UNKNOWN)
            parts.append(f"{part}: could not tell: the old cert's probe got no certificate alert ({said(old)})")
    verdict = FAIL if FAIL in verdicts else UNKNOWN if UNKNOWN in verdicts else PASS
    return Found(verdict, f"{whose}: " + "; ".join(parts))
