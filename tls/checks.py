"""Offline checks of certificate material, one line per problem naming the file.

These are the mistakes etcd-release operators hit (README "TLS Certificate Issues"): files that
are not PEM, certificates that do not match their keys, certificates not signed by the configured
CA, expired sample certificates, and server certificates without the SANs of the advertised name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from tls.authority import spki

PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"
MAX_CHAIN = 8
UNPARSEABLE = (
    ValueError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
USAGE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth (TLS server)",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth (TLS client)",
}


@dataclass(slots=True)
class _Report:
    now: dt.datetime
    problems: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.problems.append(line)

    def read(self, what: str, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            self.add(f"{what} {path}: cannot read: {exc.strerror or exc}")
            return None

    def certificates(self, what: str, path: str) -> list[x509.Certificate]:
        data = self.read(what, path)
        if data is None:
            return []
        if PEM_CERT_MARKER not in data:
            self.add(f"{what} {path}: no PEM certificate in the file")
            return []
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            certs = []
        if len(certs) != data.count(PEM_CERT_MARKER):
            self.add(f"{what} {path}: malformed PEM certificate (truncated or corrupted)")
            return []
        for number, cert in enumerate(certs, 1):
            try:
                _ = (cert.extensions, cert.public_key())  # parsed lazily: fail here, not later
            except UNPARSEABLE as exc:
                self.add(f"{what} {path}: certificate #{number} cannot be parsed: {exc}")
                return []
        return certs

    def private_key(self, what: str, path: str) -> PrivateKeyTypes | None:
        data = self.read(what, path)
        if data is None:
            return None
        try:
            return serialization.load_pem_private_key(data, password=None)
        except TypeError:
            self.add(f"{what} {path}: encrypted with a passphrase; an unencrypted key is needed")
        except UnsupportedAlgorithm:
            self.add(f"{what} {path}: unsupported private key type")
        except ValueError:
            malformed = b"PRIVATE KEY-----" in data
            self.add(f"{what} {path}: {'malformed' if malformed else 'no'} PEM private key")
        return None

    def validity(self, what: str, path: str, cert: x509.Certificate) -> None:
        if self.now < cert.not_valid_before_utc:
            self.add(f"{what} {path}: not valid before {_when(cert.not_valid_before_utc)}")
        elif self.now > cert.not_valid_after_utc:
            self.add(f"{what} {path}: expired on {_when(cert.not_valid_after_utc)}")


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def host_matches(cert: x509.Certificate, host: str) -> bool:
    """Whether a SAN covers `host` the way TLS clients check it (wildcard = one leftmost label)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    name = host.rstrip(".").lower()
    for pattern in (p.rstrip(".").lower() for p in san.get_values_for_type(x509.DNSName)):
        if pattern.startswith("*."):
            first, _, rest = name.partition(".")
            if first and rest == pattern[2:]:
                return True
        elif pattern == name:
            return True
    return False


def san_values(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(IP SANs, DNS SANs) as text."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return ips, list(san.get_values_for_type(x509.DNSName))


def _san_list(cert: x509.Certificate) -> list[str]:
    ips, dns = san_values(cert)
    return dns + ips


def _check_usage(
    report: _Report, what: str, path: str, cert: x509.Certificate, usage: x509.ObjectIdentifier
) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if usage not in eku:
        report.add(f"{what} {path}: extended key usage does not allow {USAGE_NAMES[usage]}")


def _check_trust(report: _Report, ca_what: str, ca_file: str, cas: list[x509.Certificate]) -> None:
    if cas and all(report.now > ca.not_valid_after_utc for ca in cas):
        report.add(f"{ca_what} {ca_file}: every CA certificate in it has expired")


def _check_pair(
    report: _Report,
    label: str,
    cert_file: str,
    key_file: str | None,
    ca_file: str | None,
    cas: list[x509.Certificate],
    usage: x509.ObjectIdentifier,
) -> x509.Certificate | None:
    """Checks a certificate chain file and its key; returns the leaf when it could be parsed."""
    what = f"{label} certificate"
    chain = report.certificates(what, cert_file)
    key = report.private_key(f"{label} key", key_file or cert_file)
    if not chain:
        return None
    leaf = chain[0]
    if key is not None and spki(key.public_key()) != spki(leaf.public_key()):
        report.add(f"{label} key {key_file or cert_file}: does not match certificate {cert_file}")
    report.validity(what, cert_file, leaf)
    _check_usage(report, what, cert_file, leaf, usage)
    if ca_file and cas:
        _check_chain(report, what, cert_file, chain, ca_file, cas)
    return leaf


def _check_chain(
    report: _Report,
    what: str,
    cert_file: str,
    chain: list[x509.Certificate],
    ca_file: str,
    cas: list[x509.Certificate],
) -> None:
    current = chain[0]
    for _ in range(MAX_CHAIN):
        anchor = next((ca for ca in cas if _signed_by(current, ca)), None)
        if anchor is not None:
            if report.now > anchor.not_valid_after_utc:
                report.add(
                    f"{what} {cert_file}: its CA {_subject(anchor)} in {ca_file} expired on "
                    f"{_when(anchor.not_valid_after_utc)}"
                )
            return
        parent = next((c for c in chain[1:] if c is not current and _signed_by(current, c)), None)
        if parent is None:
            break
        current = parent
    report.add(
        f"{what} {cert_file}: not signed by any CA in {ca_file} "
        f"(subject {_subject(chain[0])}, issuer {chain[0].issuer.rfc4514_string()})"
    )


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def check_server_material(
    cert_file: str,
    key_file: str,
    trusted_ca_file: str | None = None,
    hosts: Sequence[str] = (),
    *,
    label: str = "server",
    now: dt.datetime | None = None,
) -> list[str]:
    """Problems with a listener's material; `hosts` are the advertised URL hosts.

    The certificate is checked against `trusted_ca_file` too: in etcd-release one CA signs the
    server, client and peer certificates of a listener, so a mismatch there is a broken deploy.
    """
    report = _Report(_now(now))
    cas = report.certificates(f"{label} CA file", trusted_ca_file) if trusted_ca_file else []
    if trusted_ca_file:
        _check_trust(report, f"{label} CA file", trusted_ca_file, cas)
    what = f"{label} certificate"
    leaf = _check_pair(
        report, label, cert_file, key_file, trusted_ca_file, cas, ExtendedKeyUsageOID.SERVER_AUTH
    )
    if leaf is None:
        return report.problems
    sans = _san_list(leaf)
    if not sans:
        report.add(f"{what} {cert_file}: no subjectAltName; clients match host names only there")
        return report.problems
    for host in hosts:
        if not host_matches(leaf, host):
            report.add(f"{what} {cert_file}: no SAN for host {host} (SANs: {', '.join(sans)})")
    return report.problems


def check_client_material(
    ca_file: str | None,
    cert_file: str | None = None,
    key_file: str | None = None,
    *,
    label: str = "client",
    now: dt.datetime | None = None,
) -> list[str]:
    """Problems with a dialer's material: the CA bundle and the optional client certificate."""
    report = _Report(_now(now))
    cas = report.certificates(f"{label} CA file", ca_file) if ca_file else []
    if ca_file:
        _check_trust(report, f"{label} CA file", ca_file, cas)
    if cert_file:
        _check_pair(
            report, label, cert_file, key_file, ca_file, cas, ExtendedKeyUsageOID.CLIENT_AUTH
        )
    return report.problems
