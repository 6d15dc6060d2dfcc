"""Connections a TLS listener refuses after the CA said yes, and etcd's log line for them.

etcd 3.4.23's peer listener checks that the SANs of a dialing member's certificate cover the
address it dials from (checkCertSAN: an IP SAN, else a DNS SAN found by reverse lookup of the
address or forward lookup of the name), unless `--experimental-peer-skip-client-san-verification`.
Every refused connection is logged as `rejected connection from "ADDR" (error "...", ...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Sequence

from cryptography import x509

from tls.checks import san_values

# Bounds the reverse and forward DNS lookups of a peer's certificate SAN check.
SAN_LOOKUP_TIMEOUT = 10.0
log = logging.getLogger("embed")


def _q(text: str) -> str:
    """Go's `%q` of a (printable) string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_quote(items: Sequence[str]) -> str:
    """Go's `%q` of a string slice: `["a" "b"]`."""
    return "[" + " ".join(_q(item) for item in items) + "]"


def log_rejected(peername: object, error: str, ssl_object: object) -> None:
    """etcd's line for a connection its TLS listener refused (capnslog, package embed)."""
    server_name = getattr(ssl_object, "requested_name", None) or ""
    head = f"rejected connection from {_q(_remote(peername))} (error {_q(error)}, ServerName "
    der = (
        ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    )
    if der:
        ips, dns = san_values(x509.load_der_x509_certificate(der))
        log.info(
            "%s%s, IPAddresses %s, DNSNames %s)",
            head,
            _q(server_name),
            _go_quote(ips),
            _go_quote(dns),
        )
    else:
        log.info("%s%s)", head, _q(server_name))


def _remote(peername: object) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peername)


async def _host_in_dns(host: str, names: Sequence[str]) -> tuple[bool, str]:
    """etcd's isHostInDNS: the host's PTR names against the SANs (a wildcard matches any name
    ending in it), then every non-wildcard SAN resolved forward; (found, last lookup error)."""
    loop = asyncio.get_running_loop()
    wildcards = [name[1:] for name in names if name.startswith("*.")]
    plain = [name for name in names if not name.startswith("*.")]
    error = ""
    try:
        primary, aliases, _ = await loop.run_in_executor(None, socket.gethostbyaddr, host)
    except OSError as exc:
        error = f"lookup {host}: {exc.strerror or exc}"
    else:
        for name in (primary, *aliases):
            name = name.rstrip(".")
            if any(name.endswith(w) for w in wildcards) or name in plain:
                return True, ""
    for name in plain:
        try:
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            error = f"lookup {name}: {exc.strerror or exc}"
            continue
        if any(info[4][0] == host for info in infos):
            return True, ""
    return False, error


async def san_refusal(der: bytes, remote_ip: str) -> str:
    """etcd's checkCertSAN on a peer listener: a client certificate with SANs must cover the
    address it connects from (an IP SAN, or a DNS SAN by reverse or forward lookup)."""
    ips, dns = san_values(x509.load_der_x509_certificate(der))
    if not ips and not dns:
        return ""
    if ips:
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(remote_ip) in {ipaddress.ip_address(ip) for ip in ips}:
                return ""
        if not dns:
            return f"x509: certificate is valid for {', '.join(ips)}, not {remote_ip}"
    try:
        async with asyncio.timeout(SAN_LOOKUP_TIMEOUT):
            found, error = await _host_in_dns(remote_ip, dns)
    except TimeoutError:
        found, error = False, f"lookup {remote_ip}: timed out"
    if found:
        return ""
    reason = f'tls: "{remote_ip}" does not match any of DNSNames {_go_quote(dns)}'
    return f"{reason} ({error})" if error else reason
