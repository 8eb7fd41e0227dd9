"""The proof: after the procedure, the deployment works under the new CA and nothing of
the old CA is trusted. Every check quotes its evidence (fingerprints, the real errors)."""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from ..core.errors import CommandFailed, RegenLabError
from ..core.wait import parallel
from ..ops import mcollective, pki, puppet, rootca
from . import hostbackup
from .runner import RunState
from .site import Host, Site
from .steps.master import backup_paths

# A proof's verdict: only "pass" passes. "could not tell": the check itself did not get an
# answer it can judge (a probe refused for another reason than the one claimed, a host that
# does not answer); "nothing to check": it had no host to look at (0 of 0 proves nothing).
PASS, FAIL, UNKNOWN, EMPTY = "pass", "fail", "could not tell", "nothing to check"

# What a TLS peer says when it refuses a client's certificate (OpenSSL's text of the alert);
# anything else a probe gets (no route, a timeout, a missing file) proves nothing.
CERT_ALERT = re.compile(r"alert (certificate unknown|unknown ca|bad certificate|certificate revoked|"
                        r"certificate expired|unsupported certificate)", re.I)
CURL_TLS_EXITS = (35, 56)  # curl: SSL connect error, failure receiving (TLS 1.3 alerts arrive there)


@dataclass(frozen=True)
class ProofResult:
    name: str  # stable: what scenarios and readers call it (`old-cert-refused`)
    claim: str
    verdict: str
    evidence: str
    id: str = ""  # its number in this run's list of proofs, given by prove()

    @property
    def passed(self) -> bool:
        return self.verdict == PASS


def _result(name: str, claim: str, ok: bool, evidence: str) -> ProofResult:
    return ProofResult(name, claim, PASS if ok else FAIL, evidence)


def _nothing(name: str, claim: str, what: str) -> ProofResult:
    return ProofResult(name, claim, EMPTY, f"nothing to check: {what}")


def _short(fp: str) -> str:
    return fp[:23] + "..."


def _error_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if "rror" in line or "failed" in line.lower()]
    return " | ".join(lines[:limit]) or text.strip()[-300:]


def _read_all(hosts: list[Host], path_of: Callable[[Host], str]) -> list[bytes | RegenLabError]:
    """Each host's file, read side by side (a lab of 100 agents); a failure kept in its place."""

    def read(host: Host) -> bytes | RegenLabError:
        try:
            return host.executor.read_file(path_of(host))
        except RegenLabError as exc:  # CommandFailed too
            return exc

    return parallel(hosts, read)


