"""SSL contexts for the client and peer listeners and for dialing peers.

TLS 1.2 is the floor because the etcd-release build accepted only TLS 1.2; on 1.2 only ECDHE key
exchange with AEAD ciphers is offered (TLS 1.3 suites are all AEAD already).
"""

from __future__ import annotations

import ssl

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
CIPHERS_TLS12 = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TLSMaterialError(ValueError):
    """Certificates, keys or CA files that cannot be used; one operator-grade line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _harden(ctx: ssl.SSLContext, ciphers: str) -> None:
    """`ciphers` restricts TLS 1.2 (see tls.ciphers); "" leaves TLS 1.3 alone."""
    if ciphers:
        ctx.minimum_version = MINIMUM_VERSION
        ctx.set_ciphers(ciphers)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_COMPRESSION


def _reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)


def _load_chain(ctx: ssl.SSLContext, cert_file: str, key_file: str | None) -> None:
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except OSError as exc:
        where = f"certificate {cert_file} / key {key_file}" if key_file else cert_file
        problem = f"{where}: cannot load: {_reason(exc)}"
        raise TLSMaterialError([problem]) from None


def _load_trust(ctx: ssl.SSLContext, ca_file: str) -> None:
    try:
        ctx.load_verify_locations(cafile=ca_file)
    except OSError as exc:
        problem = f"{ca_file}: cannot load CA certificates: {_reason(exc)}"
        raise TLSMaterialError([problem]) from None


def server_context(
    cert_file: str,
    key_file: str,
    trusted_ca_file: str | None = None,
    client_cert_auth: bool = False,
    ciphers: str = CIPHERS_TLS12,
) -> ssl.SSLContext:
    """A listener context; with a trusted CA, client certificates are verified against it.

    `client_cert_auth` makes a certificate mandatory; without it a presented certificate is still
    verified. Session tickets are off so that every connection is verified against the CA
    material current at its handshake (a reload that drops a CA takes effect at once).
    """
    if client_cert_auth and not trusted_ca_file:
        raise TLSMaterialError(["client certificate authentication needs a trusted CA file"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx, ciphers)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    _load_chain(ctx, cert_file, key_file)
    if trusted_ca_file:
        _load_trust(ctx, trusted_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED if client_cert_auth else ssl.CERT_OPTIONAL
    return ctx


def client_context(
    ca_file: str | None,
    cert_file: str | None = None,
    key_file: str | None = None,
    check_hostname: bool = True,
    ciphers: str = CIPHERS_TLS12,
    verify: bool = True,
) -> ssl.SSLContext:
    """A dialing context: the server must chain to `ca_file` (a bundle of one or more CAs).

    Host names are checked against DNS SANs (wildcards in the leftmost label) and IP SANs of the
    URL's host. Without `ca_file` the system trust store is used. `verify=False` checks nothing
    (etcd's InsecureSkipVerify, used between members with auto-generated certificates).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx, ciphers)
    ctx.check_hostname = check_hostname and verify
    if not verify:
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_file:
        _load_trust(ctx, ca_file)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file:
        _load_chain(ctx, cert_file, key_file)
    return ctx
