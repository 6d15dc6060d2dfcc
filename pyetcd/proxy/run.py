"""`pyetcd --proxy on|readonly`: the proxy's startup from the daemon's Config, its TLS and
listeners, and its shutdown on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl

from pyetcd.config import Config
from pyetcd.proxy.peers import proxy_dir
from pyetcd.proxy.server import Proxy, ProxySettings, start_listeners
from pyetcd.urls import host_port
from tls import TLSMaterialError
from tls.contexts import client_context, server_context

log = logging.getLogger("etcdmain")


def is_proxy_dir(data_dir: str) -> bool:
    """etcd restarts a data dir holding `proxy/` and no `member/` as a proxy."""
    return os.path.isdir(proxy_dir(data_dir)) and not os.path.isdir(
        os.path.join(data_dir, "member")
    )


def settings_of(config: Config) -> ProxySettings:
    return ProxySettings(
        readonly=config.proxy == "readonly",
        data_dir=config.data_dir,
        listen_urls=config.listen_client_urls,
        peer_urls=tuple(u for _, urls in config.initial_cluster for u in urls),
        failure_wait=config.proxy_failure_wait_ms / 1000,
        refresh_interval=config.proxy_refresh_interval_ms / 1000,
        dial_timeout=config.proxy_dial_timeout_ms / 1000,
        write_timeout=config.proxy_write_timeout_ms / 1000,
        read_timeout=config.proxy_read_timeout_ms / 1000,
        cors=config.cors,
        cluster_client_urls=config.proxy_cluster_client_urls,
        members_answer=config.proxy_members_answer,
    )


def _contexts(
    config: Config,
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None, ssl.SSLContext | None]:
    """(listener, upstream, peer) contexts. As etcd's proxy, the client TLS files are also
    the certificate it presents to the members, falling back to the peer files."""
    files = dict(config.tls_files)
    cert, key, ca = files.get("cert-file"), files.get("key-file"), files.get("trusted-ca-file")
    pcert, pkey = files.get("peer-cert-file"), files.get("peer-key-file")
    pca = files.get("peer-trusted-ca-file")
    listener = None
    if any(u.startswith("https://") for u in config.listen_client_urls):
        if not (cert and key):
            raise TLSMaterialError(["https client URLs need --cert-file and --key-file"])
        listener = server_context(cert, key, ca, config.client_cert_auth)
    peer = client_context(pca, pcert, pkey) if (pca or pcert) else None
    upstream = client_context(ca, cert, key) if (ca or cert) else peer
    return listener, upstream, peer


async def run_proxy(config: Config) -> int:
    log.info("proxy: this proxy supports v2 API only!")
    listener_ssl, upstream_ssl, peer_ssl = _contexts(config)
    proxy = Proxy(settings_of(config), upstream_ssl, peer_ssl)
    await proxy.open()
    binds = []
    for url in config.listen_client_urls:
        host, port = host_port(url)
        binds.append((host, port, listener_ssl if url.startswith("https://") else None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers = []
    refresher = asyncio.create_task(proxy.refresh_forever(), name="pyetcd-proxy-refresh")
    try:
        servers = await start_listeners(proxy, binds)
        for url in config.listen_client_urls:
            log.info('v2 proxy started listening on client requests on "%s"', url)
        await stop.wait()
        log.info("received a stop signal, shutting down...")
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        for server in servers:
            server.close()
        await proxy.close()
    return 0
