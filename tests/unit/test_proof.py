"""Every proof against scripted hosts (no container): it passes on what a good regeneration
leaves, fails on what a broken one leaves, and says "could not tell" when its probe got an
answer that proves nothing (a server down, a file missing, a timeout) instead of passing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from regen.ops import mcollective, pki, puppet
from regen.ops.postgres import PG_SSL
from regen.procedure import proof
from regen.procedure.proof import EMPTY, FAIL, PASS, UNKNOWN
from regen.procedure.runner import Before, RunState
from regen.procedure.site import Host, Site
from tests.unit.fakes import NOW, OK_200, REFUSED, Answer, Scripted, crl_of, has, make_puppet_ca, pem


@pytest.fixture(scope="module")
def cas():
    """An old and a new Puppet CA (same names, other keys), as before and after a regeneration."""
    return make_puppet_ca(), make_puppet_ca()


def state_for(old_ca, serial: int, mode: str = "full", agents=("agent-1",)) -> RunState:
    root, inter, _, _ = old_ca
    state = RunState(lab="l", mode=mode, agents=list(agents), autosign=False)
    state.facts.before = Before(ca_fingerprint=pki.fingerprint(root),
                                ca_certs=[pki.fingerprint(c) for c in (inter, root)],
                                witness="agent-1", agent_serials={"agent-1": serial, "agent-2": 7})
    return state


# --- proof 3: the old agent cert refused -------------------------------------------------------

def witness_site(old_leaf, new_probe: Answer, old_probe: Answer, kept: Answer | None = None) -> tuple[Site, Scripted]:
    kept = kept or (0, pem(old_leaf).decode(), "")
    agent = Scripted("agent-1", rules=[
        (has("openssl x509", "pkey"), kept),
        (has("config", "print", "server"), (0, "puppet\n", "")),
        (has("curl", puppet.OLD_CREDS), old_probe),
        (has("curl", puppet.DEBIAN.hostcert("agent-1")), new_probe),
    ])
    other = Scripted("other")
    host = Host("agent-1", "agent-1", agent)
    return Site.of("l", Host("server", "server", other), Host("puppetdb", "puppetdb", other),
                Host("postgres", "postgres", other), (host,)), agent


def test_old_cert_refused_passes_only_on_a_certificate_alert_after_the_new_cert_got_in(cas):
    old, _ = cas
    site, agent = witness_site(old[2], OK_200, REFUSED)
    result = proof.old_credentials_refused(site, state_for(old, old[2].serial_number))
    assert result.verdict == PASS, result.evidence
    assert "server: old cert refused (curl exit 56" in result.evidence
    assert "puppetdb: old cert refused" in result.evidence
    probes = [a for a in agent.log if a[0] == "curl"]
    assert puppet.DEBIAN.hostcert("agent-1") in probes[0] and puppet.OLD_CREDS in " ".join(probes[1])  # new first


@pytest.mark.parametrize(("old_probe", "verdict", "said"), [
    (OK_200, FAIL, "old cert ACCEPTED (TLS handshake completed, HTTP 200)"),
    ((0, "403", ""), FAIL, "old cert ACCEPTED (TLS handshake completed, HTTP 403)"),
    ((7, "000", "curl: (7) Failed to connect to puppet port 8140: Connection refused"), UNKNOWN,
     "could not tell: the old cert's probe got no certificate alert (curl exit 7"),
    ((58, "000", "curl: (58) could not load PEM client certificate"), UNKNOWN, "curl exit 58"),
    ((124, "", ""), UNKNOWN, "curl exit 124"),
    ((56, "000", "curl: (56) Recv failure: Connection reset by peer"), UNKNOWN, "no certificate alert"),
])
def test_old_cert_accepted_or_unobserved_never_passes(cas, old_probe, verdict, said):
    old, _ = cas
    site, _ = witness_site(old[2], OK_200, old_probe)
    result = proof.old_credentials_refused(site, state_for(old, old[2].serial_number))
    assert result.verdict == verdict and not result.passed
    assert said in result.evidence


def test_with_the_server_down_the_refusal_proves_nothing(cas):
    old, _ = cas
    down: Answer = (7, "000", "curl: (7) Failed to connect to puppet port 8140: Connection refused")
    site, _ = witness_site(old[2], down, down)
    result = proof.old_credentials_refused(site, state_for(old, old[2].serial_number))
    assert result.verdict == UNKNOWN and "the new cert itself is not served (curl exit 7" in result.evidence


@pytest.mark.parametrize(("kept", "said"), [
    ((1, "no cert at /root/regen-old-credentials/cert.pem\n", ""), "no cert at"),
    ((1, "the key is not the cert's\n", ""), "the key is not the cert's"),
])
def test_old_credentials_missing_or_not_matching_prove_nothing(cas, kept, said):
    old, _ = cas
    site, agent = witness_site(old[2], OK_200, REFUSED, kept=kept)
    result = proof.old_credentials_refused(site, state_for(old, old[2].serial_number))
    assert result.verdict == UNKNOWN and said in result.evidence
    assert not [a for a in agent.log if a[0] == "curl"]


def test_an_old_cert_that_is_not_the_recorded_one_proves_nothing(cas):
    old, _ = cas
    site, _ = witness_site(old[2], OK_200, REFUSED)
    result = proof.old_credentials_refused(site, state_for(old, old[2].serial_number + 1))
    assert result.verdict == UNKNOWN and "not" in result.evidence and "as recorded in step 0" in result.evidence


# --- proof 1 and 4: chains, CA bundles, CRLs ----------------------------------------------------

def bundle_site(new_ca, hosts: dict[str, dict[str, bytes]]) -> Site:
    root, inter, _, _ = new_ca
    ca_files = {puppet.DEBIAN.cacert: pem(inter, root)}

    def host(name: str) -> Host:
        files = dict(hosts.get(name, {}))
        if name == "server":
            files.update(ca_files)
        return Host(name, name, Scripted(name, files))

    return Site.of("l", host("server"), host("puppetdb"), host("postgres"), (host("agent-1"),))


def good_files(ca, crl: bytes) -> dict[str, dict[str, bytes]]:
    root, inter, leaf, _ = ca
    bundle = pem(inter, root)
    files = {n: {puppet.DEBIAN.hostcert(n): pem(leaf), puppet.DEBIAN.localcacert: bundle, puppet.DEBIAN.hostcrl: crl}
             for n in ("server", "puppetdb", "agent-1")}
    files["postgres"] = {f"{PG_SSL}/postgres.crt": pem(leaf), f"{PG_SSL}/ca.pem": bundle}
    return files


def test_a_host_without_a_crl_fails_proof_4(cas):
    old, new = cas
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.fakes import cert

    root_key, int_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = cert("Puppet Root CA: lab", root_key, "Puppet Root CA: lab", root_key, ca=True)
    inter = cert("Puppet CA: server", int_key, "Puppet Root CA: lab", root_key, ca=True)
    leaf = cert("agent-1", int_key, "Puppet CA: server", int_key, ca=False)
    ca = (root, inter, leaf, int_key)
    crl = crl_of(inter, int_key) + crl_of(root, root_key)
    state = state_for(old, 5)
    assert proof.nothing_trusts_the_old_ca(bundle_site(ca, good_files(ca, crl)), state).verdict == PASS
    files = good_files(ca, crl)
    del files["agent-1"][puppet.DEBIAN.hostcrl]
    result = proof.nothing_trusts_the_old_ca(bundle_site(ca, files), state)
    assert result.verdict == FAIL and "agent-1: no CRL at /var/lib/puppet/ssl/crl.pem" in result.evidence
    files = good_files(ca, crl)
    files["puppetdb"][puppet.DEBIAN.localcacert] += pem(old[1], old[0])
    result = proof.nothing_trusts_the_old_ca(bundle_site(ca, files), state)
    assert result.verdict == FAIL and "puppetdb: its CA bundle holds the old CA" in result.evidence
    old_root_key = ec.generate_private_key(ec.SECP256R1())
    stale = crl_of(cert("Puppet CA: server", old_root_key, "Puppet CA: server", old_root_key, ca=True), old_root_key)
    files = good_files(ca, crl)
    files["server"][puppet.DEBIAN.hostcrl] = stale
    result = proof.nothing_trusts_the_old_ca(bundle_site(ca, files), state)
    assert result.verdict == FAIL and "server: crl.pem is the old CA's" in result.evidence


def test_chains_to_the_new_ca_or_not_and_zero_hosts_is_nothing_to_check(cas):
    old, new = cas
    files = good_files(new, b"")
    site = bundle_site(new, files)
    state = state_for(old, 5)
    good = proof.certs_chain_to_ca(site, state, list(site.all_hosts), True)
    assert good.verdict == PASS and "4/4 hosts chain to it" in good.evidence
    files["puppetdb"][puppet.DEBIAN.hostcert("puppetdb")] = pem(old[2])
    broken = bundle_site(new, files)
    bad = proof.certs_chain_to_ca(broken, state, list(broken.all_hosts), True)
    assert bad.verdict == FAIL and "puppetdb: cert does not chain to the CA" in bad.evidence
    unchanged = proof.certs_chain_to_ca(site, state_for(new, 5), list(site.all_hosts), True)
    assert unchanged.verdict == FAIL and "CA unchanged" in unchanged.evidence
    assert proof.certs_chain_to_ca(site, state, [], False).verdict == EMPTY


# --- partial runs: revocation, the others ----------------------------------------------------------

def test_revoked_in_crl_lists_each_agent_on_its_own_side(cas):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    old, _ = cas
    key = ec.generate_private_key(ec.SECP256R1())
    revoked = x509.RevokedCertificateBuilder().serial_number(5).revocation_date(NOW).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(old[1].subject).last_update(NOW)
           .next_update(NOW + dt.timedelta(days=1)).add_revoked_certificate(revoked).sign(key, hashes.SHA256()))
    ca = Scripted("server", {f"{puppet.DEBIAN.cadir}/ca_crl.pem": crl.public_bytes(serialization.Encoding.PEM)})
    site = Site.of("l", Host("server", "server", ca), *(Host(n, n, Scripted(n)) for n in ("puppetdb", "postgres")),
                agents=())
    state = state_for(old, 5, mode="partial", agents=("agent-1", "agent-2"))
    result = proof.revoked_in_crl(site, state)
    assert result.verdict == FAIL
    assert result.evidence == "in the CA's CRL: agent-1 (serial 5); not in it: agent-2 (serial 7)"
    state.facts.before.agent_serials["agent-2"] = 5
    assert proof.revoked_in_crl(site, state).evidence.endswith("not in it: none")


def test_others_untouched_with_no_other_agent_is_nothing_to_check(cas):
    old, _ = cas
    site = Site.of("l", *(Host(n, n, Scripted(n)) for n in ("server", "puppetdb", "postgres")),
                agents=(Host("agent-1", "agent-1", Scripted("agent-1")),))
    result = proof.others_untouched(site, state_for(old, 5, mode="partial"))
    assert result.verdict == EMPTY and not result.passed and result.evidence.startswith("nothing to check")


# --- MCollective: the broker's refusal, observed ------------------------------------------------

def broker_site(old_answer: str, new_answer: str, logged: str, kept: Answer | None = None) -> Site:
    admin = Scripted("server", rules=[
        (has("openssl x509", "pkey"), kept or (0, "", "")),
        (has("s_client", puppet.OLD_CREDS), (0, old_answer, "")),
        (has("s_client", mcollective.ADMIN_CERT), (0, new_answer, "")),
    ])
    calls = {"n": 0}

    def log_lines(argv) -> Answer:
        return (0, logged, "")

    def length(argv) -> Answer:
        calls["n"] += 1
        return (0, "10\n", "")

    broker = Scripted("broker", rules=[(has("wc -l"), length), (has("tail -n +"), log_lines)])
    return Site.of("l", Host("server", "server", admin), *(Host(n, n, Scripted(n)) for n in ("puppetdb", "postgres")),
                agents=(), broker=Host("broker", "broker", broker))


PKIX = ("2026-11-29 | WARN | Transport Connection to: tcp://172.19.0.3:34738 failed: (certificate_unknown) PKIX path "
        "validation failed: java.security.cert.CertPathValidatorException: Path does not chain with any of the "
        "trust anchors")
OPENSSL_ALERT = "40A7:error:0A000416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown:SSL alert number 46"


@pytest.mark.parametrize(("old", "new", "logged", "verdict", "said"), [
    (OPENSSL_ALERT, "CONNECTED\nversion:1.2", PKIX, PASS, "old cert refused"),
    ("CONNECTED\nversion:1.2", "CONNECTED\nversion:1.2", "", FAIL, "old cert ACCEPTED (CONNECTED)"),
    ("ERROR\nmessage:User name [admin] or password is invalid.", "CONNECTED", "", FAIL,
     "old cert ACCEPTED (TLS handshake completed, STOMP ERROR)"),
    (OPENSSL_ALERT, "CONNECTED", "", UNKNOWN, "got a certificate alert"),  # the broker logged no refusal
    ("connect:errno=111", "CONNECTED", PKIX, UNKNOWN, "no certificate alert"),
    (OPENSSL_ALERT, "connect:errno=111", PKIX, UNKNOWN, "the new cert itself gets no CONNECTED"),
])
def test_the_broker_refusal_counts_only_with_the_alert_and_its_log_line(cas, old, new, logged, verdict, said):
    result = proof.old_mco_client_refused(broker_site(old, new, logged), state_for(cas[0], 5))
    assert result.verdict == verdict and said in result.evidence, result.evidence


# --- the list of proofs -----------------------------------------------------------------------------

def test_every_proof_has_one_stable_name_and_its_number_is_its_place():
    assert [p.name for p in proof.proofs_of("full", broker=True)] == [
        "chain-to-new-ca", "agents-run", "old-cert-refused", "old-ca-untrusted", "mco-ping",
        "old-mco-client-refused", "broker-truststore"]
    assert [p.name for p in proof.proofs_of("full", broker=False)][-1] == "old-ca-untrusted"
    assert [p.name for p in proof.proofs_of("partial", broker=True)] == [
        "ca-kept", "agents-run", "old-cert-refused", "old-certs-revoked", "others-untouched", "mco-ping"]
    assert [p.name for p in proof.proofs_of("rollback", broker=False)] == ["old-ca-back", "agents-run", "nothing-lost"]
    # onto an imported intermediate, three more: the chain to the external root, a CRL of each CA, `leaf` revocation
    assert [p.name for p in proof.proofs_of("full", broker=False, imported=True)][-3:] == [
        "chain-to-root", "crl-per-ca", "revocation-leaf"]


def test_a_check_that_raises_could_not_tell(cas):
    site = Site.of("l", *(Host(n, n, Scripted(n)) for n in ("server", "puppetdb", "postgres")),
                agents=(Host("agent-1", "agent-1", Scripted("agent-1")),))
    results = proof.prove(site, state_for(cas[0], 5))
    assert [r.id for r in results] == ["1", "2", "3", "4"]
    assert all(not r.passed for r in results)
    assert {r.verdict for r in results} <= {UNKNOWN, FAIL}
    # each result is named and claimed by its row of the table, the one place they are written
    table = proof.proofs_of("full", broker=False)
    assert [(r.name, r.claim) for r in results] == [
        (p.name, p.claim.format(reports="PuppetDB")) for p in table]
    assert results[1].claim == "every agent's run succeeds and PuppetDB has its report from after the regeneration"


# --- compilers ---------------------------------------------------------------------------------

def _compiler_ca(sans=("compiler01", "puppet")):
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.fakes import cert

    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = cert("Puppet CA: ca", root_key, "Puppet CA: ca", root_key, ca=True)
    return root, cert("compiler01", leaf_key, "Puppet CA: ca", root_key, ca=False, sans=sans)


def compiler_site(bundle: bytes, leaf: bytes, asked: str = "puppet", serves: bool = True,
                  producer: str = "compiler01", received: str = "2026-11-29T10:05:00.000Z") -> Site:
    import json

    ca = Scripted("ca", {puppet.DEBIAN.cacert: bundle})
    compiler = Scripted("compiler01", {puppet.DEBIAN.hostcert("compiler01"): leaf}, [
        (has("config", "print", "dns_alt_names"), (0, asked + "\n", "")),
        (has("openssl s_client"), (0 if serves else 1, "", "")),
    ])
    reports = [{"certname": "agent-1", "status": "unchanged", "receive_time": received, "producer": producer}]
    pdb = Scripted("puppetdb", rules=[(has("curl", "reports"), (0, json.dumps(reports), ""))])
    return Site.of("l", Host("ca", "ca", ca), Host("puppetdb", "puppetdb", pdb),
                Host("postgres", "postgres", Scripted("pg")), (Host("agent-1", "agent-1", Scripted("agent-1")),),
                compilers=(Host("compiler01", "compiler01", compiler),))


@pytest.mark.parametrize(("change", "verdict", "said"), [
    ({}, PASS, "1/1 agents' fresh reports sent by a compiler (compiler01)"),
    ({"producer": "ca"}, FAIL, "not through a compiler: agent-1 (report from ca)"),
    ({"received": "2026-11-29T09:00:00.000Z"}, FAIL, "not through a compiler: agent-1"),
    ({"asked": "puppet,puppet.prod.example"}, FAIL, "compiler01: lacks alt names puppet.prod.example"),
    ({"serves": False}, FAIL, "compiler01: serves another cert than its own on disk"),
])
def test_agents_go_through_compilers_that_serve_their_new_cert_with_its_alt_names(cas, change, verdict, said):
    old, _ = cas
    root, leaf = _compiler_ca()
    site = compiler_site(pem(root), pem(leaf), **change)
    state = state_for(old, 1)
    state.facts.times.server_stopped_at = "2026-11-29T10:00:00.000Z"
    result = proof.compilers_serve(site, state, list(site.agents))
    assert result.verdict == verdict and said in result.evidence, result.evidence


def test_a_compiler_whose_cert_is_the_old_cas_does_not_serve(cas):
    old, _ = cas
    root, leaf = _compiler_ca()
    state = state_for(old, 1)
    state.facts.before.ca_fingerprint = pki.fingerprint(root)  # the CA never changed
    result = proof.compilers_serve(compiler_site(pem(root), pem(leaf)), state, [])
    assert result.verdict == FAIL and "does not chain to the new CA" in result.evidence


def test_the_compiler_proofs_are_in_the_full_proof_only_where_the_site_has_compilers():
    names = [p.name for p in proof.proofs_of("full", broker=False, compilers=True)]
    assert names[-2:] == ["compilers-serve", "old-compiler-cert-refused"]
    assert "compilers-serve" not in [p.name for p in proof.proofs_of("full", broker=True)]


# --- the extension ------------------------------------------------------------------------------

def _extended(days: int = 3000):
    """A Puppet CA before and after an extension (the same keys, a later end), and a leaf."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.fakes import cert

    root_key, int_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))

    def ca(lifetime: int):
        return (cert("Puppet CA: server", int_key, "Puppet Root CA: lab", root_key, ca=True, days=lifetime),
                cert("Puppet Root CA: lab", root_key, "Puppet Root CA: lab", root_key, ca=True, days=lifetime))

    leaf = cert("agent-1", leaf_key, "Puppet CA: server", int_key, ca=False, days=20)
    return ca(30), ca(days), leaf


