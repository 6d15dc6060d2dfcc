"""`--auto-tls` / `--peer-auto-tls`: a self-signed certificate made the way etcd 3.4.23 makes it.

etcd writes `cert.pem` and `key.pem` under `<data-dir>/fixtures/client` (or `/peer`) and reuses
them when both exist: ECDSA P-521, organisation `etcd`, valid one year, serverAuth only, with
an IP or DNS SAN per listen URL host. The point is encryption without a PKI; nothing verifies
such a certificate (peers dial each other without verification, clients must skip it too).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tls.authority import leaf_key_usage
from tls.contexts import TLSMaterialError

LIFETIME = dt.timedelta(days=365)
KEY_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class SelfCert:
    cert_file: str
    key_file: str


def _sans(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_self_signed(hosts: Sequence[str], now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for `hosts` (IPs or DNS names)."""
    key = ec.generate_private_key(ec.SECP521R1())
    start = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "etcd")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # etcd asks for key encipherment even on its ECDSA key
        .add_extension(leaf_key_usage(key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    sans = _sans(hosts)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_cert(directory: str, hosts: Sequence[str]) -> SelfCert:
    """The certificate in `directory`, made first if `cert.pem` or `key.pem` is missing."""
    found = SelfCert(os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"))
    if os.path.exists(found.cert_file) and os.path.exists(found.key_file):
        return found
    cert_pem, key_pem = make_self_signed(hosts)
    try:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        _write(found.key_file, key_pem, KEY_MODE)
        _write(found.cert_file, cert_pem, 0o644)
    except OSError as exc:
        problem = f"cannot write the auto-TLS certificate in {directory}: {exc.strerror or exc}"
        raise TLSMaterialError([problem]) from None
    return found


def _write(path: str, data: bytes, mode: int) -> None:
    """Whole or not at all: a crash mid-write must not leave a half file that is then reused."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
