"""The proof: after the procedure, the deployment works under the new CA and nothing of
the old CA is trusted. Every check quotes its evidence (fingerprints, the real errors)."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from . import mcollective, pki, procedure, puppet
from .errors import CommandFailed, RegenLabError
from .lab import PG_SSL, parallel
from .procedure import RunState
from .site import Host, Site


@dataclass(frozen=True)
class ProofResult:
    id: str
    claim: str
    passed: bool
    evidence: str


def _cert_path(site: Site, host: Host) -> str:
    return f"{PG_SSL}/postgres.crt" if host is site.postgres else puppet.hostcert(host.certname)


def _bundle_path(site: Site, host: Host) -> str:
    return f"{PG_SSL}/ca.pem" if host is site.postgres else puppet.LOCALCACERT


def _short(fp: str) -> str:
    return fp[:23] + "..."


def _error_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if "rror" in line or "failed" in line.lower()]
    return " | ".join(lines[:limit]) or text.strip()[-300:]


def certs_chain_to_ca(site: Site, state: RunState, hosts: list[Host], expect_new_ca: bool,
                      claim: str = "") -> ProofResult:
    ca_bundle = pki.load_certs(site.ca.executor.read_file(puppet.CACERT))
    ca_fp = pki.fingerprint(pki.root_of(ca_bundle))
    old_fp = state.facts["old_ca_fingerprint"]
    bad = []
    for host in hosts:
        try:
            leaf = pki.load_certs(host.executor.read_file(_cert_path(site, host)))[0]
        except (CommandFailed, RegenLabError) as exc:
            bad.append(f"{host.name}: no cert ({str(exc).splitlines()[0]})")
            continue
        if pki.chain_to(leaf, ca_bundle) is None:
            bad.append(f"{host.name}: cert does not chain to the CA")
    changed = ca_fp != old_fp
    passed = not bad and changed == expect_new_ca
    what = f"CA {'changed' if changed else 'unchanged'}: old {_short(old_fp)}, now {_short(ca_fp)}"
    claim = claim or ("the CA changed and every host's cert chains to the new CA" if expect_new_ca
                      else "the CA is unchanged and the re-enrolled agents' certs chain to it")
    evidence = f"{what}; {len(hosts) - len(bad)}/{len(hosts)} hosts chain to it"
    if bad:
        evidence += "; " + "; ".join(bad)
    return ProofResult("1", claim, passed, evidence)


def run_failures(agents: list[Host]) -> list[str]:
    """`puppet agent -t` on each agent; the failures, each with the run's own error lines."""

    def one(host: Host) -> str | None:
        res = host.executor.run(["puppet", "agent", "--test", "--color=false"], check=False, timeout=300)
        return None if res.exit_code in (0, 2) else f"{host.name}: exit {res.exit_code}: {_error_lines(res.output)}"

    return [f for f in parallel(agents, one, limit=4) if f]


