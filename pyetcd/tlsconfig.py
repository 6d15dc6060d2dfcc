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
import logging
import os
import signal
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from pyetcd.tls_refusals import log_rejected, san_refusal
from tls import ReloadingClientContext, ReloadingServerContext, TLSMaterialError
from tls.ciphers import openssl_ciphers
from tls.selfcert import ensure_self_cert
from tls.verify import CertPolicy, refusal

RELOAD_INTERVAL = 1.0
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