def _extension_state(old: tuple, serials: dict[str, int]) -> RunState:
    state = RunState(lab="l", mode="extend", agents=["agent-1"], autosign=False)
    state.facts.before = Before(ca_fingerprint=pki.fingerprint(old[1]), ca_certs=[pki.fingerprint(c) for c in old],
                                ca_keys=[pki.key_fingerprint(c) for c in old],
                                ca_expires=min(c.not_valid_after_utc for c in old).isoformat(),
                                agent_serials={"agent-1": serials["agent-1"]},
                                host_serials={n: s for n, s in serials.items() if n != "agent-1"})
    return state


def _extension_site(bundle: bytes, leaf: x509.Certificate) -> Site:
    files = {n: {puppet.DEBIAN.hostcert(n): pem(leaf)} for n in ("server", "agent-1")}
    files["server"][puppet.DEBIAN.cacert] = bundle
    return Site.of("l", Host("server", "server", Scripted("server", files["server"])), None, None,
                (Host("agent-1", "agent-1", Scripted("agent-1", files["agent-1"])),))


def test_an_extension_keeps_the_cas_keys_and_its_certificates_outlive_the_old_ones():
    old, new, leaf = _extended()
    state = _extension_state(old, {"server": leaf.serial_number, "agent-1": leaf.serial_number})
    kept = proof.ca_key_kept(_extension_site(pem(*new), leaf), state)
    assert kept.verdict == PASS and "the same public keys (2 certs" in kept.evidence
    assert "2/2 hosts chain" in kept.evidence
    # the old certificates left in place, or a new CA (other keys) of the same names: neither is an extension
    assert proof.ca_key_kept(_extension_site(pem(*old), leaf), state).verdict == FAIL
    other_root, other_inter, _, _ = make_puppet_ca()
    stranger = proof.ca_key_kept(_extension_site(pem(other_inter, other_root), leaf), state)
    assert stranger.verdict == FAIL and "NOT the same public keys" in stranger.evidence


