"""An organisation's offline root CA and the intermediates it signs for Puppet (Puppet
Server's `ca import`), made here with `cryptography`: they are kept on the controller,
owner-only, never on a lab node but for what the import needs.

A root folder holds the root's key and cert (``root/``) and, once an intermediate is issued,
the import set Puppet Server takes (``import/``): ``cert-bundle.pem`` (the intermediate, then
the root), ``private-key.pem`` (the intermediate's key), ``crl-chain.pem`` (the intermediate's
CRL, then the root's: least to most authoritative, as `puppetserver ca import` wants them).
A user's own import set is a folder with those three files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..core.errors import BadInput
from ..core.executor import ExecResult
from ..core.files import write_private
from . import pki, puppet_ca

BUNDLE, KEY, CRLS = "cert-bundle.pem", "private-key.pem", "crl-chain.pem"
ROOT_KEY, ROOT_CERT, ROOT_CRL = "root/root-key.pem", "root/root-cert.pem", "root/root-crl.pem"
KEY_BITS = 4096  # Puppet's CA keys' length
ROOT_DAYS, INTERMEDIATE_DAYS, CRL_DAYS = 20 * 365, 10 * 365, 30
BACKDATE = timedelta(days=1)  # as Puppet's CA back-dates its certs: a host a little behind accepts them


@dataclass(frozen=True)
class ImportSet:
    """What `puppetserver ca import` takes, read and checked (PEM bytes)."""

    folder: Path
    bundle: bytes
    key: bytes
    crls: bytes

    def without_root_crl(self) -> bytes:
        """The CRL chain with only the CRLs issued by the bundle's first cert (the
        intermediate's own): an operator given an incomplete chain."""
        signing = pki.load_certs(self.bundle)[0]
        return b"".join(crl.public_bytes(serialization.Encoding.PEM) for crl in pki.load_crls(self.crls)
                        if crl.issuer == signing.subject)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Regen Lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(subject: x509.Name, key, issuer: x509.Name, signer, days: int, path_length: int | None,
             issuer_key=None) -> x509.Certificate:
    start = datetime.now(UTC) - BACKDATE
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(start + BACKDATE + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(usage, critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   (issuer_key or key).public_key()), critical=False))
    return builder.sign(signer, hashes.SHA256())


def _crl(issuer: x509.Certificate, key, days: float, number: int) -> bytes:
    start = datetime.now(UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(start - BACKDATE)
           .next_update(start + timedelta(days=days))
           .add_extension(x509.CRLNumber(number), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def _load_key(pem: bytes):
    return serialization.load_pem_private_key(pem, password=None)


def folder_of(state_root: Path, lab: str) -> Path:
    """Where a lab's external root and its import set are kept (on the controller)."""
    return state_root / "labs" / lab / "ca"


def ensure_root(folder: Path, new: bool = False) -> x509.Certificate:
    """The offline root of this folder, made (key 0600 in 0700 folders) if it has none, or
    anew if asked (its old CRL goes with it)."""
    key_path, cert_path = folder / ROOT_KEY, folder / ROOT_CERT
    if new:
        (folder / ROOT_CRL).unlink(missing_ok=True)
    elif key_path.exists() and cert_path.exists():
        return pki.load_certs(cert_path.read_bytes(), str(cert_path))[0]
    key = _key()
    name = _name("Regen Lab offline root CA")
    cert = _ca_cert(name, key, name, key, ROOT_DAYS, None)
    write_private(key_path, _pem_key(key))
    write_private(cert_path, _pem(cert))
    return cert


def issue(folder: Path, *, days: int = INTERMEDIATE_DAYS, root_crl_days: float = CRL_DAYS,
          new_root: bool = False) -> ImportSet:
    """A new intermediate CA for Puppet, signed by the folder's root (made if absent, or anew),
    and the import set of it: its cert and the root's, its key, its CRL and a new CRL of the
    root (valid ``root_crl_days``)."""
    root = ensure_root(folder, new_root)
    root_key = _load_key((folder / ROOT_KEY).read_bytes())
    key = _key()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    cert = _ca_cert(_name(f"Puppet intermediate CA {stamp}"), key, root.subject, root_key,
                    days, 0, issuer_key=root_key)
    own_crl = _crl(cert, key, INTERMEDIATE_DAYS, 1)
    root_crl = renew_root_crl(folder, root_crl_days)
    out = folder / "import"
    write_private(out / KEY, _pem_key(key))
    write_private(out / BUNDLE, _pem(cert) + _pem(root))
    write_private(out / CRLS, own_crl + root_crl)
    return read_import(out)


def renew_root_crl(folder: Path, days: float) -> bytes:
    """A new CRL of the folder's root, valid ``days`` (the root's owner issues one before the
    last expires); the import set's chain, if there is one, carries it in place of the old."""
    root = pki.load_certs((folder / ROOT_CERT).read_bytes())[0]
    key = _load_key((folder / ROOT_KEY).read_bytes())
    previous = folder / ROOT_CRL
    number = (pki.load_crls(previous.read_bytes())[0].extensions.get_extension_for_class(x509.CRLNumber).value
              .crl_number + 1) if previous.exists() else 1
    crl = _crl(root, key, days, number)
    write_private(previous, crl)
    chain = folder / "import" / CRLS
    if chain.exists():
        kept = [c.public_bytes(serialization.Encoding.PEM) for c in pki.load_crls(chain.read_bytes())
                if c.issuer != root.subject]
        write_private(chain, b"".join(kept) + crl)
    return crl


def submit_renewed_crl(folder: Path, days: float, ca: puppet_ca.CA, check: bool = False) -> ExecResult:
    """A new CRL of the folder's root (valid ``days``) in its import set's chain, and that
    chain submitted to Puppet Server on the CA host (``puppet_ca.submit_crls``)."""
    if not (folder / ROOT_KEY).exists():
        raise BadInput(f"no external root in {folder}: `regen.root` (or a scenario's `ca_import: true`) makes one")
    renew_root_crl(folder, days)
    return puppet_ca.submit_crls(ca, read_import(folder / "import").crls, check=check)


def read_import(folder: Path) -> ImportSet:
    """An import set from a folder, checked as `puppetserver ca import` will check it (its key
    is the bundle's first cert's, every CA in the bundle has a CRL), each mistake named."""
    if not folder.is_dir():
        raise BadInput(f"--ca-import {folder}: no such folder (it holds {BUNDLE}, {KEY} and {CRLS})")
    missing = [n for n in (BUNDLE, KEY, CRLS) if not (folder / n).is_file()]
    if missing:
        raise BadInput(f"--ca-import {folder}: missing {', '.join(missing)} (the folder holds {BUNDLE}: the signing "
                       f"CA's cert then its issuers'; {KEY}: the signing CA's key; {CRLS}: a CRL of each CA)")
    found = ImportSet(folder, (folder / BUNDLE).read_bytes(), (folder / KEY).read_bytes(),
                      (folder / CRLS).read_bytes())
    certs = pki.load_certs(found.bundle, str(folder / BUNDLE))
    if not pki.key_matches_cert(found.key, certs[0]):
        raise BadInput(f"--ca-import {folder}: {KEY} is not the key of the first cert of {BUNDLE} (the signing CA)")
    issuers = {crl.issuer for crl in pki.load_crls(found.crls)}
    without = [pki.info(c).subject for c in certs if c.subject not in issuers]
    if without:
        raise BadInput(f"--ca-import {folder}: {CRLS} has no CRL of {'; '.join(without)}")
    return found


def root_of(folder: Path) -> x509.Certificate:
    return pki.load_certs((folder / ROOT_CERT).read_bytes())[0]