def certs_chain_to_ca(site: Site, state: RunState, hosts: list[Host], expect_new_ca: bool,
                      name: str, claim: str) -> ProofResult:
    if not hosts:
        return _nothing(name, claim, "no host to check")
    ca_bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    ca_fp = pki.fingerprint(pki.root_of(ca_bundle))
    old_fp = state.facts.before.ca_fingerprint
    bad = []
    for host, pem in zip(hosts, _read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
        try:
            if isinstance(pem, RegenLabError):
                raise pem
            leaf = pki.load_certs(pem)[0]
        except (CommandFailed, RegenLabError) as exc:
            bad.append(f"{host.name}: no cert ({str(exc).splitlines()[0]})")
            continue
        if pki.chain_to(leaf, ca_bundle) is None:
            bad.append(f"{host.name}: cert does not chain to the CA")
    changed = ca_fp != old_fp
    what = f"CA {'changed' if changed else 'unchanged'}: old {_short(old_fp)}, now {_short(ca_fp)}"
    evidence = f"{what}; {len(hosts) - len(bad)}/{len(hosts)} hosts chain to it"
    if bad:
        evidence += "; " + "; ".join(bad)
    return _result(name, claim, not bad and changed == expect_new_ca, evidence)


def run_failures(agents: list[Host]) -> list[str]:
    """`puppet agent -t` on each agent; the failures, each with the run's own error lines."""

    def one(host: Host) -> str | None:
        res = puppet.agent_test(host.executor, check=False)
        return None if res.exit_code in puppet.AGENT_RUN_OK else \
            f"{host.name}: exit {res.exit_code}: {_error_lines(res.output)}"

    return [f for f in parallel(agents, one, limit=4) if f]


def agents_run(site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    store = site.reports
    name = "agents-run"
    claim = f"every agent's run succeeds and {store.where} has its report from after the regeneration"
    if not agents:
        return _nothing(name, claim, "no agent in this run")
    since = state.facts.times.server_stopped_at or state.started
    failures = run_failures(agents)
    try:
        reports = store.latest()
    except CommandFailed as exc:
        return _result(name, claim, False, "; ".join(failures + [f"{store.where} query failed: "
                                                                 f"{_error_lines(exc.output)}"]))
    stale = [a.name for a in agents if a.certname not in reports or reports[a.certname].receive_time <= since]
    evidence = f"{len(agents) - len(failures)}/{len(agents)} `puppet agent -t` succeeded"
    evidence += f"; reports in {store.where} after {since}: {len(agents) - len(stale)}/{len(agents)}"
    if failures:
        evidence += "; " + "; ".join(failures)
        evidence += "".join(f"; the master's log: {line}" for line in puppet.server_errors(site.ca.executor))
    if stale:
        evidence += f"; no fresh report from {', '.join(stale)}"
    return _result(name, claim, not failures and not stale, evidence)


# --- refusals, observed -----------------------------------------------------------------------

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
) -> ProofResult:
    witness = site.agent(state.facts.before.witness)
    return _refused(site, witness, "old-cert-refused", f"{puppet.OLD_CREDS}/cert.pem", f"{puppet.OLD_CREDS}/key.pem",
                    state.facts.before.agent_serials.get(witness.name), where)


def old_compiler_cert_refused(site: Site, state: RunState) -> ProofResult:
    """A compiler's old cert and key (kept in step 0 on it) against the master and PuppetDB."""
    before = state.facts.before
    name = "old-compiler-cert-refused"
    if not site.compilers:
        return _nothing(name, "a compiler's old cert is refused", "no compiler")
    compiler = next((c for c in site.compilers if c.name == before.compiler_witness), site.compilers[0])
    return _refused(site, compiler, name, f"{puppet.OLD_CREDS}/cert.pem", f"{puppet.OLD_CREDS}/key.pem",
                    before.compiler_serial, ("server", "puppetdb"), master=True)


def _refused(site: Site, host: Host, name: str, old_cert: str, old_key: str, serial: int | None,
             where: tuple[str, ...], master: bool = False) -> ProofResult:
    """``host``'s old cert and key (kept in step 0) probed against Puppet Server (the name
    the host uses for catalogs, or the master itself) and PuppetDB, each after the host's new
    cert got HTTP 200 there: refused only with a certificate alert. A site without PuppetDB
    is probed at Puppet Server only."""
    ex = host.executor
    where = tuple(w for w in where if w != "puppetdb" or site.puppetdb is not None)
    claim = f"{host.name}'s old cert and key are refused by {' and '.join(where)}"
    unusable = old_credentials_ok(ex, old_cert, old_key, serial)
    if unusable:
        return ProofResult(name, claim, UNKNOWN, unusable)
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
    return ProofResult(name, claim, verdict, "; ".join(parts))


def compilers_serve(site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    """Each compiler serves its cert on disk, which chains to the new CA and carries the alt
    names it asks for (its `dns_alt_names`), and each agent's latest report (in PuppetDB, or
    in a compiler's own store) was sent by a compiler (its `producer`) after the
    regeneration began."""
    name = "compilers-serve"
    claim = "every agent's run goes through a compiler that serves its new cert with its alt names"
    if not site.compilers:
        return _nothing(name, claim, "no compiler")
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad, fine = [], []
    for c in site.compilers:
        ex = c.executor
        cert = pki.load_certs(ex.read_file(c.cert))[0]
        names = set(pki.info(cert).dns_names)
        asked = {n.strip() for n in ex.run(["puppet", "config", "print", "dns_alt_names"]).stdout.split(",")
                 if n.strip()}
        problems = [what for what, wrong in (
            ("does not chain to the new CA", pki.fingerprint(pki.root_of(bundle)) == state.facts.before.ca_fingerprint
             or pki.chain_to(cert, bundle) is None),
            (f"lacks alt names {', '.join(sorted(asked - names))}", not asked <= names),
            ("serves another cert than its own on disk", not puppet.serves(ex, 8140, c.cert)),
        ) if wrong]
        (bad if problems else fine).append(f"{c.name}: {'; '.join(problems)}" if problems else
                                           f"{c.name} (DNS names {', '.join(sorted(names))})")
    since = state.facts.times.server_stopped_at or state.started
    compilers = {c.certname for c in site.compilers}
    reports = site.reports.latest()
    via = {a.name: reports[a.certname].producer if a.certname in reports else "" for a in agents}
    astray = [f"{a.name} (report {'from ' + via[a.name] if via[a.name] else 'missing'})" for a in agents
              if via[a.name] not in compilers or reports[a.certname].receive_time <= since]
    used = sorted({p for p in via.values() if p in compilers})
    evidence = (f"{len(fine)}/{len(site.compilers)} compilers serve their new cert: {'; '.join(fine + bad)}; "
                f"{len(agents) - len(astray)}/{len(agents)} agents' fresh reports sent by a compiler "
                f"({', '.join(used) or 'none'})")
    if astray:
        evidence += f"; not through a compiler: {', '.join(astray)}"
    return _result(name, claim, not bad and not astray, evidence)


def nothing_trusts_the_old_ca(site: Site, state: RunState, name: str = "old-ca-untrusted",
                              claim: str = "no host trusts the old CA (CA bundles and CRLs)") -> ProofResult:
    """Every host's CA bundle holds no old CA cert, and every Puppet host's crl.pem is there
    and signed by the new CA (PostgreSQL is given a CA bundle and no CRL)."""
    old = set(state.facts.before.ca_certs)
    new_bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad = []
    hosts = list(site.all_hosts)
    bundles = _read_all(hosts, lambda h: site.cert_paths(h)[1])
    crls = _read_all(hosts, lambda h: h.layout.hostcrl)
    for host, pem, crl in zip(hosts, bundles, crls, strict=True):
        try:
            if isinstance(pem, RegenLabError):
                raise pem
            bundle = pki.load_certs(pem)
        except (CommandFailed, RegenLabError):
            bad.append(f"{host.name}: no CA bundle")
            continue
        if old & {pki.fingerprint(c) for c in bundle}:
            bad.append(f"{host.name}: its CA bundle holds the old CA")
        if host is site.postgres:
            continue
        parsed = pki.load_crls(crl) if not isinstance(crl, RegenLabError) else []
        if not parsed:
            bad.append(f"{host.name}: no CRL at {host.layout.hostcrl}")
        elif not all(pki.crl_signed_by_one_of(c, new_bundle) for c in parsed):
            bad.append(f"{host.name}: crl.pem is the old CA's")
    return _result(name, claim, not bad,
                   f"{len(hosts) - len(bad)}/{len(hosts)} hosts hold only the new CA's bundle and CRL"
                   + (f"; {'; '.join(bad)}" if bad else ""))


def revoked_in_crl(site: Site, state: RunState) -> ProofResult:
    name, claim = "old-certs-revoked", "the re-enrolled agents' old certs are revoked in the CA's CRL"
    if not state.agents:
        return _nothing(name, claim, "no agent in this run")
    crl = x509.load_pem_x509_crl(site.ca.executor.read_file(f"{site.ca.layout.cadir}/ca_crl.pem"))
    serials = {n: state.facts.before.agent_serials[n] for n in state.agents}
    listed = [n for n, s in serials.items() if crl.get_revoked_certificate_by_serial_number(s) is not None]
    missing = [n for n in serials if n not in listed]

    def names(which: list[str]) -> str:
        return ", ".join(f"{n} (serial {serials[n]:X})" for n in which) or "none"

    return _result(name, claim, not missing, f"in the CA's CRL: {names(listed)}; not in it: {names(missing)}")


def _with_new_certs(agents: Sequence[Host], state: RunState) -> list[str]:
    """The agents whose cert is no longer the one step 0 recorded (by serial)."""
    changed = []
    for host in agents:
        cert = pki.load_certs(host.executor.read_file(host.cert))[0]
        if cert.serial_number != state.facts.before.agent_serials[host.name]:
            changed.append(host.name)
    return changed


def others_untouched(site: Site, state: RunState) -> ProofResult:
    name, claim = "others-untouched", "the other agents keep their certs and keep working"
    others = [a for a in site.agents if a.name not in state.agents]
    if not others:
        return _nothing(name, claim, "every agent was re-enrolled, none was left to stay untouched")
    changed = _with_new_certs(others, state)
    failures = run_failures(others)
    evidence = f"{len(others) - len(changed)}/{len(others)} other agents keep their certs; " \
               f"{len(others) - len(failures)}/{len(others)} runs succeed"
    if changed or failures:
        evidence += "; " + "; ".join([f"{n}: cert changed" for n in changed] + failures)
    return _result(name, claim, not changed and not failures, evidence)


def nothing_lost(site: Site, state: RunState) -> ProofResult:
    """After a rollback: every file of the master's backup is back on the master byte for
    byte (the CA's key, certs, inventory, serial and CRL, puppet.conf), every file of each
    other host the run had changed is back too, and every agent still holds its old cert."""
    name = "nothing-lost"
    claim = "nothing lost: the backups' files are back byte for byte, every agent keeps its cert"
    with tarfile.open(state.facts.backup.path, mode="r:gz") as tar:
        wanted = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
                  for m in tar.getmembers() if m.isfile()}
    if not wanted:
        return _nothing(name, claim, "the backup holds no file")
    res = site.ca.executor.run(["sh", "-c", 'cd / && find "$@" -type f -exec sha256sum {} +', "sh",
                                *backup_paths(site.ca.layout)], check=False)
    now = {path: digest for digest, path in (line.split(None, 1) for line in res.stdout.splitlines() if line)}
    missing = sorted(n for n in wanted if n not in now)
    differ = sorted(n for n in wanted if n in now and now[n] != wanted[n])
    others = hostbackup.to_restore(site, state)
    hosts_wanted = state.facts.backup.hosts
    off = parallel(others, lambda p: hostbackup.differences(p, hosts_wanted.get(p.name, {})))
    hosts_off = [f"{p.name}:{path}" for p, paths in zip(others, off, strict=True) for path in paths]
    hosts_files = sum(len(hosts_wanted.get(p.name, {})) for p in others)
    unkept = [p.name for p in others if not hosts_wanted.get(p.name)]
    moved = _with_new_certs(site.agents, state)
    evidence = (f"{len(wanted) - len(missing) - len(differ)}/{len(wanted)} files of the backup identical on the "
                f"master; " + (f"{hosts_files - len(hosts_off)}/{hosts_files} files of the other hosts' backup "
                               f"identical on {', '.join(p.name for p in others)}; " if others else
                               "no other host had changed; ") +
                f"{len(site.agents) - len(moved)}/{len(site.agents)} agents keep their certs")
    for label, names in (("missing", missing), ("changed", differ), ("other hosts' files not back", hosts_off),
                         ("never backed up", unkept), ("agents with a new cert", moved)):
        if names:
            evidence += f"; {label}: {', '.join(names[:5])}"
    return _result(name, claim, not (missing or differ or hosts_off or unkept or moved), evidence)


# --- MCollective over ActiveMQ ------------------------------------------------------------

def ca_key_kept(site: Site, state: RunState) -> ProofResult:
    """After an extension: the CA's certificates carry the old public keys and outlive the old
    ones, and every host's cert chains to them."""
    name, claim = "ca-key-kept", "the CA keeps its keys, its certificates now outlive the old ones, every host chains"
    before = state.facts.before
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    keys = [pki.key_fingerprint(c) for c in bundle]
    until = min(pki.info(c).not_after for c in bundle)
    old_until = datetime.fromisoformat(before.ca_expires) if before.ca_expires else None
    chain = certs_chain_to_ca(site, state, list(site.all_hosts), True, name, claim)
    kept = keys == before.ca_keys
    longer = old_until is not None and until > old_until
    evidence = (f"{'the same' if kept else 'NOT the same'} public keys ({len(keys)} certs, root key "
                f"{_short(keys[-1])}); valid until {until:%Y-%m-%d}, were until "
                f"{old_until:%Y-%m-%d}" if old_until else "?") + f"; {chain.evidence}"
    return _result(name, claim, kept and longer and chain.passed, evidence)


def host_certs_kept(site: Site, state: RunState) -> ProofResult:
    """After an extension: every host keeps the cert it had (the serial step 0 read)."""
    name, claim = "host-certs-kept", "every host keeps its own certificate (same serial)"
    before = {**state.facts.before.host_serials, **state.facts.before.agent_serials}
    hosts = [h for h in site.all_hosts if h.name in before]
    changed = []
    for host, pem in zip(hosts, _read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
        serial = None if isinstance(pem, RegenLabError) else pki.info(pki.load_certs(pem)[0]).serial
        if serial != before[host.name]:
            changed.append(host.name)
    evidence = f"{len(hosts) - len(changed)}/{len(hosts)} hosts keep the cert step 0 read"
    return _result(name, claim, bool(hosts) and not changed and len(hosts) == len(site.all_hosts),
                   evidence + (f"; changed or unreadable: {', '.join(changed)}" if changed else ""))


def _latency(replies: dict[str, float]) -> str:
    return f"max {max(replies.values()):.0f} ms" if replies else "no reply"


def mco_ping_answers(site: Site, state: RunState) -> ProofResult:
    """`mco ping` from the admin gets a reply from every agent, as it did before."""
    name, claim = "mco-ping", "every agent answers `mco ping` from the admin, before and after"
    identities = [a.certname for a in site.agents]
    if not identities:
        return _nothing(name, claim, "no agent")
    before = state.facts.mco.replies_before
    ping = mcollective.ping(site.admin.executor, mcollective.ping_wait(len(identities)))
    missing = [i for i in identities if i not in ping.replies]
    evidence = (f"before: {len(before)}/{len(identities)} replied ({_latency(before)}); "
                f"after: {len(identities) - len(missing)}/{len(identities)} replied ({_latency(ping.replies)})")
    if missing:
        daemons = [(a.name, a.executor) for a in site.agents if a.certname in missing]
        errors = mcollective.errors_of(daemons, site.broker.executor if site.broker else None)
        evidence += f"; no reply from {', '.join(missing)}; {mcollective.describe(ping)}; " + "; ".join(errors)
    return _result(name, claim, not missing and set(before) >= set(identities), evidence)


STOMP_ERROR = re.compile(r"^ERROR", re.M)
BROKER_REFUSAL = re.compile(r"certificate_unknown|PKIX|unknown_ca|bad_certificate")


def old_mco_client_refused(site: Site, state: RunState) -> ProofResult:
    """A STOMP CONNECT with the admin's old client cert and key (kept in step 0) is refused
    by the broker's TLS layer: the client gets a certificate alert and the broker logs its
    refusal of that connection. The new cert is probed first (it must get CONNECTED):
    otherwise the broker is not serving and the refusal would prove nothing."""
    name = "old-mco-client-refused"
    claim = "the admin's old MCollective client cert is refused by the broker, the new one accepted"
    admin, broker = site.admin.executor, site.broker.executor
    old_cert, old_key = f"{puppet.OLD_CREDS}/mco-admin-cert.pem", f"{puppet.OLD_CREDS}/mco-admin-key.pem"
    unusable = old_credentials_ok(admin, old_cert, old_key, state.facts.mco.old_admin_serial)
    if unusable:
        return ProofResult(name, claim, UNKNOWN, unusable)
    new_ok, new_out = mcollective.stomp_connect(admin, mcollective.ADMIN_CERT, mcollective.ADMIN_KEY, user="admin")
    if not new_ok:
        return ProofResult(name, claim, UNKNOWN,
                           f"could not tell: the new cert itself gets no CONNECTED ({_error_lines(new_out, 2)})")
    mark = mcollective.broker_log_length(broker)
    old_ok, old_out = mcollective.stomp_connect(admin, old_cert, old_key, user="admin")
    logged = [line for line in mcollective.broker_log_errors(broker, since_lines=mark) if BROKER_REFUSAL.search(line)]
    broker_says = f"broker log: {logged[0][:300]}" if logged else "broker log: no refusal logged"
    if old_ok or STOMP_ERROR.search(old_out):
        what = "CONNECTED" if old_ok else "TLS handshake completed, STOMP ERROR"
        return ProofResult(name, claim, FAIL, f"old cert ACCEPTED ({what}): {_error_lines(old_out, 2)}; "
                                              f"{broker_says}; new cert accepted (CONNECTED)")
    if CERT_ALERT.search(old_out) and logged:
        return ProofResult(name, claim, PASS, f"old cert refused (openssl: {_error_lines(old_out, 2)}); "
                                              f"{broker_says}; new cert accepted (CONNECTED)")
    alert = "a certificate alert" if CERT_ALERT.search(old_out) else "no certificate alert"
    return ProofResult(name, claim, UNKNOWN, f"could not tell: the old cert's probe got {alert} "
                                             f"(openssl: {_error_lines(old_out, 2)}); {broker_says}")


def broker_trusts_only_the_new_ca(site: Site, state: RunState) -> ProofResult:
    name = "broker-truststore"
    claim = "the broker's truststore holds the new CA and not the old one (keytool -list -rfc)"
    trusted = {pki.fingerprint(c) for c in mcollective.truststore_certs(site.broker.executor)}
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    new = {pki.fingerprint(c) for c in bundle}
    old = set(state.facts.before.ca_certs)
    has_new, has_old = new <= trusted, bool(old & trusted)
    evidence = (f"{len(trusted)} trusted certs; new CA ({len(new)} certs, root "
                f"{_short(pki.fingerprint(pki.root_of(bundle)))})"
                f" {'present' if has_new else 'MISSING'}; old CA ({_short(state.facts.before.ca_fingerprint)}) "
                f"{'STILL TRUSTED' if has_old else 'absent'}")
    return _result(name, claim, has_new and not has_old, evidence)


# --- the proofs of each kind of run -------------------------------------------------------------

# --- an intermediate under an external root (`--ca-import`) -----------------------------------

def _imported(state: RunState) -> list[x509.Certificate]:
    return pki.load_certs(rootca.read_import(Path(state.ca_import)).bundle)


def chain_to_root(site: Site, state: RunState) -> ProofResult:
    """Every host's cert is signed by the imported intermediate, which the external root
    signed; the CA's bundle is the import set's."""
    name, claim = "chain-to-root", "every host's cert chains through the imported intermediate to the external root"
    imported = _imported(state)
    intermediate, root = imported[0], pki.root_of(imported)
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad = [] if [pki.fingerprint(c) for c in bundle] == [pki.fingerprint(c) for c in imported] else \
        [f"the CA's bundle ({site.ca.layout.cacert}) is not the import set's"]
    hosts = list(site.all_hosts)
    for host, pem in zip(hosts, _read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
        chain = None if isinstance(pem, RegenLabError) else pki.chain_to(pki.load_certs(pem)[0], imported)
        if not chain or pki.fingerprint(chain[1]) != pki.fingerprint(intermediate) or \
                pki.fingerprint(chain[-1]) != pki.fingerprint(root):
            bad.append(f"{host.name}: its cert does not chain through the intermediate to the root")
    evidence = (f"{len(hosts) - sum(1 for b in bad if ':' in b)}/{len(hosts)} hosts: cert <- "
                f"{pki.info(intermediate).subject!r} <- {pki.info(root).subject!r} ({_short(pki.fingerprint(root))})")
    return _result(name, claim, not bad, evidence + "".join(f"; {b}" for b in bad))


def crl_per_ca(site: Site, state: RunState) -> ProofResult:
    """Every Puppet host's crl.pem holds a CRL of each CA of the chain, signed by it and
    current (`certificate_revocation = chain` needs them all)."""
    name, claim = "crl-per-ca", "every Puppet host holds a current CRL of each CA in the chain"
    cas = _imported(state)
    hosts = [h for h in site.all_hosts if h is not site.postgres]
    at = datetime.now(UTC)
    bad = []
    for host, pem in zip(hosts, _read_all(hosts, lambda h: h.layout.hostcrl), strict=True):
        crls = [] if isinstance(pem, RegenLabError) else pki.load_crls(pem)
        for ca in cas:
            own = [c for c in crls if pki.crl_signed_by_one_of(c, [ca])]
            if not own:
                bad.append(f"{host.name}: no CRL of {pki.info(ca).subject!r}")
            elif own[0].next_update_utc is not None and own[0].next_update_utc < at:
                bad.append(f"{host.name}: the CRL of {pki.info(ca).subject!r} expired "
                           f"{own[0].next_update_utc:%Y-%m-%d %H:%M}")
    evidence = f"{len(hosts) - len({b.split(':')[0] for b in bad})}/{len(hosts)} hosts hold a current CRL of each " \
               f"of the {len(cas)} CAs"
    return _result(name, claim, not bad, evidence + "".join(f"; {b}" for b in bad))


def revocation_leaf(site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    """Puppet's default checks the CRL of every CA of the chain (`chain`: the agents' runs
    above); one agent's run with `certificate_revocation = leaf` succeeds too."""
    name, claim = "revocation-leaf", "an agent's run also succeeds with `certificate_revocation = leaf`"
    if not agents:
        return _nothing(name, claim, "no agent in this run")
    res = puppet.agent_test(agents[0].executor, check=False, extra=["--certificate_revocation", "leaf"])
    ok = res.exit_code in puppet.AGENT_RUN_OK
    return _result(name, claim, ok, f"{agents[0].name}: `puppet agent -t --certificate_revocation leaf` exit "
                                    f"{res.exit_code}" + ("" if ok else f": {_error_lines(res.output)}"))


@dataclass(frozen=True)
class Proof:
    """One proof: its stable name, its claim, and its check (site, state, the run's agents)."""

    name: str
    claim: str
    check: Callable[[Site, RunState, list[Host]], ProofResult]
    needs_broker: bool = False
    needs_compilers: bool = False
    needs_import: bool = False  # only for a run onto an imported intermediate (`--ca-import`)


def _chain(expect_new_ca: bool, name: str, claim: str, every_host: bool) -> Proof:
    return Proof(name, claim, lambda site, state, agents: certs_chain_to_ca(
        site, state, list(site.all_hosts) if every_host else agents, expect_new_ca, name, claim))


AGENTS_RUN = Proof("agents-run", "every agent's run succeeds and PuppetDB has its report from after the regeneration",
                   lambda site, state, agents: agents_run(site, state, agents))
MCO_PING = Proof("mco-ping", "every agent answers `mco ping` from the admin, before and after",
                 lambda site, state, agents: mco_ping_answers(site, state), needs_broker=True)

# The proofs of each mode, in order: a proof's number is its place in its list (one place).
PROOFS: dict[str, tuple[Proof, ...]] = {
    "full": (
        _chain(True, "chain-to-new-ca", "the CA changed and every host's cert chains to the new CA", True),
        AGENTS_RUN,
        Proof("old-cert-refused", "the old agent cert is refused by Puppet Server and PuppetDB",
              lambda site, state, agents: old_credentials_refused(site, state)),
        Proof("old-ca-untrusted", "no host trusts the old CA (CA bundles and CRLs)",
              lambda site, state, agents: nothing_trusts_the_old_ca(site, state)),
        MCO_PING,
        Proof("old-mco-client-refused", "the admin's old MCollective client cert is refused by the broker",
              lambda site, state, agents: old_mco_client_refused(site, state), needs_broker=True),
        Proof("broker-truststore", "the broker's truststore holds the new CA and not the old one",
              lambda site, state, agents: broker_trusts_only_the_new_ca(site, state), needs_broker=True),
        Proof("compilers-serve", "every agent's run goes through a compiler that serves its new cert with its alt "
              "names", compilers_serve, needs_compilers=True),
        Proof("old-compiler-cert-refused", "a compiler's old cert is refused by the master and PuppetDB",
              lambda site, state, agents: old_compiler_cert_refused(site, state), needs_compilers=True),
        Proof("chain-to-root", "every host's cert chains through the imported intermediate to the external root",
              lambda site, state, agents: chain_to_root(site, state), needs_import=True),
        Proof("crl-per-ca", "every Puppet host holds a current CRL of each CA in the chain",
              lambda site, state, agents: crl_per_ca(site, state), needs_import=True),
        Proof("revocation-leaf", "an agent's run also succeeds with `certificate_revocation = leaf`", revocation_leaf,
              needs_import=True),
    ),
    "partial": (
        _chain(False, "ca-kept", "the CA is unchanged and the re-enrolled agents' certs chain to it", False),
        AGENTS_RUN,
        Proof("old-cert-refused", "the old agent cert is refused by Puppet Server",
              lambda site, state, agents: old_credentials_refused(site, state, where=("server",))),
        Proof("old-certs-revoked", "the re-enrolled agents' old certs are revoked in the CA's CRL",
              lambda site, state, agents: revoked_in_crl(site, state)),
        Proof("others-untouched", "the other agents keep their certs and keep working",
              lambda site, state, agents: others_untouched(site, state)),
        MCO_PING,
    ),
    "extend": (
        Proof("ca-key-kept", "the CA keeps its keys, its certificates now outlive the old ones, every host chains",
              lambda site, state, agents: ca_key_kept(site, state)),
        Proof("expiring-ca-replaced", "no host holds the expiring CA certificates any more (CA bundles; CRLs verify)",
              lambda site, state, agents: nothing_trusts_the_old_ca(
                  site, state, "expiring-ca-replaced",
                  "no host holds the expiring CA certificates any more (CA bundles; CRLs verify)")),
        Proof("host-certs-kept", "every host keeps its own certificate (same serial)",
              lambda site, state, agents: host_certs_kept(site, state)),
        AGENTS_RUN,
        MCO_PING,
        Proof("broker-truststore", "the broker's truststore holds the extended CA and not the expiring one",
              lambda site, state, agents: broker_trusts_only_the_new_ca(site, state), needs_broker=True),
    ),
    "rollback": (
        _chain(False, "old-ca-back", "the CA is the old one again and every host's cert chains to it", True),
        AGENTS_RUN,
        Proof("nothing-lost", "nothing lost: the backups' files are back byte for byte, every agent keeps its cert",
              lambda site, state, agents: nothing_lost(site, state)),
        MCO_PING,
    ),
}
NAMES = frozenset(p.name for proofs in PROOFS.values() for p in proofs)


def proofs_of(mode: str, broker: bool, compilers: bool = False, imported: bool = False) -> tuple[Proof, ...]:
    return tuple(p for p in PROOFS[mode] if (broker or not p.needs_broker) and (compilers or not p.needs_compilers)
                 and (imported or not p.needs_import))


def _guarded(proof: Proof, site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    """A check that cannot even be made (a host unreachable, a file missing) could not tell."""
    try:
        return proof.check(site, state, agents)
    except (RegenLabError, KeyError, ValueError) as exc:
        return ProofResult(proof.name, proof.claim, UNKNOWN, f"could not check: {str(exc).splitlines()[0][:300]}")


def prove(site: Site, state: RunState) -> list[ProofResult]:
    """The proof of a run (also of a failed or deliberately broken one: it shows what broke)."""
    if not state.facts.before.ca_fingerprint:
        return []
    agents = [site.agent(a) for a in state.agents]
    return [replace(_guarded(p, site, state, agents), id=str(i))
            for i, p in enumerate(proofs_of(state.mode, site.broker is not None, bool(site.compilers),
                                            bool(state.ca_import)), 1)]
