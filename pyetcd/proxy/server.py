"""etcd 3.4's v2 proxy (`--proxy on|readonly`): client requests forwarded to the cluster's
members, whose client URLs are refreshed from the member list every `--proxy-refresh-interval`.

Answers are etcd's proxy's byte for byte: the upstream's status, headers (less hop-by-hop
ones, plus the proxy's own CORS headers, sorted as Go writes them) and body. A body the
upstream streams (a watch) is forwarded as it arrives, where etcd's proxy would hold it in
its write buffer. HTTP is parsed with h11 so keep-alive and pipelining behave as specified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import h11

from pyetcd.proxy.director import Director
from pyetcd.proxy.gohttp import Headers, error_body, go_headers, reason
from pyetcd.proxy.peers import (
    Cluster,
    fetch_client_cluster,
    fetch_cluster,
    proxy_dir,
    read_cluster_file,
    write_cluster_file,
)

log = logging.getLogger("etcdmain")
plog = logging.getLogger("proxy/httpproxy")

SINGLE_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
CORS_HEADERS = "accept, content-type, authorization"
CORS_METHODS = "POST, GET, OPTIONS, PUT, DELETE"
CONFIG_PATH = "/v2/config/local/proxy"
MEMBERS_PATH = "/v2/members"
READ_CHUNK = 64 << 10
# Go's net/http frames a body with Content-Length when the handler ends before it has written
# this much; beyond it the body goes out chunked.
BUFFER_BEFORE_CHUNKING = 2048


@dataclass(frozen=True, slots=True)
class ProxySettings:
    readonly: bool
    data_dir: str
    listen_urls: tuple[str, ...]
    peer_urls: tuple[str, ...]
    failure_wait: float
    refresh_interval: float
    dial_timeout: float
    write_timeout: float
    read_timeout: float  # 0: none
    cors: tuple[str, ...]
    # pyetcd extensions (etcd-release's etcd_proxy job): learn the members from these client
    # URLs' /v2/members; answer /v2/members with one member "proxy" at this client URL.
    cluster_client_urls: tuple[str, ...] = ()
    members_answer: str = ""


def members_answer_body(client_url: str) -> bytes:
    """etcd-release's etcd-proxy answer: one member, the proxy itself, so a client that syncs
    its endpoints from /v2/members keeps sending to the proxy."""
    member = {"id": "xxxxxxxxxxxxxxxx", "name": "proxy", "clientURLs": [client_url]}
    return json.dumps({"members": [member]}, separators=(",", ":")).encode() + b"\n"


def _go_list(urls: Sequence[str]) -> str:
    """A string slice as Go's %v prints it."""
    return "[" + " ".join(urls) + "]"


def _user_timeout_socket(write_timeout: float):  # type: ignore[no-untyped-def]
    """Upstream sockets whose unacknowledged writes fail after the write timeout: the kernel's
    TCP_USER_TIMEOUT is the write deadline etcd's timeout transport sets per connection."""

    def factory(addr_info: tuple) -> socket.socket:  # type: ignore[type-arg]
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family, kind, proto)
        if write_timeout > 0 and hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(write_timeout * 1000))
        return sock

    return factory