def agents_run(site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    since = state.facts.get("server_stopped_at") or state.started
    failures = run_failures(agents)
    try:
        reports = puppet.latest_reports(site.puppetdb.executor)
    except CommandFailed as exc:
        return ProofResult("2", "every agent's run succeeds and PuppetDB has its report from after the regeneration",
                           False, "; ".join(failures + [f"PuppetDB query failed: {_error_lines(exc.output)}"]))
    stale = [a.name for a in agents if a.certname not in reports or reports[a.certname].receive_time <= since]
    passed = not failures and not stale
    evidence = f"{len(agents) - len(failures)}/{len(agents)} `puppet agent -t` succeeded"
    evidence += f"; reports after {since}: {len(agents) - len(stale)}/{len(agents)}"
    if failures:
        evidence += "; " + "; ".join(failures)
        evidence += "".join(f"; the master's log: {line}" for line in puppet.server_errors(site.ca.executor))
    if stale:
        evidence += f"; no fresh report from {', '.join(stale)}"
    return ProofResult("2", "every agent's run succeeds and PuppetDB has its report from after the regeneration",
                       passed, evidence)


def old_credentials_refused(
    site: Site, state: RunState, where: tuple[str, ...] = ("server", "puppetdb"),
) -> ProofResult:
    witness = site.agent(state.facts["witness"])
    ex = witness.executor
    server = ex.run(["puppet", "config", "print", "server"]).stdout.strip()  # the name this agent uses
    urls = {"server": f"https://{server}:8140/puppet/v3/environments",
            "puppetdb": "https://puppetdb:8081/pdb/query/v4/nodes"}
    parts, passed = [], True

    def probe(url: str, cert: str, key: str):
        return ex.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", puppet.LOCALCACERT,
                       "--cert", cert, "--key", key, url], check=False, timeout=30)

    for name in where:
        old = probe(urls[name], f"{puppet.OLD_CREDS}/cert.pem", f"{puppet.OLD_CREDS}/key.pem")
        new = probe(urls[name], puppet.hostcert(witness.certname), puppet.hostkey(witness.certname))
        refused = old.exit_code != 0 or old.stdout.strip() in ("401", "403")
        accepted = new.exit_code == 0 and new.stdout.strip() == "200"
        passed = passed and refused and accepted
        parts.append(f"{name}: old cert {'refused' if refused else 'ACCEPTED'} "
                     f"(curl exit {old.exit_code}: {old.stderr.strip() or 'HTTP ' + old.stdout.strip()}); "
                     f"new cert {'accepted' if accepted else 'refused'} (HTTP {new.stdout.strip() or '-'}"
                     f"{', ' + new.stderr.strip() if new.exit_code else ''})")
    return ProofResult("3", f"{witness.name}'s old cert and key are refused by {' and '.join(where)}", passed,
                       "; ".join(parts))


def nothing_trusts_the_old_ca(site: Site, state: RunState) -> ProofResult:
    old = set(state.facts["old_ca_certs"])
    new_bundle = pki.load_certs(site.ca.executor.read_file(puppet.CACERT))
    bad = []
    hosts = list(site.all_hosts)
    for host in hosts:
        try:
            bundle = pki.load_certs(host.executor.read_file(_bundle_path(site, host)))
        except (CommandFailed, RegenLabError):
            bad.append(f"{host.name}: no CA bundle")
            continue
        if old & {pki.fingerprint(c) for c in bundle}:
            bad.append(f"{host.name}: its CA bundle holds the old CA")
        if host is site.postgres:
            continue
        crl = host.executor.run(["cat", puppet.LOCALCRL], check=False)
        if crl.exit_code == 0:
            parsed = pki.load_crls(crl.stdout.encode())
            if not parsed or not all(pki.crl_signed_by_one_of(c, new_bundle) for c in parsed):
                bad.append(f"{host.name}: crl.pem is the old CA's")
    return ProofResult("4", "no host trusts the old CA (CA bundles and CRLs)", not bad,
                       f"{len(hosts) - len(bad)}/{len(hosts)} hosts hold only the new CA's bundle and CRL"
                       + (f"; {'; '.join(bad)}" if bad else ""))


def revoked_in_crl(site: Site, state: RunState) -> ProofResult:
    crl = x509.load_pem_x509_crl(site.ca.executor.read_file(f"{puppet.CADIR}/ca_crl.pem"))
    serials = {name: state.facts["old_agent_serials"][name] for name in state.agents}
    missing = [n for n, s in serials.items() if crl.get_revoked_certificate_by_serial_number(s) is None]
    return ProofResult("4", "the re-enrolled agents' old certs are revoked in the CA's CRL", not missing,
                       ", ".join(f"{n} serial {s:X} {'revoked' if n not in missing else 'NOT revoked'}"
                                 for n, s in serials.items()))


def _with_new_certs(agents: Sequence[Host], state: RunState) -> list[str]:
    """The agents whose cert is no longer the one step 0 recorded (by serial)."""
    changed = []
    for host in agents:
        cert = pki.load_certs(host.executor.read_file(puppet.hostcert(host.certname)))[0]
        if cert.serial_number != state.facts["old_agent_serials"][host.name]:
            changed.append(host.name)
    return changed


