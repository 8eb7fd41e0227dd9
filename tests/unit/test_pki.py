"""The PKI checks on CAs made here with cryptography (no container): a root and an
intermediate like `puppetserver ca setup`, a leaf, and a second CA with the same names."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from regen.core.errors import BadInput
from regen.ops import pki
from tests.unit.fakes import NOW, cert, cn_name, make_puppet_ca, pem


def test_a_leaf_chains_to_its_own_ca_through_the_intermediate():
    root, inter, leaf, _ = make_puppet_ca()
    chain = pki.chain_to(leaf, [inter, root])
    assert chain is not None and [pki.fingerprint(c) for c in chain] == [
        pki.fingerprint(leaf), pki.fingerprint(inter), pki.fingerprint(root)]


def test_a_regenerated_ca_with_the_same_names_is_not_trusted():
    _, _, old_leaf, _ = make_puppet_ca()
    new_root, new_inter, _, _ = make_puppet_ca()  # same subject and issuer names, new keys
    assert pki.chain_to(old_leaf, [new_inter, new_root]) is None


def test_ca_fingerprint_is_the_roots_and_differs_between_cas():
    root, inter, _, _ = make_puppet_ca()
    other_root, other_inter, _, _ = make_puppet_ca()
    assert pki.ca_fingerprint(pem(inter, root)) == pki.fingerprint(root)
    assert pki.ca_fingerprint(pem(inter, root)) != pki.ca_fingerprint(pem(other_inter, other_root))


def test_info_reads_names_serial_and_alt_names():
    _, _, leaf, _ = make_puppet_ca()
    info = pki.info(leaf)
    assert (info.subject, info.issuer) == ("agent-1", "Puppet CA: server")
    assert (info.dns_names, info.is_ca) == (("agent-1",), False)
    assert info.serial == leaf.serial_number and len(info.fingerprint.split(":")) == 32


def test_key_matches_only_its_own_cert():
    _, _, leaf, leaf_key = make_puppet_ca()
    _, _, other_leaf, _ = make_puppet_ca()
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    assert pki.key_matches_cert(key_pem, leaf)
    assert not pki.key_matches_cert(key_pem, other_leaf)


def test_bad_pem_and_bundles_without_one_root_are_refused():
    root, inter, _, _ = make_puppet_ca()
    with pytest.raises(BadInput, match="no PEM certificate"):
        pki.load_certs(b"not a certificate")
    with pytest.raises(BadInput, match="one self-signed root"):
        pki.ca_fingerprint(pem(inter))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (as on the CA host)")
def test_the_ca_extended_with_its_own_keys_keeps_its_serials_and_every_host_cert_chains(tmp_path):
    """ops.puppet's extension script, run here: Puppet's host certs name their issuer by key id
    and by its issuer's name and serial (their AKI), so the renewed intermediate must keep its
    serial, or no host cert chains to it any more."""
    import subprocess

    from cryptography.hazmat.primitives.asymmetric import rsa

    from regen.ops import puppet_ca

    root_key, int_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    root = cert("Puppet Root CA: lab", root_key, "Puppet Root CA: lab", root_key, ca=True)
    inter = cert("Puppet CA: server", int_key, "Puppet Root CA: lab", root_key, ca=True)
    aki = x509.AuthorityKeyIdentifier(
        x509.SubjectKeyIdentifier.from_public_key(int_key.public_key()).digest,
        [x509.DirectoryName(root.subject)], inter.serial_number)  # as Puppet writes it
    leaf = (x509.CertificateBuilder().subject_name(cn_name("agent-1")).issuer_name(inter.subject)
            .public_key(leaf_key.public_key()).serial_number(5).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=20)).add_extension(aki, critical=False)
            .sign(int_key, hashes.SHA256()))

    def key(k) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    (tmp_path / "ca_crt.pem").write_bytes(pem(inter, root))
    (tmp_path / "ca_key.pem").write_bytes(key(int_key))
    (tmp_path / "root_key.pem").write_bytes(key(root_key))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    done = subprocess.run(["sh", "-c", puppet_ca._EXTEND, "sh", str(tmp_path), "3650", str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    renewed = pki.load_certs((tmp_path / "ca_crt.pem").read_bytes())
    assert [c.serial_number for c in renewed] == [inter.serial_number, root.serial_number]
    assert [pki.key_fingerprint(c) for c in renewed] == [pki.key_fingerprint(c) for c in (inter, root)]
    assert min(pki.info(c).not_after for c in renewed) > NOW + dt.timedelta(days=3000)
    assert pki.fingerprint(renewed[1]) != pki.fingerprint(root)
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca_crt.pem"),
                               str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_imported_ca_is_not_extended_on_the_ca_host_its_root_key_is_elsewhere(tmp_path):
    import subprocess

    from regen.ops import puppet_ca


    root, inter, leaf, _ = make_puppet_ca()
    (tmp_path / "ca_crt.pem").write_bytes(pem(inter, root))
    (tmp_path / "ca_key.pem").write_bytes(b"the intermediate's key")
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    done = subprocess.run(["sh", "-c", puppet_ca._EXTEND, "sh", str(tmp_path), "3650", str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "no key of the CA's root here" in done.stderr
    assert (tmp_path / "ca_crt.pem").read_bytes() == pem(inter, root)
