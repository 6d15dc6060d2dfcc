"""What a verified certificate must also satisfy: etcd's CRL, allowed-CN and allowed-hostname.

etcd 3.4.23 refuses, on a listener, a certificate whose serial (or the serial of any certificate
the other side sent) is listed in `--client-crl-file` / `--peer-crl-file`; it compares serials only
(it neither checks the CRL's signature nor its issuer, and re-reads the file at every connection).
pyetcd re-reads it when it changes, like the other files, and checks the leaf certificate's
serial: Python's ssl shows no other certificate of the peer's chain before Python 3.13.
`--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname` and `--client-cert-allowed-hostname`
refuse a certificate whose subject CN differs, or which does not cover the host name (SAN rules,
as TLS clients match them), on both ends of a connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from tls.checks import host_matches
from tls.contexts import TLSMaterialError

AUTH_FAILED = "client certificate authentication failed"


@dataclass(frozen=True, slots=True)
class CertPolicy:
    """Checks beyond the CA; `revoked` holds the serials of the CRL file (if any)."""

    allowed_cn: str = ""
    allowed_hostname: str = ""
    revoked: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.allowed_cn or self.allowed_hostname or self.revoked)


NO_POLICY = CertPolicy()


def load_crl(path: str, what: str) -> frozenset[int]:
    """The revoked serials of a PEM or DER CRL; TLSMaterialError naming the file otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TLSMaterialError([f"{what} {path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if b"-----BEGIN X509 CRL-----" in data
            else x509.load_der_x509_crl(data)
        )
    except ValueError:
        problem = f"{what} {path}: not a PEM or DER certificate revocation list"
        raise TLSMaterialError([problem]) from None
    return frozenset(entry.serial_number for entry in crl)


def _serial_hex(serial: int) -> str:
    """The serial as etcd prints it: `%x` of its big-endian bytes."""
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex()


def _common_name(cert: x509.Certificate) -> str:
    """Go's `Subject.CommonName`: the last CN attribute, "" without one."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[-1].value) if names else ""


def refusal(policy: CertPolicy, der: bytes | None, *, crl: bool = True) -> str:
    """Why the other side's certificate is refused ("" to accept); no certificate is accepted
    (a listener that needs one has refused it already). `crl=False` on the dialing side,
    where etcd does not look at CRLs."""
    if der is None or policy.empty:
        return ""
    cert = x509.load_der_x509_certificate(der)
    if crl and cert.serial_number in policy.revoked:
        return f"transport: certificate serial {_serial_hex(cert.serial_number)} revoked"
    if policy.allowed_cn and _common_name(cert) != policy.allowed_cn:
        return AUTH_FAILED
    if policy.allowed_hostname and not host_matches(cert, policy.allowed_hostname):
        return AUTH_FAILED
    return ""


def check_on_handshake(ctx: ssl.SSLContext, policy: Callable[[], CertPolicy]) -> None:
    """Make handshakes dialed with `ctx` fail when the server's certificate breaks the policy,
    as Go's VerifyPeerCertificate does (the handshake error is the refusal)."""

    class _Checked(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()
            why = refusal(policy(), self.getpeercert(binary_form=True), crl=False)
            if why:
                raise ssl.SSLCertVerificationError(why)

    ctx.sslobject_class = _Checked


# OpenSSL's reasons for a failed server handshake, in the words etcd's Go listener logs.
_GO_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "tls: client didn't provide a certificate",
    "NO_SHARED_CIPHER": "tls: no cipher suite supported by both client and server",
    "UNSUPPORTED_PROTOCOL": "tls: client offered only unsupported versions",
    "HTTP_REQUEST": "tls: first record does not look like a TLS handshake",
    "WRONG_VERSION_NUMBER": "tls: first record does not look like a TLS handshake",
}
_GO_VERIFY = {
    "unable to get local issuer certificate": "x509: certificate signed by unknown authority",
    "self-signed certificate": "x509: certificate signed by unknown authority",
    "certificate has expired": "x509: certificate has expired or is not yet valid",
    "certificate is not yet valid": "x509: certificate has expired or is not yet valid",
}


def handshake_error_text(exc: BaseException) -> str:
    """Why a client's handshake failed, as etcd logs it where the two libraries agree."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or exc.reason or str(exc)
        return f"tls: failed to verify client certificate: {_GO_VERIFY.get(message, message)}"
    if isinstance(exc, ssl.SSLError):
        return _GO_REASONS.get(exc.reason or "", exc.reason or str(exc))
    if isinstance(exc, ConnectionError | EOFError):
        return "EOF"
    if isinstance(exc, TimeoutError):
        return "tls: handshake timed out"
    return str(exc) or type(exc).__name__