def others_untouched(site: Site, state: RunState) -> ProofResult:
    others = [a for a in site.agents if a.name not in state.agents]
    changed = _with_new_certs(others, state)
    failures = run_failures(others)
    evidence = f"{len(others) - len(changed)}/{len(others)} other agents keep their certs; " \
               f"{len(others) - len(failures)}/{len(others)} runs succeed"
    if changed or failures:
        evidence += "; " + "; ".join([f"{n}: cert changed" for n in changed] + failures)
    passed = not changed and not failures
    return ProofResult("5", "the other agents keep their certs and keep working", passed, evidence)


def nothing_lost(site: Site, state: RunState) -> ProofResult:
    """After a rollback: every file of the backup is back on the master byte for byte (the
    CA's key, certs, inventory, serial and CRL), and every agent still holds its old cert."""
    claim = "nothing lost: the backup's files are back byte for byte, every agent keeps its cert"
    with tarfile.open(state.facts["backup"], mode="r:gz") as tar:
        wanted = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
                  for m in tar.getmembers() if m.isfile()}
    res = site.ca.executor.run(["sh", "-c", 'cd / && find "$@" -type f -exec sha256sum {} +', "sh",
                                *procedure.BACKUP_PATHS], check=False)
    now = {path: digest for digest, path in (line.split(None, 1) for line in res.stdout.splitlines() if line)}
    missing = sorted(n for n in wanted if n not in now)
    differ = sorted(n for n in wanted if n in now and now[n] != wanted[n])
    moved = _with_new_certs(site.agents, state)
    evidence = (f"{len(wanted) - len(missing) - len(differ)}/{len(wanted)} files of the backup identical on the "
                f"master; {len(site.agents) - len(moved)}/{len(site.agents)} agents keep their certs")
    for label, names in (("missing", missing), ("changed", differ), ("agents with a new cert", moved)):
        if names:
            evidence += f"; {label}: {', '.join(names[:5])}"
    return ProofResult("3", claim, not (missing or differ or moved), evidence)


# --- MCollective over ActiveMQ ------------------------------------------------------------

def _latency(replies: dict[str, float]) -> str:
    return f"max {max(replies.values()):.0f} ms" if replies else "no reply"


def mco_ping_answers(site: Site, state: RunState, id_: str = "5") -> ProofResult:
    """`mco ping` from the admin gets a reply from every agent, as it did before."""
    claim = "every agent answers `mco ping` from the admin, before and after"
    identities = [a.certname for a in site.agents]
    before = state.facts.get("mco_before", {})
    ping = mcollective.ping(site.admin.executor)
    missing = [i for i in identities if i not in ping.replies]
    evidence = (f"before: {len(before)}/{len(identities)} replied ({_latency(before)}); "
                f"after: {len(identities) - len(missing)}/{len(identities)} replied ({_latency(ping.replies)})")
    if missing:
        daemons = [(a.name, a.executor) for a in site.agents if a.certname in missing]
        errors = mcollective.errors_of(daemons, site.broker.executor if site.broker else None)
        evidence += f"; no reply from {', '.join(missing)}; {mcollective.describe(ping)}; " + "; ".join(errors)
    passed = not missing and set(before) >= set(identities)
    return ProofResult(id_, claim, passed, evidence)


def old_mco_client_refused(site: Site, state: RunState) -> ProofResult:
    """A STOMP CONNECT with the admin's old client cert and key (kept in step 0) is
    refused by the broker, the new one gets CONNECTED; both checked against the new CA
    so that what is tested is the broker's refusal, with its own log line quoted."""
    claim = "the admin's old MCollective client cert is refused by the broker, the new one accepted"
    admin, broker = site.admin.executor, site.broker.executor
    mark = mcollective.broker_log_length(broker)
    old_ok, old_out = mcollective.stomp_connect(admin, f"{puppet.OLD_CREDS}/mco-admin-cert.pem",
                                                f"{puppet.OLD_CREDS}/mco-admin-key.pem", user="admin")
    new_ok, new_out = mcollective.stomp_connect(admin, mcollective.ADMIN_CERT, mcollective.ADMIN_KEY, user="admin")
    broker_says = mcollective.broker_log_errors(broker, since_lines=mark)
    evidence = (f"old cert {'ACCEPTED (CONNECTED)' if old_ok else 'refused'} (openssl: {_error_lines(old_out, 2)}); "
                f"broker log: {broker_says[0][:300] if broker_says else 'no refusal logged'}; "
                f"new cert {'accepted (CONNECTED)' if new_ok else 'refused: ' + _error_lines(new_out, 2)}")
    return ProofResult("6", claim, not old_ok and new_ok, evidence)


