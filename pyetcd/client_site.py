"""A client listener socket serving plain HTTP, TLS, or both on one port, as etcd does.

etcd 3.4.23 accepts `--listen-client-urls http://h:P,https://h:P`: it binds `h:P` once and sorts
each connection by what it sends first (cmux). Here a TLS connection is told apart by its first
byte, 0x16, the record type of a TLS handshake (an HTTP request starts with a method name);
the byte is peeked, not read, so either protocol sees the whole stream. Sorting costs a few
microseconds per connection and nothing per request; a plain-only port is served by the event
loop's own accept, and plain connections keep aiohttp's protocol with its fast lane either way.
TLS connections are accepted here so that a failed handshake is logged, as etcd logs it.

TLS connections pass a gate before the HTTP protocol sees them: checks the CA cannot make
(CRL serials, `--client-cert-allowed-hostname`) refuse a connection right after its handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from aiohttp import web

from pyetcd.tls_refusals import log_rejected
from tls.verify import handshake_error_text

log = logging.getLogger("embed")

TLS_HANDSHAKE = 0x16
# A connection that sends nothing for this long on a two-scheme port is dropped unsorted.
SNIFF_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 60.0
# Connections taken from the kernel per readiness callback, so one busy listener cannot keep
# the loop from everything else.
ACCEPT_BATCH = 64

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
Refusal = Callable[[asyncio.BaseTransport], str]


class _Gate(asyncio.Protocol):
    """Holds an accepted TLS connection until `refusal` passes it, then hands it to the HTTP
    protocol (which then sees a fresh connection). A refused connection is closed."""

    def __init__(self, factory: ProtocolFactory, refusal: Refusal) -> None:
        self._factory = factory
        self._refusal = refusal

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._refusal(transport):
            transport.close()
            return
        protocol = self._factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


class _Sorter:
    """Accepts on a socket with TLS and hands each connection to TLS or (when `plain` is
    given, by its first byte) to plain HTTP. A failed handshake is logged as etcd logs it."""

    def __init__(
        self,
        sock: socket.socket,
        plain: ProtocolFactory | None,
        secure: ProtocolFactory,
        tls: ssl.SSLContext,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._plain = plain
        self._secure = secure
        self._tls = tls
        self._unsorted: dict[socket.socket, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        for conn in list(self._unsorted):
            self._drop(conn)
        for task in self._tasks:
            task.cancel()

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, for one: try again later
                log.warning("accepting a client connection failed: %s", exc)
                return
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._plain is None:
                self._spawn(conn, addr, True)
                continue
            self._unsorted[conn] = self._loop.call_later(SNIFF_TIMEOUT, self._drop, conn)
            self._loop.add_reader(conn.fileno(), self._sort, conn, addr)

    def _release(self, conn: socket.socket) -> None:
        self._unsorted.pop(conn).cancel()
        self._loop.remove_reader(conn.fileno())

    def _drop(self, conn: socket.socket) -> None:
        self._release(conn)
        conn.close()

    def _sort(self, conn: socket.socket, addr: object) -> None:
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            first = b""
        if not first:
            self._drop(conn)
            return
        self._release(conn)
        self._spawn(conn, addr, first[0] == TLS_HANDSHAKE)

    def _spawn(self, conn: socket.socket, addr: object, secure: bool) -> None:
        task = self._loop.create_task(self._connect(conn, addr, secure))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, addr: object, secure: bool) -> None:
        """The transport owns the socket from here on, and closes it if this fails."""
        try:
            if not secure:
                assert self._plain is not None
                await self._loop.connect_accepted_socket(self._plain, conn)
                return
            await self._loop.connect_accepted_socket(
                self._secure, conn, ssl=self._tls, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            if secure:
                log_rejected(addr, handshake_error_text(exc), None)
            else:
                log.debug("client connection from %s failed: %s", addr, exc)


class ClientSite(web.BaseSite):
    """One bound client socket; `plain` and/or TLS (`tls` given) on it."""

    __slots__ = ("_address", "_plain", "_refusal", "_sock", "_sorter")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        address: str,
        *,
        plain: bool,
        tls: ssl.SSLContext | None,
        refusal: Refusal | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=tls, backlog=backlog)
        self._sock = sock
        self._address = address
        self._plain = plain
        self._refusal = refusal
        self._sorter: _Sorter | None = None

    @property
    def name(self) -> str:
        schemes = [s for s, on in (("http", self._plain), ("https", self._ssl_context)) if on]
        return ",".join(f"{scheme}://{self._address}" for scheme in schemes)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        http = self._runner.server
        assert http is not None
        tls = self._ssl_context
        if tls is None:
            self._server = await loop.create_server(http, sock=self._sock, backlog=self._backlog)
            return
        refusal = self._refusal
        secure: ProtocolFactory = (lambda: _Gate(http, refusal)) if refusal else http
        self._sorter = _Sorter(self._sock, http if self._plain else None, secure, tls)
        self._sorter.start()

    async def stop(self) -> None:
        if self._sorter is not None:
            self._sorter.close()
            self._sorter = None
        await super().stop()
