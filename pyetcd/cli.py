"""The `pyetcd` command: one member serving etcd's v2 API on its client URLs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import socket
import ssl
import stat
import sys
from collections.abc import Awaitable, Sequence
from typing import NamedTuple

import uvloop
from aiohttp import web

from http_api.app import make_metrics_server, make_server
from pyetcd import logs
from pyetcd.bootstrap import BootstrapError
from pyetcd.client_site import ClientSite, Refusal
from pyetcd.config import (
    ETCD_VERSION,
    PYETCD_VERSION,
    Config,
    LoggedConfigError,
    Version,
    _verify_error,
    help_text,
    load_config,
    version_text,
)
from pyetcd.discovery import bootstrap_config
from pyetcd.flags import ConfigError, HelpRequested
from pyetcd.notify import notify_ready
from pyetcd.proxy.run import is_proxy_dir, run_proxy
from pyetcd.server import STOPPED, EtcdServer
from pyetcd.srv import srv_bootstrap_config
from pyetcd.tlsconfig import TLSConfigError, TLSSettings, build_tls
from pyetcd.urls import host_port
from raft.aio.fs import OsFS
from raft.aio.listen_errors import bind_error_text
from raft.aio.recovery import missing_dirs, sync_parents
from tls import TLSMaterialError

log = logging.getLogger("etcdmain")

# On shutdown aiohttp gives in-flight requests this long to finish, then cancels them and waits
# as long again: long-polling watches never finish on their own, so this bounds a stop.
SHUTDOWN_GRACE = 0.25
# Connections a client listener queues before the member is ready (and between accepts).
LISTEN_BACKLOG = 128
DATA_DIR_MODE = 0o700


class ListenError(Exception):
    """A client URL could not be bound (address in use, not local, no permission)."""


def _fatal(message: str, exit_code: int) -> int:
    """One line: once logging is set up, in its format and to its outputs; before, on stderr,
    bare for command-line syntax (as Go's flag package prints it), else a capnslog line."""
    if logs.is_set_up():
        log.critical("%s", message)
    elif exit_code == 2:
        print(message, file=sys.stderr)
    else:
        record = logging.LogRecord("etcdmain", logging.CRITICAL, "", 0, message, None, None)
        print(logs.CapnslogFormatter().format(record), file=sys.stderr)
    return exit_code


def _report_flag_error(exc: LoggedConfigError) -> int:
    """As etcd, through the logger the logging flags describe (still one line: none of their
    startup notices); zap says "failed to verify flags" with the reason as `error`."""
    try:
        logs.setup(exc.logging, quiet=True)
    except ConfigError:
        return _fatal(exc.message, exc.exit_code)
    if exc.logging.logger == "zap":
        fields = {"error": exc.reason}
        log.warning("%s", exc.message, extra={"zap": "failed to verify flags", "fields": fields})
        return exc.exit_code
    return _fatal(exc.message, exc.exit_code)


def _raise_open_file_limit() -> None:
    """Go (1.19 on, so etcd 3.4.23's build) raises the soft RLIMIT_NOFILE to the hard one at
    start: a member then holds as many connections as etcd does (`file_descriptor_limit`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pyetcd` console script and of `python -m pyetcd`."""
    try:
        loaded = load_config(sys.argv[1:] if argv is None else argv, os.environ)
    except HelpRequested:
        sys.stdout.write(help_text())
        return 0
    except LoggedConfigError as exc:
        return _report_flag_error(exc)
    except ConfigError as exc:
        return _fatal(exc.message, exc.exit_code)
    if isinstance(loaded, Version):
        sys.stdout.write(version_text())
        return 0
    try:
        logs.setup(loaded.logging)
    except ConfigError as exc:
        return _fatal(_verify_error(exc.message).message, 1)
    _raise_open_file_limit()
    fs = OsFS()
    made = missing_dirs(fs, (loaded.data_dir,))
    try:
        os.makedirs(loaded.data_dir, mode=DATA_DIR_MODE, exist_ok=True)
        if not loaded.unsafe_no_fsync:
            sync_parents(fs, made)
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
            return runner.run(_start(loaded))
        except (TLSConfigError, TLSMaterialError) as exc:
            for problem in exc.problems:
                _fatal(problem, 1)
        except (ListenError, BootstrapError, OSError) as exc:
            _fatal(str(exc), 1)
    # A failed first start leaves no data dir: it wrote nothing into it (pyetcd.bootstrap).
    for path in made:
        with contextlib.suppress(OSError):
            os.rmdir(path)
    return 1


async def _start(config: Config) -> int:
    """A member or a proxy: `--proxy`, a data dir that holds a proxy's state (as etcd decides
    it), or a discovery token whose cluster is full."""
    config = await srv_bootstrap_config(await bootstrap_config(config))
    if config.proxy != "off" or is_proxy_dir(config.data_dir):
        return await run_proxy(config)
    return await serve(config)


def _log_startup(config: Config) -> None:
    log.info("pyetcd %s serving etcd %s's v2 API", PYETCD_VERSION, ETCD_VERSION)
    for warning in config.warnings:
        logging.getLogger("pkg/flags").warning("%s", warning)
    for name in config.inert:
        log.warning("--%s applies to the v3 API, which pyetcd does not serve", name)
    embed = logging.getLogger("embed")
    embed.info("name = %s", config.name)
    embed.info("data dir = %s", config.data_dir)
    embed.info("member dir = %s", os.path.join(config.data_dir, "member"))
    if config.wal_dir:
        embed.info("dedicated WAL dir = %s", config.wal_dir)
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
    plain: bool
    secure: bool


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket; OSError in Go's words (`listen tcp h:p: bind: ...`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, bind_error_text(host, port, exc)) from exc
    return sock


def _client_addresses(urls: tuple[str, ...]) -> dict[tuple[str, int], tuple[bool, bool, bool]]:
    """Each address to bind once: (plain, secure, required). As etcd, `http://h:P` and
    `https://h:P` share one socket; `localhost`'s second loopback is optional."""
    wanted: dict[tuple[str, int], tuple[bool, bool, bool]] = {}
    for url in urls:
        secure = url.startswith("https://")
        for index, address in enumerate(_bind_addresses(url)):
            plain_before, secure_before, required_before = wanted.get(address, (False,) * 3)
            wanted[address] = (
                plain_before or not secure,
                secure_before or secure,
                required_before or index == 0,
            )
    return wanted


def _bind_client_urls(urls: tuple[str, ...]) -> list[_Listener]:
    """Bound and listening, but not yet accepted from: as etcd's listeners before ReadyNotify,
    connections queue in the kernel and their requests wait until the member is ready."""
    bound: list[_Listener] = []
    try:
        for (host, port), (plain, secure, required) in _client_addresses(urls).items():
            try:
                sock = _listen(host, port)
            except OSError as exc:
                if required:
                    raise ListenError(exc.strerror) from exc
                log.info("skipped %s:%d: that address is not available", host, port)
                continue
            address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            bound.append(_Listener(sock, address, plain, secure))
    except BaseException:
        _close(bound)
        raise
    return bound


def _close(listeners: list[_Listener]) -> None:
    for listener in listeners:
        listener.sock.close()


async def _serve_clients(
    runner: web.BaseRunner,
    listeners: list[_Listener],
    tls: ssl.SSLContext | None,
    refusal: Refusal | None = None,
) -> None:
    """Serve each socket; `refusal` vets accepted TLS connections (CRL, allowed hostname)."""
    embed = logging.getLogger("embed")
    for listener in listeners:
        ctx = tls if listener.secure else None
        site = ClientSite(
            runner, listener.sock, listener.address, plain=listener.plain, tls=ctx, refusal=refusal
        )
        await site.start()
        if listener.plain:
            embed.info(
                "serving insecure client requests on %s, this is strongly discouraged!",
                listener.address,
            )
        if listener.secure:
            embed.info("serving client requests on %s", listener.address)


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
    """Collect less often, from before the boot (replaying a long log at start allocates as
    the writes did): reference counting still frees at once everything that is not in a
    cycle. (Not gc.freeze(): store nodes point at their parents, so a deleted directory or a
    store replaced by a snapshot is a cycle it would never free.)"""
    gc.set_threshold(*GC_THRESHOLD)


async def serve(config: Config) -> int:
    """Serve until SIGTERM or SIGINT (exit 0) or until the member stops on its own (exit 1:
    removed from the cluster, fatal WAL error), then close the listeners and end open watches."""
    _log_startup(config)
    _settle_gc()
    tls = build_tls(TLSSettings.from_config(config))
    server = EtcdServer(
        config,
        peer_server_ssl=tls.peer_server_ssl,
        peer_client_ssl=tls.peer_client_ssl,
        peer_accept_check=tls.peer_accept if tls.peer_server else None,
    )
    # Bound before the member starts, as etcd binds its listeners before it writes anything:
    # a busy port then leaves no data behind (pyetcd.bootstrap).
    listeners = _bind_client_urls(config.listen_client_urls)
    try:
        metrics_listeners = _bind_client_urls(config.listen_metrics_urls)
    except BaseException:
        _close(listeners)
        raise
    try:
        await server.start()
    except BaseException:
        _close(listeners)
        _close(metrics_listeners)
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    hand_offs: set[asyncio.Task[None]] = set()

    def hand_off() -> None:  # SIGUSR1: the BOSH drain, before a stop or a member remove
        task = asyncio.create_task(server.hand_off_leadership())
        hand_offs.add(task)
        task.add_done_callback(hand_offs.discard)

    loop.add_signal_handler(signal.SIGUSR1, hand_off)
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
    try:
        await _serve_metrics(metrics_runner, metrics_listeners, tls.client_ssl)
        await _first(server.wait_published(), stop.wait())
        if not stop.is_set() and not server.done.is_set():
            logging.getLogger("embed").info("ready to serve client requests")
            await _serve_clients(runner, listeners, tls.client_ssl, tls.client_refusal)
            notify_ready()
        await _first(stop.wait(), server.done.wait())
        if stop.is_set():
            log.info("received a stop signal, shutting down...")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
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
