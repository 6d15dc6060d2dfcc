"""Keys, requests and certificates for a small private CA (what certstrap did for etcd-release).

Every certificate issued here carries both serverAuth and clientAuth usage because etcd peers
present the same certificate when they listen and when they dial.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

KEY_TYPES = ("rsa", "ecdsa")
DEFAULT_KEY_BITS = {"rsa": 2048, "ecdsa": 256}
CURVES: dict[int, ec.EllipticCurve] = {
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}
RSA_BITS = (2048, 3072, 4096)
BACKDATE = dt.timedelta(minutes=5)

_UNITS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_LIFETIME = re.compile(r"^\s*(\d+)\s*(hour|day|week|month|year)s?\s*$", re.IGNORECASE)
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class AuthorityError(ValueError):
    """Bad input for the CA operations; the message is one line fit for an operator."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Key type and size: RSA modulus bits or ECDSA curve size (256, 384, 521)."""

    key_type: str = "rsa"
    bits: int | None = None

    def generate(self) -> PrivateKey:
        if self.key_type not in KEY_TYPES:
            raise AuthorityError(f"unknown key type {self.key_type!r} (choose rsa or ecdsa)")
        bits = self.bits or DEFAULT_KEY_BITS[self.key_type]
        if self.key_type == "rsa":
            if bits not in RSA_BITS:
                raise AuthorityError(f"RSA key size must be one of {RSA_BITS}, not {bits}")
            return rsa.generate_private_key(public_exponent=65537, key_size=bits)
        if bits not in CURVES:
            raise AuthorityError(f"ECDSA key size must be one of {tuple(CURVES)}, not {bits}")
        return ec.generate_private_key(CURVES[bits])


def file_stem(common_name: str) -> str:
    """The depot file name for a common name, as certstrap forms it: `*.a b` -> `_.a_b`."""
    return _UNSAFE_IN_FILE_NAME.sub("_", common_name)


def parse_lifetime(text: str) -> dt.timedelta:
    """Lifetimes written the certstrap way: "2 years", "18 months", "30 days", "12 hours"."""
    match = _LIFETIME.match(text)
    if not match or int(match.group(1)) == 0:
        raise AuthorityError(f"bad lifetime {text!r}: use e.g. '2 years', '18 months', '30 days'")
    return dt.timedelta(days=int(match.group(1)) * _UNITS[match.group(2).lower()])


def split_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_ips(texts: Sequence[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(text) for text in texts]
    except ValueError as exc:
        raise AuthorityError(str(exc)) from None


def key_pem(key: PrivateKey, passphrase: str = "") -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_key(data: bytes, passphrase: str = "", source: str = "key") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode() or None)
    except TypeError:
        if passphrase:
            raise AuthorityError(f"{source}: key is not encrypted; omit --passphrase") from None
        raise AuthorityError(f"{source}: key is encrypted; give --passphrase") from None
    except ValueError:
        raise AuthorityError(f"{source}: not a PEM private key (or wrong passphrase)") from None
    except UnsupportedAlgorithm:
        raise AuthorityError(f"{source}: unsupported key type (use RSA or ECDSA)") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise AuthorityError(f"{source}: unsupported key type (use RSA or ECDSA)")
    return key


def spki(public: PublicKeyTypes) -> bytes:
    """A public key's DER SubjectPublicKeyInfo: equal bytes mean the same key."""
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _name(common_name: str) -> x509.Name:
    if not common_name:
        raise AuthorityError("the common name must not be empty")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(
    key: PrivateKey,
    common_name: str,
    lifetime: dt.timedelta,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    start = not_before or dt.datetime.now(dt.UTC) - BACKDATE
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def create_csr(
    key: PrivateKey,
    common_name: str,
    domains: Sequence[str] = (),
    ips: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address] = (),
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name))
    names = [x509.DNSName(d) for d in domains] + [x509.IPAddress(ip) for ip in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


def leaf_key_usage(key_encipherment: bool) -> x509.KeyUsage:
    """A TLS leaf's key usage: signatures, and key encipherment for RSA key exchange."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def sign_csr(
    csr: x509.CertificateSigningRequest,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    lifetime: dt.timedelta,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """Issue a leaf certificate for a request; its SANs are copied from the request."""
    if not csr.is_signature_valid:
        raise AuthorityError("the certificate request's signature is invalid")
    start = not_before or dt.datetime.now(dt.UTC) - BACKDATE
    public = csr.public_key()
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise AuthorityError("the certificate request holds an unsupported key type")
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(isinstance(public, rsa.RSAPublicKey)), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        builder = builder.add_extension(san.value, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)