class Proxy:
    def __init__(
        self,
        settings: ProxySettings,
        upstream_ssl: ssl.SSLContext | None,
        peer_ssl: ssl.SSLContext | None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.director = Director(settings.failure_wait, rng or random.Random())
        self._dir = proxy_dir(settings.data_dir)
        self._peer_urls: tuple[str, ...] = settings.peer_urls
        self._peer_ssl = peer_ssl
        self._upstream_ssl = upstream_ssl
        self._session: aiohttp.ClientSession | None = None
        self._announced = False

    async def open(self) -> None:
        """The cluster file (etcd's `<data-dir>/proxy/cluster`) wins over --initial-cluster."""
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        saved = read_cluster_file(self._dir)
        if self.settings.cluster_client_urls:
            log.info("proxy: using the member list of client urls %s",
                     _go_list(self.settings.cluster_client_urls))  # fmt: skip
        elif saved is not None:
            self._peer_urls = saved
            log.info("proxy: using peer urls %s from cluster file %r", _go_list(saved), self._dir)
        else:
            log.info("proxy: using peer urls %s ", _go_list(self._peer_urls))
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=128,  # etcd's DefaultMaxIdleConnsPerHost
            ssl=self._upstream_ssl if self._upstream_ssl is not None else True,
            socket_factory=_user_timeout_socket(self.settings.write_timeout),
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.dial_timeout or None,
            sock_read=self.settings.read_timeout or None,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=None
        )
        await self.refresh()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def refresh(self) -> None:
        """Ask the known peers (or, as etcd-release's proxy, the cluster's client URLs) for the
        member list; save its peer URLs; use its client URLs."""
        if self.settings.cluster_client_urls:
            assert self._session is not None
            cluster = await fetch_client_cluster(self._session, self.settings.cluster_client_urls)
        else:
            cluster = await self._refresh_peers()
        self.director.refresh(cluster.client_urls if cluster is not None else [])
        if cluster is not None and cluster.client_urls and not self._announced:
            self._announced = True
            plog.info("endpoints found %s", json.dumps(list(cluster.client_urls)))

    async def _refresh_peers(self) -> Cluster | None:
        cluster = await fetch_cluster(self._peer_urls, self._peer_ssl)
        if cluster is None:
            return None
        try:
            await asyncio.to_thread(write_cluster_file, self._dir, cluster.peer_urls)
        except OSError as exc:
            plog.warning("proxy: error on writing urls %s", exc)
        if list(cluster.peer_urls) != list(self._peer_urls):
            log.info("proxy: updated peer urls in cluster file from %s to %s",
                     _go_list(self._peer_urls), _go_list(cluster.peer_urls))  # fmt: skip
        self._peer_urls = cluster.peer_urls
        return cluster

    async def refresh_forever(self) -> None:
        while True:
            interval = self.director.next_refresh(self.settings.refresh_interval, time.monotonic())
            await asyncio.sleep(interval)
            await self.refresh()

    # -- one client connection ------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if isinstance(peer, tuple) else ""
        try:
            while True:
                request = await self._next(conn, reader)
                if request is None:
                    return
                body = bytearray()
                while True:
                    event = await self._next(conn, reader)
                    if event is None:
                        return
                    if isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                await self._answer(conn, writer, request, bytes(body), client_ip)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Event | None:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_CHUNK))
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            return event

    def _cors(self, request: h11.Request) -> Headers:
        origins = self.settings.cors
        if "*" in origins:
            origin = "*"
        else:
            sent = next((v.decode("latin-1") for k, v in request.headers if k == b"origin"), None)
            if sent is None or sent not in origins:
                return []
            origin = sent
        return [
            ("Access-Control-Allow-Headers", CORS_HEADERS),
            ("Access-Control-Allow-Methods", CORS_METHODS),
            ("Access-Control-Allow-Origin", origin),
        ]

    async def _answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        body: bytes,
        client_ip: str,
    ) -> None:
        method = request.method.decode("latin-1")
        target = request.target.decode("latin-1")
        if self.settings.readonly and method != "GET":
            await self._send(conn, writer, 501, [], b"")
            return
        cors = self._cors(request)
        if method == "OPTIONS":
            await self._send(conn, writer, 200, cors, b"")
            return
        if target.split("?", 1)[0] == CONFIG_PATH:
            await self._config(conn, writer, method, cors)
            return
        if self.settings.members_answer and method == "GET" and target == MEMBERS_PATH:
            body = members_answer_body(self.settings.members_answer)
            await self._send(conn, writer, 200, cors, body, "application/json")
            return
        now = time.monotonic()
        endpoints = self.director.available(now)
        if not endpoints:
            plog.info("zero endpoints currently available")
            await self._error(
                conn, writer, 503, "httpproxy: zero endpoints currently available", cors
            )
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw_items()
            if k.lower() not in SINGLE_HOP and k.lower() != b"x-forwarded-for"
        ]
        prior = [v.decode("latin-1") for k, v in request.headers if k == b"x-forwarded-for"]
        if client_ip:
            headers.append(("X-Forwarded-For", ", ".join([*prior, client_ip])))
        assert self._session is not None
        for url in endpoints:
            try:
                resp = await self._session.request(
                    method, url.rstrip("/") + target, headers=headers, data=body or None,
                    allow_redirects=False, skip_auto_headers=("User-Agent", "Content-Type"),
                )  # fmt: skip
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                plog.info("failed to direct request to %s: %s", url, exc)
                if self.director.failed(url, time.monotonic()):
                    plog.info("marked endpoint %s unavailable", url)
                continue
            try:
                await self._relay(conn, writer, resp, cors)
            finally:
                resp.release()
            return
        message = f"httpproxy: unable to get response from {len(endpoints)} endpoint(s)"
        plog.info("%s", message.removeprefix("httpproxy: "))
        await self._error(conn, writer, 502, message, cors)

    async def _relay(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        resp: aiohttp.ClientResponse,
        cors: Headers,
    ) -> None:
        upstream = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in resp.raw_headers
            if k.decode("latin-1").lower() not in SINGLE_HOP
        ]
        headers = go_headers(cors + upstream, time.time())
        if any(k.lower() == "content-length" for k, _ in headers):
            data = await resp.read()
            await self._write(conn, writer, h11.Response(status_code=resp.status,
                              headers=headers, reason=reason(resp.status)))  # fmt: skip
            await self._write(conn, writer, h11.Data(data=data))
            await self._write(conn, writer, h11.EndOfMessage())
            return
        # A streamed body: framed as Go frames it, Content-Length if it ends soon enough.
        first = b""
        ended = False
        while len(first) < BUFFER_BEFORE_CHUNKING:
            chunk = await resp.content.readany()
            if not chunk:
                ended = True
                break
            first += chunk
        if ended:
            headers = go_headers(cors + upstream, time.time(), content_length=len(first))
        else:
            headers = [*headers, ("Transfer-Encoding", "chunked")]
        await self._write(conn, writer, h11.Response(status_code=resp.status, headers=headers,
                          reason=reason(resp.status)))  # fmt: skip
        if first:
            await self._write(conn, writer, h11.Data(data=first))
        while not ended:
            chunk = await resp.content.readany()
            if not chunk:
                break
            await self._write(conn, writer, h11.Data(data=chunk))
        await self._write(conn, writer, h11.EndOfMessage())

    async def _config(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, method: str, cors: Headers
    ) -> None:
        if method != "GET":
            body = b"Method Not Allowed\n"
            await self._send(conn, writer, 405, [*cors, ("Allow", "GET"),
                             ("Content-Type", "text/plain; charset=utf-8"),
                             ("X-Content-Type-Options", "nosniff")], body)  # fmt: skip
            return
        endpoints = self.director.available(time.monotonic())
        body = json.dumps({"endpoints": endpoints}, separators=(",", ":")).encode() + b"\n"
        await self._send(conn, writer, 200, cors, body, "text/plain; charset=utf-8")

    async def _error(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        message: str,
        cors: Headers,
    ) -> None:
        headers = [*cors, ("Content-Type", "application/json")]
        await self._send(conn, writer, status, headers, error_body(message))

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        headers: Headers,
        body: bytes,
        content_type: str | None = None,
    ) -> None:
        items = go_headers(headers, time.time(), len(body), content_type)
        await self._write(conn, writer, h11.Response(status_code=status, headers=items,
                          reason=reason(status)))  # fmt: skip
        if body:
            await self._write(conn, writer, h11.Data(data=body))
        await self._write(conn, writer, h11.EndOfMessage())

    @staticmethod
    async def _write(conn: h11.Connection, writer: asyncio.StreamWriter, event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            writer.write(data)
            await writer.drain()


async def start_listeners(
    proxy: Proxy, binds: Sequence[tuple[str, int, ssl.SSLContext | None]]
) -> list[asyncio.Server]:
    servers = []
    try:
        for host, port, ctx in binds:
            servers.append(await asyncio.start_server(proxy.serve, host, port, ssl=ctx))
    except BaseException:
        for server in servers:
            server.close()
        raise
    return servers
