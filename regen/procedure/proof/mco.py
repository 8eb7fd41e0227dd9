"""Proofs of MCollective: every agent answers `mco ping`, the admin's old client cert is
refused by the broker, the broker's truststore holds the new CA only."""

from __future__ import annotations

import re

from ...ops import mcollective, pki, puppet
from ..runner import RunState
from ..site import Site
from .refusals import old_credentials_ok
from .verdict import CERT_ALERT, FAIL, PASS, UNKNOWN, Found, error_lines, judged, nothing_to_check, short_fp


def _latency(replies: dict[str, float]) -> str:
    return f"max {max(replies.values()):.0f} ms" if replies else "no reply"


def mco_ping_answers(site: Site, state: RunState) -> Found:
    """`mco ping` from the admin gets a reply from every agent, as it did before."""
    identities = [a.certname for a in site.agents]
    if not identities:
        return nothing_to_check("no agent")
    before = state.facts.mco.replies_before
    ping = mcollective.ping(site.admin.executor, mcollective.ping_wait(len(identities)))
    missing = [i for i in identities if i not in ping.replies]
    evidence = (f"before: {len(before)}/{len(identities)} replied ({_latency(before)}); "
                f"after: {len(identities) - len(missing)}/{len(identities)} replied ({_latency(ping.replies)})")
    if missing:
        daemons = [(a.name, a.executor) for a in site.agents if a.certname in missing]
        errors = mcollective.errors_of(daemons, site.broker.executor if site.broker else None)
        evidence += f"; no reply from {', '.join(missing)}; {mcollective.describe(ping)}; " + "; ".join(errors)
    return judged(not missing and set(before) >= set(identities), evidence)


STOMP_ERROR = re.compile(r"^ERROR", re.M)
BROKER_REFUSAL = re.compile(r"certificate_unknown|PKIX|unknown_ca|bad_certificate")


def old_mco_client_refused(site: Site, state: RunState) -> Found:
    """A STOMP CONNECT with the admin's old client cert and key (kept in step 0) is refused
    by the broker's TLS layer: the client gets a certificate alert and the broker logs its
    refusal of that connection. The new cert is probed first (it must get CONNECTED):
    otherwise the broker is not serving and the refusal would prove nothing."""
    admin, broker = site.admin.executor, site.broker.executor
    old_cert, old_key = f"{puppet.OLD_CREDS}/mco-admin-cert.pem", f"{puppet.OLD_CREDS}/mco-admin-key.pem"
    unusable = old_credentials_ok(admin, old_cert, old_key, state.facts.mco.old_admin_serial)
    if unusable:
        return Found(UNKNOWN, unusable)
    trusted = site.admin.layout.localcacert
    new_ok, new_out = mcollective.stomp_connect(admin, mcollective.ADMIN_CERT, mcollective.ADMIN_KEY, trusted,
                                                user="admin")
    if not new_ok:
        return Found(UNKNOWN,
                           f"could not tell: the new cert itself gets no CONNECTED ({error_lines(new_out, 2)})")
    mark = mcollective.broker_log_length(broker)
    old_ok, old_out = mcollective.stomp_connect(admin, old_cert, old_key, trusted, user="admin")
    logged = [line for line in mcollective.broker_log_errors(broker, since_lines=mark) if BROKER_REFUSAL.search(line)]
    broker_says = f"broker log: {logged[0][:300]}" if logged else "broker log: no refusal logged"
    if old_ok or STOMP_ERROR.search(old_out):
        what = "CONNECTED" if old_ok else "TLS handshake completed, STOMP ERROR"
        return Found(FAIL, f"old cert ACCEPTED ({what}): {error_lines(old_out, 2)}; "
                                              f"{broker_says}; new cert accepted (CONNECTED)")
    if CERT_ALERT.search(old_out) and logged:
        return Found(PASS, f"old cert refused (openssl: {error_lines(old_out, 2)}); "
                                              f"{broker_says}; new cert accepted (CONNECTED)")
    alert = "a certificate alert" if CERT_ALERT.search(old_out) else "no certificate alert"
    return Found(UNKNOWN, f"could not tell: the old cert's probe got {alert} "
                                             f"(openssl: {error_lines(old_out, 2)}); {broker_says}")


def broker_trusts_only_the_new_ca(site: Site, state: RunState) -> Found:
    trusted = {pki.fingerprint(c) for c in mcollective.truststore_certs(site.broker.executor)}
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    new = {pki.fingerprint(c) for c in bundle}
    old = set(state.facts.before.ca_certs)
    has_new, has_old = new <= trusted, bool(old & trusted)
    evidence = (f"{len(trusted)} trusted certs; new CA ({len(new)} certs, root "
                f"{short_fp(pki.fingerprint(pki.root_of(bundle)))})"
                f" {'present' if has_new else 'MISSING'}; old CA ({short_fp(state.facts.before.ca_fingerprint)}) "
                f"{'STILL TRUSTED' if has_old else 'absent'}")
    return judged(has_new and not has_old, evidence)


# --- the proofs of each kind of run -------------------------------------------------------------

# --- an intermediate under an external root (`--ca-import`) -----------------------------------
