"""The daemon's TLS material: client listener, peer listener and peer dialer, checked at startup.

Every problem with the configured files is found before anything listens, and reported one line
each naming the file (or the flag) and the problem, so a broken BOSH deploy fails on the first start
instead of on the first handshake. Afterwards the material is re-read when its files change
(polled once a second, and at once on SIGHUP), which is what makes the README's three-step
rotation work without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from tls import ReloadingClientContext, ReloadingServerContext, TLSMaterialError
from tls.ciphers import openssl_ciphers
from tls.selfcert import ensure_self_cert
from tls.verify import CertPolicy, refusal

RELOAD_INTERVAL = 1.0
# Bounds the reverse and forward DNS lookups of a peer's certificate SAN check.
SAN_LOOKUP_TIMEOUT = 10.0
_R = TypeVar("_R")
log = logging.getLogger("embed")


class TLSConfigError(ValueError):
    """The daemon must not start; `problems` holds one operator-grade line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(self.problems))


class TLSFlags(Protocol):
    """The part of the daemon's Config that TLS reads (etcd's flag names, `-` as `_`)."""

    @property
    def tls_files(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def client_cert_auth(self) -> bool: ...
    @property
    def peer_client_cert_auth(self) -> bool: ...
    @property
    def listen_client_urls(self) -> tuple[str, ...]: ...
    @property
    def advertise_client_urls(self) -> tuple[str, ...]: ...
    @property
    def listen_peer_urls(self) -> tuple[str, ...]: ...
    @property
    def initial_advertise_peer_urls(self) -> tuple[str, ...]: ...
    @property
    def initial_cluster(self) -> tuple[tuple[str, tuple[str, ...]], ...]: ...
    @property
    def data_dir(self) -> str: ...
    @property
    def cipher_suites(self) -> tuple[str, ...]: ...
    @property
    def auto_tls(self) -> bool: ...
    @property
    def peer_auto_tls(self) -> bool: ...
    @property
    def client_cert_allowed_hostname(self) -> str: ...
    @property
    def peer_cert_allowed_cn(self) -> str: ...
    @property
    def peer_cert_allowed_hostname(self) -> str: ...
    @property
    def peer_skip_client_san_verification(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """TLS flags and the URLs they apply to; empty strings mean "not given", as in etcd."""

    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    peer_cert_file: str = ""
    peer_key_file: str = ""
    peer_trusted_ca_file: str = ""
    peer_client_cert_auth: bool = False
    listen_client_urls: tuple[str, ...] = ()
    advertise_client_urls: tuple[str, ...] = ()
    listen_peer_urls: tuple[str, ...] = ()
    advertise_peer_urls: tuple[str, ...] = ()
    cluster_peer_urls: tuple[str, ...] = ()
    crl_file: str = ""
    peer_crl_file: str = ""
    cipher_suites: tuple[str, ...] = ()
    auto_tls: bool = False
    peer_auto_tls: bool = False
    data_dir: str = ""
    client_allowed_hostname: str = ""
    peer_allowed_cn: str = ""
    peer_allowed_hostname: str = ""
    peer_skip_san: bool = False

    @classmethod
    def from_config(cls, config: TLSFlags) -> TLSSettings:
        files = dict(config.tls_files)
        return cls(
            cert_file=files.get("cert-file", ""),
            key_file=files.get("key-file", ""),
            trusted_ca_file=files.get("trusted-ca-file", ""),
            client_cert_auth=config.client_cert_auth,
            peer_cert_file=files.get("peer-cert-file", ""),
            peer_key_file=files.get("peer-key-file", ""),
            peer_trusted_ca_file=files.get("peer-trusted-ca-file", ""),
            peer_client_cert_auth=config.peer_client_cert_auth,
            listen_client_urls=config.listen_client_urls,
            advertise_client_urls=config.advertise_client_urls,
            listen_peer_urls=config.listen_peer_urls,
            advertise_peer_urls=config.initial_advertise_peer_urls,
            cluster_peer_urls=tuple(url for _, urls in config.initial_cluster for url in urls),
            crl_file=files.get("client-crl-file", ""),
            peer_crl_file=files.get("peer-crl-file", ""),
            cipher_suites=config.cipher_suites,
            auto_tls=config.auto_tls,
            peer_auto_tls=config.peer_auto_tls,
            data_dir=config.data_dir,
            client_allowed_hostname=config.client_cert_allowed_hostname,
            peer_allowed_cn=config.peer_cert_allowed_cn,
            peer_allowed_hostname=config.peer_cert_allowed_hostname,
            peer_skip_san=config.peer_skip_client_san_verification,
        )


def _https(urls: Sequence[str]) -> list[str]:
    return [url for url in urls if url.startswith("https://")]


def _hosts(urls: Sequence[str]) -> tuple[str, ...]:
    """The advertised hosts a listener's certificate must cover (IPv6 without brackets)."""
    return tuple(dict.fromkeys(urlsplit(url).hostname or "" for url in _https(urls)))


def _pair_problems(side: str, flag: str, cert: str, key: str, urls: list[str]) -> list[str]:
    problems = []
    if urls and not (cert and key):
        problems.append(
            f"{side} URL {urls[0]} is https but --{flag}cert-file and --{flag}key-file "
            "are not both given"
        )
    elif bool(cert) != bool(key):
        given, missing = ("cert-file", "key-file") if cert else ("key-file", "cert-file")
        problems.append(f"--{flag}{given} is given without --{flag}{missing}")
    return problems


def _go_quote(items: Sequence[str]) -> str:
    """Go's `%q` of a string slice: `["a" "b"]`."""
    return "[" + " ".join(f'"{item}"' for item in items) + "]"


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(IP SANs, DNS SANs) as text."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return ips, list(san.get_values_for_type(x509.DNSName))


def log_rejected(peername: object, error: str, ssl_object: object) -> None:
    """etcd's line for a connection its TLS listener refused (capnslog, package embed)."""
    remote = _remote(peername)
    server_name = getattr(ssl_object, "requested_name", None) or ""
    der = (
        ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    )
    if der:
        ips, dns = _sans(x509.load_der_x509_certificate(der))
        log.info(
            'rejected connection from "%s" (error "%s", ServerName "%s", IPAddresses %s, '
            "DNSNames %s)",
            remote,
            error,
            server_name,
            _go_quote(ips),
            _go_quote(dns),
        )
    else:
        log.info(
            'rejected connection from "%s" (error "%s", ServerName "%s")',
            remote,
            error,
            server_name,
        )


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
    ips, dns = _sans(x509.load_der_x509_certificate(der))
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


@dataclass(slots=True)
class TLSSetup:
    """The live contexts; None where that side speaks plain HTTP (`TLSSetup()`: no TLS at all).

    `client_refusal` and `peer_accept` apply what the CA cannot decide (CRL serials, allowed
    CN or hostname, a peer certificate's SANs against its address) to accepted connections.
    """

    client: ReloadingServerContext | None = None
    peer_server: ReloadingServerContext | None = None
    peer_dialer: ReloadingClientContext | None = None
    peer_check_san: bool = False

    @property
    def client_ssl(self) -> ssl.SSLContext | None:
        """The context for every https client listener (aiohttp `TCPSite(ssl_context=...)`)."""
        return self.client.context if self.client else None

    @property
    def peer_server_ssl(self) -> ssl.SSLContext | None:
        """The context for the https peer listener (`PeerTransport(server_ssl=...)`)."""
        return self.peer_server.context if self.peer_server else None

    def peer_client_ssl(self) -> ssl.SSLContext | None:
        """The context for one new peer connection (`PeerTransport(client_ssl=...)`)."""
        return self.peer_dialer.current if self.peer_dialer else None

    def client_refusal(self, transport: asyncio.BaseTransport) -> str:
        """Why an accepted client TLS connection is refused ("" to serve it); logged here."""
        ssl_object = transport.get_extra_info("ssl_object")
        if self.client is None or ssl_object is None:
            return ""
        why = refusal(self.client.policy, ssl_object.getpeercert(binary_form=True))
        if why:
            log_rejected(transport.get_extra_info("peername"), why, ssl_object)
        return why

    async def peer_accept(self, transport: asyncio.BaseTransport) -> bool:
        """Whether an accepted peer connection may go on (`PeerTransport(accept_check=...)`)."""
        ssl_object = transport.get_extra_info("ssl_object")
        if self.peer_server is None or ssl_object is None:
            return True
        der = ssl_object.getpeercert(binary_form=True)
        why = refusal(self.peer_server.policy, der)
        peername = transport.get_extra_info("peername")
        if not why and der and self.peer_check_san and isinstance(peername, tuple):
            why = await san_refusal(der, str(peername[0]))
        if why:
            log_rejected(peername, why, ssl_object)
        return not why

    @property
    def reloaders(self) -> tuple[ReloadingServerContext | ReloadingClientContext, ...]:
        return tuple(r for r in (self.client, self.peer_server, self.peer_dialer) if r)

    def maybe_reload(self) -> bool:
        """Re-read changed files everywhere; broken new material is logged and not used."""
        results = [reloader.maybe_reload() for reloader in self.reloaders]
        return any(results)

    async def run(self, interval: float = RELOAD_INTERVAL) -> None:
        """Poll for changed files until cancelled; SIGHUP triggers a check at once."""
        if not self.reloaders:
            return
        loop = asyncio.get_running_loop()
        # Signal handlers need a Unix loop in the main thread (in-process test servers run
        # elsewhere): without one, the once-a-second poll alone picks up new files.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.maybe_reload)
        try:
            while True:
                await asyncio.sleep(interval)
                self.maybe_reload()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)


def _url_hosts(urls: Sequence[str]) -> list[str]:
    return [urlsplit(url).hostname or "" for url in urls]


@dataclass(frozen=True, slots=True)
class _AutoSide:
    """One side's auto-TLS: its flag, certificate fields, fixtures directory, listen URLs and
    the (flag, field) pairs the generated certificate replaces."""

    name: str
    flag: str
    cert: str
    key: str
    listen: str
    replaced: tuple[tuple[str, str], ...]


_CLIENT_AUTO = _AutoSide(
    "client", "auto-tls", "cert_file", "key_file", "listen_client_urls",
    (("trusted-ca-file", "trusted_ca_file"), ("client-cert-auth", "client_cert_auth"),
     ("client-crl-file", "crl_file"), ("client-cert-allowed-hostname", "client_allowed_hostname")),
)  # fmt: skip
_PEER_AUTO = _AutoSide(
    "peer", "peer-auto-tls", "peer_cert_file", "peer_key_file", "listen_peer_urls",
    (("peer-trusted-ca-file", "peer_trusted_ca_file"),
     ("peer-client-cert-auth", "peer_client_cert_auth"), ("peer-crl-file", "peer_crl_file"),
     ("peer-cert-allowed-cn", "peer_allowed_cn"),
     ("peer-cert-allowed-hostname", "peer_allowed_hostname")),
)  # fmt: skip


def _self_signed(s: TLSSettings, side: _AutoSide) -> TLSSettings:
    """`s` with the side's generated certificate; as in etcd it replaces that side's whole TLS
    configuration (no CA, hence no client certificates, CRL or allowed names): said once."""
    dropped = [f"--{flag}" for flag, field in side.replaced if getattr(s, field)]
    if dropped:
        log.warning(
            "--%s replaces the %s TLS flags, as in etcd: %s ignored",
            side.flag,
            side.name,
            ", ".join(dropped),
        )
    directory = os.path.join(s.data_dir, "fixtures", side.name)
    cert = ensure_self_cert(directory, _url_hosts(getattr(s, side.listen)))
    cleared = {field: type(getattr(s, field))() for _, field in side.replaced}
    return replace(s, **{side.cert: cert.cert_file, side.key: cert.key_file}, **cleared)


def _auto_tls(s: TLSSettings) -> tuple[TLSSettings, bool, bool]:
    """Settings with the auto-TLS certificates in place of absent certificate files, and
    which sides use them."""
    client_auto = s.auto_tls and not (s.cert_file or s.key_file)
    peer_auto = s.peer_auto_tls and not (s.peer_cert_file or s.peer_key_file)
    if s.auto_tls and not client_auto:
        log.warning("ignoring client auto TLS since certs given")
    if s.peer_auto_tls and not peer_auto:
        log.warning("ignoring peer auto TLS since certs given")
    try:
        if client_auto:
            s = _self_signed(s, _CLIENT_AUTO)
        if peer_auto:
            s = _self_signed(s, _PEER_AUTO)
    except TLSMaterialError as exc:
        raise TLSConfigError(exc.problems) from None
    return s, client_auto, peer_auto


def build_tls(settings: TLSSettings) -> TLSSetup:
    """Check every file and build the contexts; raises TLSConfigError listing all problems.

    As in etcd 3.4.23 (verified), a listener with a trusted CA file requires a client
    certificate signed by it even without --client-cert-auth / --peer-client-cert-auth.
    `--cipher-suites` applies to both listeners and to dialing peers, as in etcd.
    """
    s, client_auto, peer_auto = _auto_tls(settings)
    problems: list[str] = []
    ciphers = _attempt(problems, lambda: openssl_ciphers(s.cipher_suites)) or ""
    client_urls = _https(s.listen_client_urls + s.advertise_client_urls)
    peer_urls = _https(s.listen_peer_urls + s.advertise_peer_urls)
    problems += _pair_problems("client", "", s.cert_file, s.key_file, client_urls)
    problems += _pair_problems("peer", "peer-", s.peer_cert_file, s.peer_key_file, peer_urls)
    if s.client_cert_auth and not s.trusted_ca_file:
        problems.append("--client-cert-auth needs --trusted-ca-file to verify client certificates")
    if s.peer_client_cert_auth and not s.peer_trusted_ca_file:
        problems.append(
            "--peer-client-cert-auth needs --peer-trusted-ca-file to verify peer certificates"
        )
    if s.peer_allowed_cn and s.peer_allowed_hostname:
        problems.append(
            f'AllowedCN and AllowedHostname are mutually exclusive (cn="{s.peer_allowed_cn}", '
            f'hostname="{s.peer_allowed_hostname}")'
        )
    if problems:
        raise TLSConfigError(problems)
    peer_policy = CertPolicy(s.peer_allowed_cn, s.peer_allowed_hostname)
    client = peer_server = peer_dialer = None
    if s.cert_file:
        client = _attempt(
            problems,
            lambda: ReloadingServerContext(
                s.cert_file,
                s.key_file,
                s.trusted_ca_file or None,
                s.client_cert_auth or bool(s.trusted_ca_file),
                () if client_auto else _hosts(s.advertise_client_urls),
                label="server",
                ciphers=ciphers,
                policy=CertPolicy(allowed_hostname=s.client_allowed_hostname),
                crl_file=s.crl_file or None,
            ),
        )
    if s.peer_cert_file:
        peer_server = _attempt(
            problems,
            lambda: ReloadingServerContext(
                s.peer_cert_file,
                s.peer_key_file,
                s.peer_trusted_ca_file or None,
                s.peer_client_cert_auth or bool(s.peer_trusted_ca_file),
                () if peer_auto else _hosts(s.advertise_peer_urls),
                label="peer",
                ciphers=ciphers,
                policy=peer_policy,
                crl_file=s.peer_crl_file or None,
            ),
        )
    if s.peer_cert_file or s.peer_trusted_ca_file or _https(s.cluster_peer_urls):
        peer_dialer = _attempt(
            problems,
            lambda: ReloadingClientContext(
                s.peer_trusted_ca_file or None,
                None if peer_auto else s.peer_cert_file or None,
                None if peer_auto else s.peer_key_file or None,
                label="peer",
                ciphers=ciphers,
                verify=not peer_auto,
                policy=peer_policy,
            ),
        )
    if problems:
        raise TLSConfigError(problems)
    return TLSSetup(client, peer_server, peer_dialer, peer_check_san=not s.peer_skip_san)


def _attempt(problems: list[str], make: Callable[[], _R]) -> _R | None:
    try:
        return make()
    except TLSMaterialError as exc:
        problems.extend(exc.problems)
        return None
