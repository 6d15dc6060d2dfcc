"""`--cipher-suites`: etcd's Go cipher suite names as OpenSSL cipher lists.

etcd 3.4.23 (Go 1.19) accepts every name of Go's `tls.CipherSuites()` and
`tls.InsecureCipherSuites()` plus two short aliases, and refuses anything else at start with
`unexpected TLS cipher suite "NAME"`. The list restricts TLS 1.2 only: TLS 1.3 suites are not
configurable in Go (nor through Python's ssl), so a list of TLS 1.3 names alone leaves no TLS 1.2
suite and only TLS 1.3 handshakes succeed, as with etcd.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from tls.contexts import CIPHERS_TLS12, TLSMaterialError

# Go name -> OpenSSL name; None for the TLS 1.3 suites (always on, not selectable).
GO_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}


def _available(openssl_name: str) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(openssl_name)
    except ssl.SSLError:
        return False
    return True


def openssl_ciphers(names: Sequence[str]) -> str:
    """The TLS 1.2 cipher list for `--cipher-suites` in the given order (pyetcd's default when
    none given, "" when only TLS 1.3 suites are named); raises TLSMaterialError with etcd's line
    for an unknown name, and names each known suite this OpenSSL cannot offer (RC4 and 3DES
    are compiled out of OpenSSL 3)."""
    if not names:
        return CIPHERS_TLS12
    for name in names:
        if name not in GO_SUITES:
            raise TLSMaterialError([f'unexpected TLS cipher suite "{name}"'])
    tls12 = list(dict.fromkeys(o for o in (GO_SUITES[n] for n in names) if o is not None))
    missing = [n for n in names if GO_SUITES[n] is not None and not _available(str(GO_SUITES[n]))]
    if missing:
        raise TLSMaterialError(
            [
                f"--cipher-suites: {name} is not available in {ssl.OPENSSL_VERSION}"
                for name in missing
            ]
        )
    return ":".join(tls12)
