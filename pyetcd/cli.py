"""The `pyetcd` command: one member serving etcd's v2 API on its client URLs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import ssl
import stat
import sys
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import NamedTuple

import uvloop
from aiohttp import web

from http_api.app import make_metrics_server, make_server
from pyetcd.bootstrap import BootstrapError
from pyetcd.config import (
    ETCD_VERSION,
    PYETCD_VERSION,
    Config,
    Version,
    help_text,
    load_config,
    version_text,
)
from pyetcd.flags import ConfigError, HelpRequested
from pyetcd.notify import notify_ready
from pyetcd.server import STOPPED, EtcdServer
from pyetcd.tlsconfig import TLSConfigError, TLSSettings, build_tls
from pyetcd.urls import host_port

log = logging.getLogger("etcdmain")

# On shutdown aiohttp gives in-flight requests this long to finish, then cancels them and waits
# as long again: long-polling watches never finish on their own, so this bounds a stop.
SHUTDOWN_GRACE = 0.25
# Connections a client listener queues before the member is ready (and between accepts).
LISTEN_BACKLOG = 128
DATA_DIR_MODE = 0o700

_LEVEL_LETTERS = {
    logging.DEBUG: "D",
    logging.INFO: "I",
    logging.WARNING: "W",
    logging.ERROR: "E",
    logging.CRITICAL: "C",
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class ListenError(Exception):
    """A client URL could not be bound (address in use, not local, no permission)."""


class _EtcdFormatter(logging.Formatter):
    """etcd's capnslog layout: `2026-11-24 03:33:26.343931 I | etcdserver: message`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S.%f")
        letter = _LEVEL_LETTERS.get(record.levelno, "I")
        text = f"{stamp} {letter} | {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_EtcdFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _fatal(message: str, exit_code: int) -> int:
    """One line on stderr: a bare line for command-line syntax (as Go's flag package prints
    it), an etcd-style log line otherwise."""
    if exit_code == 2:
        print(message, file=sys.stderr)
    else:
        record = logging.LogRecord("etcdmain", logging.CRITICAL, "", 0, message, None, None)
        print(_EtcdFormatter().format(record), file=sys.stderr)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pyetcd` console script and of `python -m pyetcd`."""
    try:
        loaded = load_config(sys.argv[1:] if argv is None else argv, os.environ)
    except HelpRequested:
        sys.stdout.write(help_text())
        return 0
    except ConfigError as exc:
        return _fatal(exc.message, exc.exit_code)
    if isinstance(loaded, Version):
        sys.stdout.write(version_text())
        return 0
    _setup_logging(loaded.log_level)
    try:
        os.makedirs(loaded.data_dir, mode=DATA_DIR_MODE, exist_ok=True)
        mode = stat.S_IMODE(os.stat(loaded.data_dir).st_mode)
    except OSError as exc:
        return _fatal(f"cannot access data directory: {exc}", 1)
    if mode != DATA_DIR_MODE:
        log.warning(
            "data directory %s has permission %o; %o keeps other users out of the data",
            loaded.data_dir,
            mode,
            DATA_DIR_MODE,
        )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            return runner.run(serve(loaded))
        except TLSConfigError as exc:
            for problem in exc.problems:
                _fatal(problem, 1)
            return 1
        except (ListenError, BootstrapError, OSError) as exc:
            return _fatal(str(exc), 1)


def _log_startup(config: Config) -> None:
    log.info("pyetcd %s serving etcd %s's v2 API", PYETCD_VERSION, ETCD_VERSION)
    for warning in config.warnings:
        logging.getLogger("pkg/flags").warning("%s", warning)
    for name in config.inert:
        log.warning("--%s is accepted but has no effect in pyetcd yet", name)
    embed = logging.getLogger("embed")
    embed.info("name = %s", config.name)
    embed.info("data dir = %s", config.data_dir)
    embed.info("member dir = %s", os.path.join(config.data_dir, "member"))
    embed.info(
        "heartbeat = %dms, election = %dms, snapshot count = %d",
        config.heartbeat_interval_ms,
        config.election_timeout_ms,
        config.snapshot_count,
    )
    embed.info("initial advertise peer URLs = %s", ",".join(config.initial_advertise_peer_urls))
    embed.info("advertise client URLs = %s", ",".join(config.advertise_client_urls))
    if not config.enable_v2:
        embed.warning("--enable-v2 is false (etcd's default): /v2/* answers 404")
    if config.metrics == "extensive":
        embed.info(
            "--metrics extensive adds gRPC handling-time histograms, which belong to the v3 API "
            "that pyetcd does not serve: /metrics is the same as with basic"
        )


def _bind_addresses(url: str) -> list[tuple[str, int]]:
    """`localhost` means both loopbacks, as Go's listener resolves it; IPs are used as given."""
    host, port = host_port(url)
    if host != "localhost":
        return [(host, port)]
    addresses = [("127.0.0.1", port)]
    if socket.has_ipv6:
        addresses.append(("::1", port))
    return addresses


class _Listener(NamedTuple):
    sock: socket.socket
    address: str
    secure: bool


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_client_urls(urls: tuple[str, ...]) -> list[_Listener]:
    """Bound and listening, but not yet accepted from: as etcd's listeners before ReadyNotify,
    connections queue in the kernel and their requests wait until the member is ready."""
    bound: list[_Listener] = []
    try:
        for url in urls:
            for index, (host, port) in enumerate(_bind_addresses(url)):
                try:
                    sock = _listen(host, port)
                except OSError as exc:
                    if index == 0:
                        raise ListenError(
                            f"cannot listen for client traffic on {url}: {exc}"
                        ) from exc
                    log.info("skipped %s for %s: that address is not available", host, url)
                    continue
                address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                bound.append(_Listener(sock, address, url.startswith("https://")))
    except BaseException:
        _close(bound)
        raise
    return bound


def _close(listeners: list[_Listener]) -> None:
    for listener in listeners:
        listener.sock.close()


async def _serve_clients(
    runner: web.BaseRunner, listeners: list[_Listener], tls: ssl.SSLContext | None
) -> None:
    embed = logging.getLogger("embed")
    for listener in listeners:
        ctx = tls if listener.secure else None
        await web.SockSite(runner, listener.sock, ssl_context=ctx).start()
        if listener.secure:
            embed.info("serving client requests on %s", listener.address)
        else:
            embed.info(
                "serving insecure client requests on %s, this is strongly discouraged!",
                listener.address,
            )


async def _serve_metrics(
    runner: web.BaseRunner, listeners: list[_Listener], tls: ssl.SSLContext | None
) -> None:
    """`--listen-metrics-urls`: served at once, before the member is ready, as etcd does; https
    ones with the client TLS material."""
    for listener in listeners:
        if listener.secure and tls is None:
            raise ListenError(
                f"cannot listen on TLS for {listener.address}: KeyFile and CertFile are not "
                "presented"
            )
    embed = logging.getLogger("embed")
    for listener in listeners:
        ctx = tls if listener.secure else None
        await web.SockSite(runner, listener.sock, ssl_context=ctx).start()
        scheme = "https" if listener.secure else "http"
        embed.info("listening for metrics on %s://%s", scheme, listener.address)


def _cert_common_name(request: web.Request) -> str | None:
    """The verified client certificate's CN: etcd's v2 auth user under --client-cert-auth."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


# Young-generation size before a collection: at CPython's 700 the allocations of a write or two
# set off a collection. Raising it gained 0.5-11% of PUT throughput on 3 members at 1 connection
# in three alternated A/Bs (8.5% over the longest) and 13% at 128 (bench/RESULTS.md).
GC_THRESHOLD = (20_000, 20, 20)


def _settle_gc() -> None:
    """Once booted, collect less often: reference counting still frees at once everything
    that is not in a cycle. (Not gc.freeze(): store nodes point at their parents, so a
    deleted directory or a store replaced by a snapshot is a cycle it would never free.)"""
    gc.set_threshold(*GC_THRESHOLD)


async def serve(config: Config) -> int:
    """Serve until SIGTERM or SIGINT (exit 0) or until the member stops on its own (exit 1:
    removed from the cluster, fatal WAL error), then close the listeners and end open watches."""
    _log_startup(config)
    tls = build_tls(TLSSettings.from_config(config))
    server = EtcdServer(
        config, peer_server_ssl=tls.peer_server_ssl, peer_client_ssl=tls.peer_client_ssl
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reload_task = asyncio.create_task(tls.run(), name="pyetcd-tls-reload")
    client_api = make_server(
        server,
        cors=config.cors,
        cert_user=_cert_common_name if config.client_cert_auth else None,
        enable_v2=config.enable_v2,
        host_whitelist=config.host_whitelist,
        access_log=None,
    )
    runner = web.ServerRunner(client_api, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    metrics_runner = web.ServerRunner(
        make_metrics_server(client_api, access_log=None), shutdown_timeout=SHUTDOWN_GRACE
    )
    await metrics_runner.setup()
    listeners: list[_Listener] = []
    metrics_listeners: list[_Listener] = []
    try:
        listeners = _bind_client_urls(config.listen_client_urls)
        metrics_listeners = _bind_client_urls(config.listen_metrics_urls)
        await _serve_metrics(metrics_runner, metrics_listeners, tls.client_ssl)
        await _first(server.wait_published(), stop.wait())
        if not stop.is_set() and not server.done.is_set():
            logging.getLogger("embed").info("ready to serve client requests")
            await _serve_clients(runner, listeners, tls.client_ssl)
            _settle_gc()
            notify_ready()
        await _first(stop.wait(), server.done.wait())
        if stop.is_set():
            log.info("received a stop signal, shutting down...")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(RuntimeError):
                loop.remove_signal_handler(signum)
        reload_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reload_task
        await server.stop()
        await runner.cleanup()
        await metrics_runner.cleanup()
        _close(listeners)
        _close(metrics_listeners)
    if server.stop_reason != STOPPED:
        log.critical("stopped: %s", server.stop_reason)
        return 1
    log.info("stopped")
    return 0


async def _first(*waits: Awaitable[object]) -> None:
    """Until the first of `waits` finishes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