def test_after_an_extension_every_host_keeps_its_own_cert():
    old, new, leaf = _extended()
    site = _extension_site(pem(*new), leaf)
    kept = proof.host_certs_kept(site, _extension_state(old, {"server": leaf.serial_number,
                                                              "agent-1": leaf.serial_number}))
    assert kept.verdict == PASS and "2/2 hosts keep the cert step 0 read" in kept.evidence
    moved = proof.host_certs_kept(site, _extension_state(old, {"server": leaf.serial_number, "agent-1": 12345}))
    assert moved.verdict == FAIL and "changed or unreadable: agent-1" in moved.evidence
    assert [p.name for p in proof.proofs_of("extend", broker=True)] == [
        "ca-key-kept", "expiring-ca-replaced", "host-certs-kept", "agents-run", "mco-ping", "broker-truststore"]


# --- onto an imported intermediate (`--ca-import`) ---------------------------------------------

def _imported_site(tmp_path, root_crl_days: float, stranger: bool = False):
    """A site whose CA imported an intermediate of an external root (a real import set), one
    agent signed by it (or, ``stranger``, by another CA), each host's crl.pem the chain's."""
    from cryptography.hazmat.primitives import serialization

    from regen.ops import rootca

    made = rootca.issue(tmp_path / "ca", root_crl_days=root_crl_days)
    inter = pki.load_certs(made.bundle)[0]
    signer_key, signer = serialization.load_pem_private_key(made.key, None), inter
    if stranger:
        _, signer, _, signer_key = make_puppet_ca()
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                                                 "agent-1")]))
            .issuer_name(signer.subject).public_key(signer_key.public_key()).serial_number(9)
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
            .sign(signer_key, hashes.SHA256()))
    crl = made.crls
    server = {puppet.DEBIAN.cacert: made.bundle, puppet.DEBIAN.hostcrl: crl,
              puppet.DEBIAN.hostcert("server"): pem(leaf)}
    agent = {puppet.DEBIAN.hostcrl: crl, puppet.DEBIAN.hostcert("agent-1"): pem(leaf)}
    site = Site.of("l", Host("server", "server", Scripted("server", server)), None, None,
                (Host("agent-1", "agent-1", Scripted("agent-1", agent)),))
    return site, RunState(lab="l", mode="full", agents=["agent-1"], autosign=False, ca_import=str(made.folder))


