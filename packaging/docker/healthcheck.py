"""The container image's HEALTHCHECK: GET /health on the first client URL the member listens on.

The URL comes from `ETCD_LISTEN_CLIENT_URLS`, the variable the member itself reads, so a container
started on another port or scheme is probed where it really serves. Exit status 0 means healthy.
Standard library only: it runs with the image's Python, beside the member, not inside it.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_LISTEN = "http://localhost:2379"  # etcd's --listen-client-urls default
TIMEOUT_S = 5.0
# A member bound to every address is reached through loopback of the same family.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def probe_url(environ: Mapping[str, str]) -> str:
    """The /health URL of the first listen-client URL; ValueError when it names no port."""
    first = (environ.get("ETCD_LISTEN_CLIENT_URLS") or DEFAULT_LISTEN).split(",")[0].strip()
    parts = urlsplit(first)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise ValueError(f"cannot probe listen-client URL {first!r}: want http(s)://host:port")
    host = _WILDCARD.get(parts.hostname, parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{parts.port}/health"


def is_healthy(status: int, body: bytes) -> bool:
    """etcd's verdict: 200 with `{"health":"true"}`."""
    try:
        return status == 200 and json.loads(body).get("health") == "true"
    except (ValueError, AttributeError):
        return False


def tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """Probe our own member: trust its CA when given (no name check, the probe goes to loopback)
    and present its certificate, which `--client-cert-auth` then accepts when it is signed by the
    trusted CA."""
    ca_file = environ.get("ETCD_TRUSTED_CA_FILE") or None
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    if ca_file is None:
        context.verify_mode = ssl.CERT_NONE
    cert, key = environ.get("ETCD_CERT_FILE"), environ.get("ETCD_KEY_FILE")
    if cert and key:
        context.load_cert_chain(cert, key)
    return context


def main(environ: Mapping[str, str] = os.environ) -> int:
    try:
        url = probe_url(environ)
        context = tls_context(environ) if url.startswith("https:") else None
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if is_healthy(status, body):
        return 0
    print(f"unhealthy: {url} answered {status} {body[:200]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
