"""Proofs of trust: every host's cert chains to the CA expected, no host trusts the old CA, the
revoked certs are on the CRL, the extension kept the CA's keys and every host its cert, the
chain through an imported intermediate to its root, a CRL of each CA."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from ...core.errors import CommandFailed, RegenLabError
from ...ops import pki, rootca
from ..runner import RunState
from ..site import Host, Site
from .verdict import Found, judged, nothing_to_check, read_all, short_fp


def certs_chain_to_ca(site: Site, state: RunState, hosts: list[Host], expect_new_ca: bool) -> Found:
    if not hosts:
        return nothing_to_check("no host to check")
    ca_bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    ca_fp = pki.fingerprint(pki.root_of(ca_bundle))
    old_fp = state.facts.before.ca_fingerprint
    bad = []
    for host, pem in zip(hosts, read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
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
    what = f"CA {'changed' if changed else 'unchanged'}: old {short_fp(old_fp)}, now {short_fp(ca_fp)}"
    evidence = f"{what}; {len(hosts) - len(bad)}/{len(hosts)} hosts chain to it"
    if bad:
        evidence += "; " + "; ".join(bad)
    return judged(not bad and changed == expect_new_ca, evidence)


def nothing_trusts_the_old_ca(site: Site, state: RunState) -> Found:
    """Every host's CA bundle holds no old CA cert, and every Puppet host's crl.pem is there
    and signed by the new CA (PostgreSQL is given a CA bundle and no CRL)."""
    old = set(state.facts.before.ca_certs)
    new_bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad = []
    hosts = list(site.all_hosts)
    bundles = read_all(hosts, lambda h: site.cert_paths(h)[1])
    crls = read_all(hosts, lambda h: h.layout.hostcrl)
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
    return judged(not bad,
                   f"{len(hosts) - len(bad)}/{len(hosts)} hosts hold only the new CA's bundle and CRL"
                   + (f"; {'; '.join(bad)}" if bad else ""))


def revoked_in_crl(site: Site, state: RunState) -> Found:
    if not state.agents:
        return nothing_to_check("no agent in this run")
    crl = x509.load_pem_x509_crl(site.ca.executor.read_file(f"{site.ca.layout.cadir}/ca_crl.pem"))
    serials = {n: state.facts.before.agent_serials[n] for n in state.agents}
    listed = [n for n, s in serials.items() if crl.get_revoked_certificate_by_serial_number(s) is not None]
    missing = [n for n in serials if n not in listed]

    def names(which: list[str]) -> str:
        return ", ".join(f"{n} (serial {serials[n]:X})" for n in which) or "none"

    return judged(not missing, f"in the CA's CRL: {names(listed)}; not in it: {names(missing)}")


def ca_key_kept(site: Site, state: RunState) -> Found:
    """After an extension: the CA's certificates carry the old public keys and outlive the old
    ones, and every host's cert chains to them."""
    before = state.facts.before
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    keys = [pki.key_fingerprint(c) for c in bundle]
    until = min(pki.info(c).not_after for c in bundle)
    old_until = datetime.fromisoformat(before.ca_expires) if before.ca_expires else None
    chain = certs_chain_to_ca(site, state, list(site.all_hosts), True)
    kept = keys == before.ca_keys
    longer = old_until is not None and until > old_until
    evidence = (f"{'the same' if kept else 'NOT the same'} public keys ({len(keys)} certs, root key "
                f"{short_fp(keys[-1])}); valid until {until:%Y-%m-%d}, were until "
                f"{old_until:%Y-%m-%d}" if old_until else "?") + f"; {chain.evidence}"
    return judged(kept and longer and chain.passed, evidence)


def host_certs_kept(site: Site, state: RunState) -> Found:
    """After an extension: every host keeps the cert it had (the serial step 0 read)."""
    before = {**state.facts.before.host_serials, **state.facts.before.agent_serials}
    hosts = [h for h in site.all_hosts if h.name in before]
    changed = []
    for host, pem in zip(hosts, read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
        serial = None if isinstance(pem, RegenLabError) else pki.info(pki.load_certs(pem)[0]).serial
        if serial != before[host.name]:
            changed.append(host.name)
    evidence = f"{len(hosts) - len(changed)}/{len(hosts)} hosts keep the cert step 0 read"
    return judged(bool(hosts) and not changed and len(hosts) == len(site.all_hosts),
                   evidence + (f"; changed or unreadable: {', '.join(changed)}" if changed else ""))


def _imported(state: RunState) -> list[x509.Certificate]:
    return pki.load_certs(rootca.read_import(Path(state.ca_import)).bundle)


def chain_to_root(site: Site, state: RunState) -> Found:
    """Every host's cert is signed by the imported intermediate, which the external root
    signed; the CA's bundle is the import set's."""
    imported = _imported(state)
    intermediate, root = imported[0], pki.root_of(imported)
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad = [] if [pki.fingerprint(c) for c in bundle] == [pki.fingerprint(c) for c in imported] else \
        [f"the CA's bundle ({site.ca.layout.cacert}) is not the import set's"]
    hosts = list(site.all_hosts)
    for host, pem in zip(hosts, read_all(hosts, lambda h: site.cert_paths(h)[0]), strict=True):
        chain = None if isinstance(pem, RegenLabError) else pki.chain_to(pki.load_certs(pem)[0], imported)
        if not chain or pki.fingerprint(chain[1]) != pki.fingerprint(intermediate) or \
                pki.fingerprint(chain[-1]) != pki.fingerprint(root):
            bad.append(f"{host.name}: its cert does not chain through the intermediate to the root")
    evidence = (f"{len(hosts) - sum(1 for b in bad if ':' in b)}/{len(hosts)} hosts: cert <- "
                f"{pki.info(intermediate).subject!r} <- {pki.info(root).subject!r} ({short_fp(pki.fingerprint(root))})")
    return judged(not bad, evidence + "".join(f"; {b}" for b in bad))


def crl_per_ca(site: Site, state: RunState) -> Found:
    """Every Puppet host's crl.pem holds a CRL of each CA of the chain, signed by it and
    current (`certificate_revocation = chain` needs them all)."""
    cas = _imported(state)
    hosts = [h for h in site.all_hosts if h is not site.postgres]
    at = datetime.now(UTC)
    bad = []
    for host, pem in zip(hosts, read_all(hosts, lambda h: h.layout.hostcrl), strict=True):
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
    return judged(not bad, evidence + "".join(f"; {b}" for b in bad))