def test_every_host_chains_through_the_imported_intermediate_to_the_external_root(tmp_path, monkeypatch):
    from regen.ops import rootca

    monkeypatch.setattr(rootca, "KEY_BITS", 2048)
    site, state = _imported_site(tmp_path, 30)
    good = proof.chain_to_root(site, state)
    assert good.verdict == PASS and "2/2 hosts: cert <- 'Puppet intermediate CA" in good.evidence
    assert "<- 'Regen Lab offline root CA'" in good.evidence
    site, state = _imported_site(tmp_path / "x", 30, stranger=True)
    bad = proof.chain_to_root(site, state)
    assert bad.verdict == FAIL and "agent-1: its cert does not chain through the intermediate" in bad.evidence


def test_a_crl_of_each_ca_must_be_there_and_current(tmp_path, monkeypatch):
    from regen.ops import rootca

    monkeypatch.setattr(rootca, "KEY_BITS", 2048)
    site, state = _imported_site(tmp_path, 30)
    good = proof.crl_per_ca(site, state)
    assert good.verdict == PASS and "2/2 hosts hold a current CRL of each of the 2 CAs" in good.evidence
    site.agents[0].executor.files[puppet.DEBIAN.hostcrl] = rootca.read_import(Path(state.ca_import)).without_root_crl()
    missing = proof.crl_per_ca(site, state)
    assert missing.verdict == FAIL and "agent-1: no CRL of 'Regen Lab offline root CA'" in missing.evidence
    site, state = _imported_site(tmp_path / "x", 0.001)  # the root's CRL ends a minute and a half after it is made
    import time

    time.sleep(0.1)
    from regen.procedure.proof import chains

    monkeypatch.setattr(chains, "datetime", type("Later", (), {"now": staticmethod(
        lambda tz=None: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))}))
    expired = proof.crl_per_ca(site, state)
    assert expired.verdict == FAIL and "the CRL of 'Regen Lab offline root CA' expired" in expired.evidence
