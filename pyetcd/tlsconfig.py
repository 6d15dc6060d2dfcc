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
import signal
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from tls import ReloadingClientContext, ReloadingServerContext, TLSMaterialError

RELOAD_INTERVAL = 1.0
_R = TypeVar("_R")


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
    """The live contexts; None where that side speaks plain HTTP (`TLSSetup()`: no TLS at all)."""

    client: ReloadingServerContext | None = None
    peer_server: ReloadingServerContext | None = None
    peer_dialer: ReloadingClientContext | None = None

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


def build_tls(settings: TLSSettings) -> TLSSetup:
    """Check every file and build the contexts; raises TLSConfigError listing all problems.

    As in etcd 3.4.23 (verified), a listener with a trusted CA file requires a client
    certificate signed by it even without --client-cert-auth / --peer-client-cert-auth.
    """
    s = settings
    client_urls = _https(s.listen_client_urls + s.advertise_client_urls)
    peer_urls = _https(s.listen_peer_urls + s.advertise_peer_urls)
    problems = _pair_problems("client", "", s.cert_file, s.key_file, client_urls)
    problems += _pair_problems("peer", "peer-", s.peer_cert_file, s.peer_key_file, peer_urls)
    if s.client_cert_auth and not s.trusted_ca_file:
        problems.append("--client-cert-auth needs --trusted-ca-file to verify client certificates")
    if s.peer_client_cert_auth and not s.peer_trusted_ca_file:
        problems.append(
            "--peer-client-cert-auth needs --peer-trusted-ca-file to verify peer certificates"
        )
    if problems:
        raise TLSConfigError(problems)
    client = peer_server = peer_dialer = None
    if s.cert_file:
        client = _attempt(
            problems,
            lambda: ReloadingServerContext(
                s.cert_file,
                s.key_file,
                s.trusted_ca_file or None,
                s.client_cert_auth or bool(s.trusted_ca_file),
                _hosts(s.advertise_client_urls),
                label="server",
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
                _hosts(s.advertise_peer_urls),
                label="peer",
            ),
        )
    if s.peer_cert_file or s.peer_trusted_ca_file or _https(s.cluster_peer_urls):
        peer_dialer = _attempt(
            problems,
            lambda: ReloadingClientContext(
                s.peer_trusted_ca_file or None,
                s.peer_cert_file or None,
                s.peer_key_file or None,
                label="peer",
            ),
        )
    if problems:
        raise TLSConfigError(problems)
    return TLSSetup(client, peer_server, peer_dialer)


def _attempt(problems: list[str], make: Callable[[], _R]) -> _R | None:
    try:
        return make()
    except TLSMaterialError as exc:
        problems.extend(exc.problems)
        return None
