"""The external root and the import set Puppet Server takes (`puppetserver ca import`): made
owner-only, checked as the import checks it, and its CRLs renewed in place."""

from __future__ import annotations

import stat
import subprocess

import pytest

from regen.core.errors import BadInput
from regen.ops import pki, rootca


@pytest.fixture(autouse=True)
def small_keys(monkeypatch):
    monkeypatch.setattr(rootca, "KEY_BITS", 2048)  # Puppet's 4096 costs seconds per key, for nothing here


def _verify(folder, *extra: str) -> subprocess.CompletedProcess:
    imp = folder / "import"
    return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", str(folder / rootca.ROOT_CERT),
                           "-CRLfile", str(imp / rootca.CRLS), *extra, str(imp / rootca.BUNDLE)],
                          capture_output=True, text=True)


def test_an_import_set_is_an_intermediate_under_the_root_with_a_crl_of_each_and_owner_only(tmp_path):
    made = rootca.issue(tmp_path, root_crl_days=2)
    bundle = pki.load_certs(made.bundle)
    assert len(bundle) == 2 and pki.info(bundle[0]).is_ca and pki.chain_to(bundle[0], bundle) == bundle
    assert pki.key_matches_cert(made.key, bundle[0])
    assert [c.issuer for c in pki.load_crls(made.crls)] == [bundle[0].subject, bundle[1].subject]
    assert _verify(tmp_path).returncode == 0  # OpenSSL, every CRL checked: as `ca import` and agents do
    for path in (tmp_path / rootca.ROOT_KEY, made.folder / rootca.KEY):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "root").stat().st_mode) == 0o700
    root_crl = pki.load_crls(made.crls)[1]
    days = (root_crl.next_update_utc - root_crl.last_update_utc).days
    assert days == 3  # 2 days ahead, back-dated one


def test_the_root_is_kept_across_intermediates_unless_a_new_one_is_asked(tmp_path):
    first = pki.root_of(pki.load_certs(rootca.issue(tmp_path).bundle))
    again = pki.root_of(pki.load_certs(rootca.issue(tmp_path).bundle))
    fresh = pki.root_of(pki.load_certs(rootca.issue(tmp_path, new_root=True).bundle))
    assert pki.fingerprint(first) == pki.fingerprint(again) != pki.fingerprint(fresh)


def test_a_chain_without_the_roots_crl_fails_as_the_import_will_and_a_renewed_crl_replaces_the_old(tmp_path):
    made = rootca.issue(tmp_path, root_crl_days=1)
    (tmp_path / "partial.pem").write_bytes(made.without_root_crl())
    partial = subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", str(tmp_path / rootca.ROOT_CERT),
                              "-CRLfile", str(tmp_path / "partial.pem"), str(made.folder / rootca.BUNDLE)],
                             capture_output=True, text=True)
    assert "unable to get certificate CRL" in partial.stdout + partial.stderr
    rootca.renew_root_crl(tmp_path, 30)
    crls = pki.load_crls(rootca.read_import(made.folder).crls)
    assert len(crls) == 2 and (crls[1].next_update_utc - crls[1].last_update_utc).days == 31
    assert crls[1].extensions.get_extension_for_class(pki.x509.CRLNumber).value.crl_number == 2


def test_a_wrong_import_folder_is_refused_with_what_is_wrong(tmp_path):
    with pytest.raises(BadInput, match="no such folder"):
        rootca.read_import(tmp_path / "nowhere")
    (tmp_path / "set").mkdir()
    with pytest.raises(BadInput, match="missing cert-bundle.pem, private-key.pem, crl-chain.pem"):
        rootca.read_import(tmp_path / "set")
    made = rootca.issue(tmp_path / "a")
    other = rootca.issue(tmp_path / "b")
    (made.folder / rootca.KEY).write_bytes(other.key)
    with pytest.raises(BadInput, match="is not the key of the first cert"):
        rootca.read_import(made.folder)
    again = rootca.issue(tmp_path / "a")  # a whole new set: the right key again
    (made.folder / rootca.CRLS).write_bytes(again.without_root_crl())
    with pytest.raises(BadInput, match="has no CRL of Regen Lab offline root CA"):
        rootca.read_import(made.folder)