def broker_trusts_only_the_new_ca(site: Site, state: RunState) -> ProofResult:
    claim = "the broker's truststore holds the new CA and not the old one (keytool -list -rfc)"
    trusted = {pki.fingerprint(c) for c in mcollective.truststore_certs(site.broker.executor)}
    bundle = pki.load_certs(site.ca.executor.read_file(puppet.CACERT))
    new = {pki.fingerprint(c) for c in bundle}
    old = set(state.facts["old_ca_certs"])
    has_new, has_old = new <= trusted, bool(old & trusted)
    evidence = (f"{len(trusted)} trusted certs; new CA ({len(new)} certs, root "
                f"{_short(pki.fingerprint(pki.root_of(bundle)))})"
                f" {'present' if has_new else 'MISSING'}; old CA ({_short(state.facts['old_ca_fingerprint'])}) "
                f"{'STILL TRUSTED' if has_old else 'absent'}")
    return ProofResult("7", claim, has_new and not has_old, evidence)


def _guarded(id_: str, claim: str, check) -> ProofResult:
    """A check that cannot even be made (a host unreachable, a file missing) fails, with why."""
    try:
        return check()
    except (RegenLabError, KeyError, ValueError) as exc:
        return ProofResult(id_, claim, False, f"could not check: {str(exc).splitlines()[0][:300]}")


def prove(site: Site, state: RunState) -> list[ProofResult]:
    """The proof of a run (also of a failed or deliberately broken one: it shows what broke)."""
    if "old_ca_fingerprint" not in state.facts:
        return []
    agents = [site.agent(a) for a in state.agents]
    if state.mode == "rollback":
        old_again = "the CA is the old one again and every host's cert chains to it"
        checks = [
            ("1", old_again,
             lambda: certs_chain_to_ca(site, state, list(site.all_hosts), expect_new_ca=False, claim=old_again)),
            ("2", "every agent's run succeeds", lambda: agents_run(site, state, agents)),
            ("3", "nothing lost", lambda: nothing_lost(site, state)),
        ]
        if site.broker:
            checks.append(("4", "every agent answers `mco ping`", lambda: mco_ping_answers(site, state, "4")))
    elif state.mode == "full":
        checks = [
            ("1", "the CA changed and every host's cert chains to the new CA",
             lambda: certs_chain_to_ca(site, state, list(site.all_hosts), expect_new_ca=True)),
            ("2", "every agent's run succeeds", lambda: agents_run(site, state, agents)),
            ("3", "the old agent cert is refused", lambda: old_credentials_refused(site, state)),
            ("4", "no host trusts the old CA", lambda: nothing_trusts_the_old_ca(site, state)),
        ]
        if site.broker:
            checks += [
                ("5", "every agent answers `mco ping`", lambda: mco_ping_answers(site, state)),
                ("6", "the old MCollective client cert is refused by the broker",
                 lambda: old_mco_client_refused(site, state)),
                ("7", "the broker trusts only the new CA", lambda: broker_trusts_only_the_new_ca(site, state)),
            ]
    else:
        checks = [
            ("1", "the CA is unchanged and the agents chain to it",
             lambda: certs_chain_to_ca(site, state, agents, expect_new_ca=False)),
            ("2", "every agent's run succeeds", lambda: agents_run(site, state, agents)),
            ("3", "the old agent cert is refused", lambda: old_credentials_refused(site, state, where=("server",))),
            ("4", "the old certs are revoked", lambda: revoked_in_crl(site, state)),
            ("5", "the other agents keep working", lambda: others_untouched(site, state)),
        ]
        if site.broker:
            checks.append(("6", "every agent answers `mco ping`", lambda: mco_ping_answers(site, state, "6")))
    return [_guarded(i, claim, check) for i, claim, check in checks]
