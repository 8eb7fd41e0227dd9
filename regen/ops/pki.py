"""Certificates, read with ``cryptography``. Puppet's issuer name never changes across a
regeneration (``CN=Puppet CA: <certname>``), so identity is always the SHA-256
fingerprint, never a name."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ..core.errors import BadInput


@dataclass(frozen=True)
class CertInfo:
    """What a user wants to know about a certificate (no key material)."""

    subject: str
    issuer: str
    serial: int
    fingerprint: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    is_ca: bool


def load_certs(pem: bytes, what: str = "PEM data") -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise BadInput(f"{what} holds no PEM certificate") from None
    return certs


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def key_fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 of a certificate's public key (SubjectPublicKeyInfo): the same for a CA
    certificate and its extension, which is signed anew with the same key."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest().hex(":").upper()


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def info(cert: x509.Certificate) -> CertInfo:
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                     .value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        subject=_cn(cert.subject), issuer=_cn(cert.issuer), serial=cert.serial_number,
        fingerprint=fingerprint(cert), not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc, dns_names=sans, is_ca=is_ca,
    )


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and _signed_by(cert, cert)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def root_of(bundle: list[x509.Certificate]) -> x509.Certificate:
    """The self-signed root of a CA bundle (Puppet's ``ca.pem``: intermediate + root)."""
    roots = [c for c in bundle if _self_signed(c)]
    if len(roots) != 1:
        raise BadInput(f"a CA bundle should hold one self-signed root, this one holds {len(roots)}")
    return roots[0]


def chain_to(leaf: x509.Certificate, bundle: list[x509.Certificate]) -> list[x509.Certificate] | None:
    """The chain from ``leaf`` to a self-signed root in ``bundle``, checking every
    signature; None if there is none. Names alone are never trusted: a CA that was
    regenerated has the same names and a different key."""
    chain = [leaf]
    current = leaf
    for _ in range(len(bundle) + 1):
        if _self_signed(current) and current in bundle:
            return chain
        issuer = next((c for c in bundle if c.subject == current.issuer and _signed_by(current, c)), None)
        if issuer is None:
            return None
        if issuer is current:
            return chain
        chain.append(issuer)
        current = issuer
    return None


def ca_fingerprint(bundle_pem: bytes) -> str:
    """The fingerprint of the root of a CA bundle: a lab's CA identity."""
    return fingerprint(root_of(load_certs(bundle_pem, "the CA bundle")))


def key_matches_cert(key_pem: bytes, cert: x509.Certificate) -> bool:
    """Whether a private key belongs to a certificate (the key is never printed); a file
    that is not a key does not match."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return key.public_key().public_bytes(enc, pub) == cert.public_key().public_bytes(enc, pub)


def key_matches_public(key_pem: bytes, public_pem: bytes) -> bool:
    """Whether a private key belongs to a PEM public key (MCollective's server keypair)."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        public = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return key.public_key().public_bytes(enc, pub) == public.public_bytes(enc, pub)


_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.S)


def redact_keys(text: str) -> str:
    """The text with every PEM private key (even one cut short) replaced by a marker: what
    is recorded or reported never holds key material, whatever a command printed."""
    return _PRIVATE_KEY.sub("[private key removed]", text)


def load_crls(pem: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL of a PEM file (Puppet's ``crl.pem`` holds the root's and the intermediate's)."""
    marker = b"-----BEGIN X509 CRL-----"
    return [x509.load_pem_x509_crl(marker + block) for block in pem.split(marker)[1:]]


def crl_signed_by_one_of(crl: x509.CertificateRevocationList, cas: list[x509.Certificate]) -> bool:
    return any(crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key()) for ca in cas)
