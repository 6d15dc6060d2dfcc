"""Peer transport: raft messages between members over TCP (optionally TLS), one stream per peer.

Every connection opens with a Hello naming the protocol version, cluster id, sender, recipient
and what the connection carries (a message stream, one snapshot, a joiner's info request, or a
status exchange for the split-brain detector); the listener answers Accept or Refuse. A dialer
refused for its protocol version offers the next older one (`peer_frames`), and the connection
then encodes raft messages in that version's layout, so adjacent builds interoperate. Each
member dials one outgoing stream per peer and receives on the streams its peers dial, so raft
messages flow one way per connection and the listener only writes Pongs back.

Loss is normal for raft, so the transport drops rather than blocks: a full queue or a peer that
is down drops the message and reports the peer unreachable, and the core retries. While a
stream is being dialled, messages wait for it in the (bounded) queue, so a proposal forwarded
just as a peer comes back is delivered, not lost; the dial failing drops them. A peer that
dials us is evidently up, so our own stream to it, if backing off, redials at once. Snapshots
go on their own short-lived connection so heartbeats never wait behind megabytes.

Latency is measured with transport-level Ping/Pong frames, one outstanding at a time, about once
a second on each outgoing stream: independent of raft traffic, so a follower's figures stay
fresh even when the leader is idle. Round trips are timed with `time.perf_counter` (uvloop's
loop clock ticks in whole milliseconds). A ping unanswered for `ping_timeout` closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from raft.aio.listen_errors import bind_error_text
from raft.aio.observe import PeerObserver
from raft.aio.peer_frames import (
    PROTO_VERSION,
    Accept,
    ConnKind,
    Hello,
    Info,
    Ping,
    Pong,
    Refuse,
    SnapshotReceived,
    Status,
    decode_peer_frame,
    encode_control,
    fallback_version,
    version_refusal,
)
from raft.codec import DEFAULT_MAX_FRAME_SIZE, BadFrame, FrameDecoder, encode_frame
from raft.messages import InstallSnapshot, Message

log = logging.getLogger(__name__)

ClientSSL = Callable[[], ssl.SSLContext | None]
MessageHandler = Callable[[Message], None]
# Whether an accepted connection may go on (TLS checks beyond the CA); it logs its refusals.
AcceptCheck = Callable[[asyncio.BaseTransport], Awaitable[bool]]
# Given the dialer's Status, this member's own (the listener side of a status exchange).
StatusHandler = Callable[[Status], Status]

DEFAULT_QUEUE_SIZE = 4096
HELLO_MAX_FRAME = 4096
READ_CHUNK = 256 << 10
BATCH_BYTES = 256 << 10
HIGH_WATER = 1 << 20

_DIALING = "dialing"
_UP = "up"
_DOWN = "down"

_CONN_ERRORS = (OSError, TimeoutError, EOFError)


# What msgpack raises for a value it cannot encode (an int beyond 64 bits, a wrong type).
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError)


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _encode(msg: Message, version: int) -> bytes | None:
    """The message's frame in `version`'s layout, or None (logged) for a message the codec
    cannot carry."""
    try:
        return encode_frame(msg, version)
    except _ENCODE_ERRORS as exc:
        log.error("peer: dropping unencodable %s to %x: %s", type(msg).__name__, msg.to, exc)
        return None


class PeerURLError(ValueError):
    """A peer URL the transport cannot use."""


class PeerRefused(ConnectionError):
    """The remote listener refused our Hello; `reason` is its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PeerProtocolError(ConnectionError):
    """The remote end answered with something the protocol does not allow there."""


@dataclass(frozen=True, slots=True)
class PeerAddress:
    url: str
    scheme: str
    host: str
    port: int


def parse_peer_url(url: str) -> PeerAddress:
    """`http://host:port` or `https://host:port`; the port is required, as in etcd."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise PeerURLError(f"peer URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise PeerURLError(f"peer URL {url!r}: scheme must be http or https")
    if not parts.hostname or port is None:
        raise PeerURLError(f"peer URL {url!r}: needs a host and a port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PeerURLError(f"peer URL {url!r}: must not have a path, query or fragment")
    return PeerAddress(url, parts.scheme, parts.hostname, port)


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Ping round trips in milliseconds (zeros before the first sample)."""

    current: float = 0.0
    average: float = 0.0
    stddev: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0
    samples: int = 0


class _Latency:
    """Welford's running mean and variance, so no sample history is kept."""

    __slots__ = ("count", "current", "maximum", "mean", "minimum", "sq")

    def __init__(self) -> None:
        self.count = 0
        self.current = self.mean = self.sq = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def add(self, ms: float) -> None:
        self.count += 1
        self.current = ms
        delta = ms - self.mean
        self.mean += delta / self.count
        self.sq += delta * (ms - self.mean)
        self.minimum = min(self.minimum, ms)
        self.maximum = max(self.maximum, ms)

    def snapshot(self) -> LatencyStats:
        if not self.count:
            return LatencyStats()
        stddev = math.sqrt(self.sq / self.count)
        return LatencyStats(self.current, self.mean, stddev, self.minimum, self.maximum, self.count)


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One peer as seen by this member's dialer: `sent` counts messages written to the
    stream, `failed` every message dropped once the stream had first come up (of which
    `queue_drops` for a full queue). Drops before the first connection are not failures: at
    boot a peer is simply not there yet."""

    peer_id: int
    connected: bool
    sent: int
    failed: int
    queue_drops: int
    queued: int
    latency: LatencyStats


@dataclass(slots=True)
class TransportCounters:
    """Transport-wide totals; the listener-side ones count remote misbehaviour."""

    sent: int = 0
    failed: int = 0
    queue_drops: int = 0
    unknown_peer: int = 0
    received: int = 0
    accepted_connections: int = 0
    malformed_frames: int = 0
    refused_hellos: int = 0
    frm_mismatch: int = 0
    misrouted: int = 0
    snapshots_sent: int = 0
    snapshots_failed: int = 0
    snapshots_received: int = 0


class _Conn:
    """One connection with its frame decoder and the protocol version it speaks."""

    __slots__ = ("decoder", "reader", "version", "writer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame_size: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(max_frame_size, decode_peer_frame)
        self.version = PROTO_VERSION

    def speak(self, version: int) -> None:
        """Use `version`'s wire layout from the next frame on."""
        self.version = version
        if version != PROTO_VERSION:
            self.decoder.decode = partial(decode_peer_frame, version=version)

    async def read_frame(self) -> Any:
        """The next decoded frame or BadFrame; EOFError at end of stream (or mid-frame)."""
        decoder = self.decoder
        while True:
            event = decoder.next_event()
            if event is not None:
                return event
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise EOFError("truncated frame" if decoder.buffered else "connection closed")
            decoder.receive_data(data)

    def close(self) -> None:
        self.writer.close()


async def _dial(
    url: str,
    client_ssl: ClientSSL | None,
    hello: Hello,
    timeout: float,
    max_frame_size: int,
    then: bytes = b"",
) -> tuple[_Conn, Any]:
    """Connect, send `hello` (and `then` right behind it) and return the connection, speaking
    the version the listener took, with its answer. Refused for its version, the Hello is
    offered again with the next older one."""
    while True:
        try:
            conn, reply = await _dial_once(url, client_ssl, hello, timeout, max_frame_size, then)
        except PeerRefused as exc:
            older = fallback_version(hello.proto_version, exc.reason)
            if older is None:
                raise
            log.debug("peer: %s refused protocol %d; offering %d", url, hello.proto_version, older)
            hello = replace(hello, proto_version=older)
            continue
        conn.speak(hello.proto_version)
        return conn, reply


async def _dial_once(
    url: str,
    client_ssl: ClientSSL | None,
    hello: Hello,
    timeout: float,
    max_frame_size: int,
    then: bytes,
) -> tuple[_Conn, Any]:
    address = parse_peer_url(url)
    ctx = None
    if address.scheme == "https":
        ctx = client_ssl() if client_ssl else None
        if ctx is None:
            raise PeerURLError(f"peer URL {url}: https but no client TLS configured")
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            address.host, address.port, ssl=ctx, server_hostname=address.host if ctx else None
        )
        conn = _Conn(reader, writer, max_frame_size)
        try:
            writer.write(encode_control(hello) + then)
            reply = await conn.read_frame()
        except BaseException:
            conn.close()
            raise
    if type(reply) is Refuse:
        conn.close()
        raise PeerRefused(reply.reason)
    if isinstance(reply, BadFrame):
        conn.close()
        raise PeerProtocolError(f"bad handshake reply: {reply.reason}")
    return conn, reply


async def fetch_info(
    peer_url: str,
    cluster_id: int | None,
    client_ssl: ClientSSL | None = None,
    timeout: float = 5.0,
    version: int = PROTO_VERSION,
) -> bytes:
    """The bytes a member's `info_handler` returns, fetched over its peer URL.

    For joiners that know only a peer URL; `cluster_id` None skips the cluster check. `version`
    is the protocol version offered first (an older one spares a peer known to be older the
    refusal). Raises PeerRefused, PeerProtocolError, PeerURLError, OSError (including
    ssl.SSLError), TimeoutError or EOFError.
    """
    hello = Hello(version, cluster_id, 0, 0, ConnKind.INFO)
    conn, reply = await _dial(peer_url, client_ssl, hello, timeout, DEFAULT_MAX_FRAME_SIZE)
    conn.close()
    if type(reply) is not Info:
        raise PeerProtocolError(f"expected Info from {peer_url}, got {type(reply).__name__}")
    return reply.data


async def exchange_status(
    peer_url: str, mine: Status, client_ssl: ClientSSL | None = None, timeout: float = 5.0
) -> Status:
    """Tell the member at `peer_url` who we are and whom we follow; returns its own Status.

    Answered whatever cluster either side belongs to. Raises like `fetch_info`; a build
    without status exchanges closes the connection (EOFError).
    """
    hello = Hello(PROTO_VERSION, mine.cluster_id, mine.member_id, 0, ConnKind.STATUS)
    then = encode_control(mine)
    conn, reply = await _dial(peer_url, client_ssl, hello, timeout, HELLO_MAX_FRAME, then)
    conn.close()
    if type(reply) is not Status:
        raise PeerProtocolError(f"expected Status from {peer_url}, got {type(reply).__name__}")
    return reply


class _Peer:
    """Dialer-side state of one peer: its queue, writer task and figures."""

    __slots__ = (
        "conn",
        "failed",
        "healthy",
        "id",
        "latency",
        "ping_sent",
        "ping_seq",
        "queue",
        "queue_drops",
        "redial",
        "sent",
        "state",
        "task",
        "url",
        "url_index",
        "urls",
        "wake",
        "was_up",
    )

    def __init__(self, peer_id: int, urls: tuple[str, ...]) -> None:
        self.id = peer_id
        self.urls = urls
        self.url_index = 0
        self.url = ""
        self.queue: deque[Message] = deque()
        self.wake = asyncio.Event()
        self.redial = asyncio.Event()
        self.state = _DIALING
        self.was_up = False
        self.healthy: bool | None = None
        self.conn: _Conn | None = None
        self.task: asyncio.Task[None] | None = None
        self.sent = self.failed = self.queue_drops = 0
        self.latency = _Latency()
        self.ping_seq = 0
        self.ping_sent: float | None = None

    def next_url(self) -> str:
        self.url = self.urls[self.url_index % len(self.urls)]
        self.url_index += 1
        return self.url


class _StreamSink(asyncio.Protocol):
    """The protocol of an inbound stream once its handshake is done."""

    def __init__(self, transport: asyncio.BaseTransport, receive: Callable[[bytes], bool]) -> None:
        self._transport = transport
        self._receive = receive
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failed = False

    def data_received(self, data: bytes) -> None:
        if not self.failed and not self._receive(data):
            self.failed = True
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _ready_writer(peer: _Peer) -> asyncio.StreamWriter | None:
    """The writer of the peer's stream if it is up and takes more without waiting."""
    conn = peer.conn
    if peer.state != _UP or conn is None:
        return None
    transport = conn.writer.transport
    if transport.is_closing() or transport.get_write_buffer_size() > HIGH_WATER:
        return None
    return conn.writer


def _hex(value: int | None) -> str:
    return "none" if value is None else f"{value:x}"


class PeerTransport:
    """Carries raft messages to and from the other members; see the module docstring.

    Callbacks run in the event loop and must not block; exceptions they raise are logged and
    swallowed. `set_peers` and `send` must be called from the loop's thread.
    """

    def __init__(
        self,
        member_id: int,
        cluster_id: int,
        on_message: MessageHandler,
        on_unreachable: Callable[[int], None],
        on_snapshot_status: Callable[[int, bool], None],
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ClientSSL | None = None,
        info_handler: Callable[[], bytes] | None = None,
        status_handler: StatusHandler | None = None,
        *,
        accept_check: AcceptCheck | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        backoff: tuple[float, float] = (0.05, 1.0),
        ping_interval: float = 1.0,
        ping_timeout: float = 10.0,
        dial_timeout: float = 5.0,
        hello_timeout: float = 5.0,
        snapshot_timeout: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.member_id = member_id
        self.cluster_id = cluster_id
        self._on_message = on_message
        self._on_unreachable = on_unreachable
        self._on_snapshot_status = on_snapshot_status
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._info_handler = info_handler
        self._accept_check = accept_check
        self._status_handler = status_handler
        self.queue_size = queue_size
        self.max_frame_size = max_frame_size
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.dial_timeout = dial_timeout
        self.hello_timeout = hello_timeout
        self.snapshot_timeout = snapshot_timeout
        self._rng = rng or random.Random()
        self.counters = TransportCounters()
        self.observer: PeerObserver | None = None
        self.bound_urls: list[str] = []
        self._servers: list[asyncio.Server] = []
        self._peers: dict[int, _Peer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inbound: dict[asyncio.Task[Any], _Conn] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, listen_urls: Sequence[str]) -> None:
        """Bind every listen URL (port 0 picks a free port; see `bound_urls`)."""
        addresses = [parse_peer_url(url) for url in listen_urls]
        for address in addresses:
            if address.scheme == "https" and self._server_ssl is None:
                raise PeerURLError(f"listen URL {address.url}: https needs server TLS material")
        try:
            for address in addresses:
                ctx = self._server_ssl if address.scheme == "https" else None
                try:
                    server = await asyncio.start_server(
                        self._accept, address.host, address.port, ssl=ctx
                    )
                except OSError as exc:
                    raise OSError(bind_error_text(address.host, address.port, exc)) from exc
                self._servers.append(server)
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    self.bound_urls.append(f"{address.scheme}://{shown}:{port}")
        except BaseException:
            await self._close_servers()
            raise
        log.info("peer: member %x listening on %s", self.member_id, ", ".join(self.bound_urls))

    async def stop(self) -> None:
        """Close listeners, streams and snapshot sends; queued messages are discarded."""
        self._closed = True
        for server in self._servers:
            server.close()
        tasks = list(self._tasks)
        self._peers.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Inbound handlers belong to the streams machinery, which logs their cancellation as
        # an error; closing their connections lets them finish on their own instead.
        for conn in self._inbound.values():
            conn.close()
        if self._inbound:
            await asyncio.wait(list(self._inbound), timeout=self.hello_timeout)
        await self._close_servers()

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            await server.wait_closed()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- membership --------------------------------------------------------------------------

    def set_peers(self, peers: Mapping[int, Sequence[str]]) -> None:
        """Make the peer set exactly `peers` (this member's own id is ignored)."""
        wanted: dict[int, tuple[str, ...]] = {}
        for peer_id, urls in peers.items():
            if peer_id == self.member_id:
                continue
            if not urls:
                raise PeerURLError(f"peer {peer_id:x} has no peer URLs")
            for url in urls:
                parse_peer_url(url)
            wanted[peer_id] = tuple(urls)
        if self._closed:
            return
        for peer_id in [p for p in self._peers if p not in wanted]:
            peer = self._peers.pop(peer_id)
            if peer.task:
                peer.task.cancel()
        for peer_id, urls in wanted.items():
            peer = self._peers.get(peer_id)
            if peer is None:
                peer = self._peers[peer_id] = _Peer(peer_id, urls)
                peer.task = self._spawn(self._run_peer(peer))
            elif peer.urls != urls:
                peer.urls = urls
                if peer.conn is not None and peer.url not in urls:
                    peer.conn.close()

    # -- sending -----------------------------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> None:
        """Queue messages by recipient; never blocks or raises. Drops are reported once per
        peer per call through `on_unreachable`."""
        unreachable: set[int] = set()
        counters = self.counters
        direct: dict[_Peer, tuple[asyncio.StreamWriter, list[bytes]]] = {}
        for msg in messages:
            peer = self._peers.get(msg.to)
            if peer is None:
                counters.unknown_peer += 1
                continue
            if type(msg) is InstallSnapshot:
                self._spawn(self._send_snapshot(peer, msg))
                continue
            # A pending redial means the peer has just dialled us: hold the message for it.
            down = peer.state == _DOWN and not peer.redial.is_set()
            if down or len(peer.queue) >= self.queue_size:
                if peer.was_up:
                    if not down:
                        peer.queue_drops += 1
                        counters.queue_drops += 1
                    peer.failed += 1
                    counters.failed += 1
                unreachable.add(peer.id)
                continue
            writer = None if peer.queue else _ready_writer(peer)
            if writer is not None:
                frame = _encode(msg, peer.conn.version)  # type: ignore[union-attr]
                if frame is None:
                    peer.failed += 1
                    counters.failed += 1
                else:
                    direct.setdefault(peer, (writer, []))[1].append(frame)
                continue
            peer.queue.append(msg)
            peer.wake.set()
        for peer, (writer, frames) in direct.items():
            # Written at once rather than by the pump: a loop iteration less on every hop of
            # a write's round trip. The pump still owns the queue whenever one builds up.
            data = b"".join(frames)
            writer.write(data)
            peer.sent += len(frames)
            counters.sent += len(frames)
            if self.observer is not None:
                self.observer.peer_sent(peer.id, len(data))
        for peer_id in unreachable:
            self._report_unreachable(peer_id)

    def _report_unreachable(self, peer_id: int) -> None:
        try:
            self._on_unreachable(peer_id)
        except Exception:
            log.exception("peer: on_unreachable(%x) failed", peer_id)

    def _backoff(self, attempt: int) -> float:
        low, high = self.backoff
        base = min(high, low * 2 ** min(attempt, 30))
        return base * (0.5 + 0.5 * self._rng.random())

    async def _run_peer(self, peer: _Peer) -> None:
        """Dial, pump the queue until the stream breaks, back off, repeat."""
        attempt = 0
        try:
            while True:
                peer.state = _DIALING
                peer.redial.clear()
                url = peer.next_url()
                hello = Hello(
                    PROTO_VERSION, self.cluster_id, self.member_id, peer.id, ConnKind.STREAM
                )
                try:
                    conn, reply = await _dial(
                        url, self._client_ssl, hello, self.dial_timeout, self.max_frame_size
                    )
                except (*_CONN_ERRORS, PeerURLError) as exc:
                    self._peer_down(peer, f"dial {url}: {_why(exc)}")
                    attempt = await self._back_off(peer, attempt)
                    continue
                peer.conn = conn
                try:
                    if type(reply) is not Accept:
                        raise PeerProtocolError(f"expected Accept, got {type(reply).__name__}")
                    attempt = 0
                    peer.state = _UP
                    peer.was_up = True
                    if peer.healthy is not True:
                        log.info(
                            "peer: member %x connected to %x at %s (protocol %d)",
                            self.member_id,
                            peer.id,
                            url,
                            conn.version,
                        )
                    peer.healthy = True
                    reason = await self._pump(peer, conn)
                except _CONN_ERRORS as exc:
                    reason = _why(exc)
                except Exception as exc:
                    # Whatever it was, this peer's task must live on and redial: a dead task
                    # would cut the peer off for good, silently.
                    log.exception("peer: stream to %x failed unexpectedly", peer.id)
                    reason = f"unexpected error: {exc!r}"
                finally:
                    peer.conn = None
                    conn.close()
                self._peer_down(peer, f"stream to {url}: {reason}")
                attempt = await self._back_off(peer, attempt)
        finally:
            peer.state = _DOWN
            peer.queue.clear()

    async def _back_off(self, peer: _Peer, attempt: int) -> int:
        """Wait before redialling; returns the next attempt number, 0 when cut short because
        the peer dialled us (it is up, so waiting longer only loses messages)."""
        try:
            async with asyncio.timeout(self._backoff(attempt)):
                await peer.redial.wait()
        except TimeoutError:
            return attempt + 1
        return 0

    def _peer_down(self, peer: _Peer, reason: str) -> None:
        """Mark the peer down, drop what it had queued and tell raft it is unreachable."""
        if peer.state == _UP and self.observer is not None:
            self.observer.peer_disconnected(peer.id)
        peer.state = _DOWN
        peer.ping_sent = None
        dropped = len(peer.queue) if peer.was_up else 0
        peer.queue.clear()
        peer.failed += dropped
        self.counters.failed += dropped
        if peer.healthy:
            log.warning("peer: %x unreachable from %x: %s", peer.id, self.member_id, reason)
        elif peer.healthy is None:
            log.info("peer: %x not reachable yet from %x: %s", peer.id, self.member_id, reason)
        else:
            log.debug("peer: %x still unreachable: %s", peer.id, reason)
        peer.healthy = False
        self._report_unreachable(peer.id)

    async def _pump(self, peer: _Peer, conn: _Conn) -> str:
        """Write queued messages in coalesced batches and ping; returns why the stream ended."""
        loop = asyncio.get_running_loop()
        writer = conn.writer
        transport = writer.transport
        queue = peer.queue
        counters = self.counters
        version = conn.version
        replies = asyncio.ensure_future(self._read_replies(peer, conn))
        next_ping = loop.time()
        try:
            while True:
                if replies.done():
                    return replies.result()
                if transport.is_closing():
                    # Lost before the reply reader noticed: uvloop would refuse the write.
                    return "connection closed"
                now = loop.time()
                if now >= next_ping:
                    if peer.ping_sent is not None:
                        if time.perf_counter() - peer.ping_sent > self.ping_timeout:
                            return f"no pong for {self.ping_timeout:g}s"
                    else:
                        peer.ping_seq += 1
                        peer.ping_sent = time.perf_counter()
                        writer.write(encode_control(Ping(peer.ping_seq)))
                    next_ping = now + self.ping_interval
                if not queue:
                    peer.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(next_ping - now):
                            await peer.wake.wait()
                    continue
                frames: list[bytes] = []
                size = 0
                while queue and size < BATCH_BYTES:
                    frame = _encode(queue.popleft(), version)
                    if frame is None:
                        peer.failed += 1
                        counters.failed += 1
                        continue
                    frames.append(frame)
                    size += len(frame)
                data = b"".join(frames)
                writer.write(data)
                peer.sent += len(frames)
                counters.sent += len(frames)
                if self.observer is not None:
                    self.observer.peer_sent(peer.id, len(data))
                if transport.get_write_buffer_size() > HIGH_WATER:
                    async with asyncio.timeout(self.ping_timeout):
                        await writer.drain()
        finally:
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replies

    async def _read_replies(self, peer: _Peer, conn: _Conn) -> str:
        """Pongs coming back on an outgoing stream; returns why the stream ended."""
        try:
            while True:
                frame = await conn.read_frame()
                if type(frame) is not Pong:
                    name = getattr(frame, "reason", None) or type(frame).__name__
                    return f"unexpected reply from peer: {name}"
                if frame.seq == peer.ping_seq and peer.ping_sent is not None:
                    seconds = time.perf_counter() - peer.ping_sent
                    peer.latency.add(seconds * 1000.0)
                    if self.observer is not None:
                        self.observer.peer_round_trip(peer.id, seconds)
                    peer.ping_sent = None
        except _CONN_ERRORS as exc:
            return _why(exc)
        finally:
            peer.wake.set()

    async def _send_snapshot(self, peer: _Peer, msg: InstallSnapshot) -> None:
        """One connection, one InstallSnapshot, one SnapshotReceived; then report."""
        url = peer.url or peer.urls[0]
        hello = Hello(PROTO_VERSION, self.cluster_id, self.member_id, peer.id, ConnKind.SNAPSHOT)
        ok = False
        try:
            async with asyncio.timeout(self.snapshot_timeout):
                conn, reply = await _dial(
                    url, self._client_ssl, hello, self.dial_timeout, self.max_frame_size
                )
                try:
                    if type(reply) is not Accept:
                        raise PeerProtocolError(f"expected Accept, got {type(reply).__name__}")
                    frame = _encode(msg, conn.version)
                    if frame is None:
                        raise PeerProtocolError("snapshot cannot be encoded")
                    conn.writer.write(frame)
                    await conn.writer.drain()
                    ok = type(await conn.read_frame()) is SnapshotReceived
                finally:
                    conn.close()
        except (*_CONN_ERRORS, PeerURLError) as exc:
            log.warning("peer: snapshot to %x at %s failed: %s", peer.id, url, _why(exc))
        except Exception:
            # Raft must hear the outcome whatever happened, or the follower waits for good.
            log.exception("peer: snapshot to %x at %s failed unexpectedly", peer.id, url)
        if ok:
            self.counters.snapshots_sent += 1
        else:
            self.counters.snapshots_failed += 1
        try:
            self._on_snapshot_status(peer.id, ok)
        except Exception:
            log.exception("peer: on_snapshot_status(%x) failed", peer.id)

    # -- receiving ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(reader, writer, HELLO_MAX_FRAME)
        if self._closed:
            conn.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._inbound[task] = conn
        self.counters.accepted_connections += 1
        try:
            if self._accept_check is not None and not await self._accept_check(writer.transport):
                return
            await self._serve(conn)
        except _CONN_ERRORS as exc:
            log.debug("peer: inbound connection ended: %s", _why(exc))
        finally:
            conn.close()
            del self._inbound[task]

    def _malformed(self, conn: _Conn, remote: int | None, reason: str) -> None:
        self.counters.malformed_frames += 1
        if remote is not None and self.observer is not None:
            self.observer.peer_receive_failed(remote)
        peername = conn.writer.get_extra_info("peername")
        log.warning(
            "peer: closing connection from %s (member %s): %s", peername, _hex(remote), reason
        )

    async def _serve(self, conn: _Conn) -> None:
        try:
            async with asyncio.timeout(self.hello_timeout):
                hello = await conn.read_frame()
        except TimeoutError:
            self._malformed(conn, None, f"no Hello within {self.hello_timeout:g}s")
            return
        except EOFError as exc:
            if conn.decoder.buffered:
                self._malformed(conn, None, str(exc))
            return
        if type(hello) is not Hello:
            reason = hello.reason if isinstance(hello, BadFrame) else type(hello).__name__
            self._malformed(conn, None, f"expected a Hello: {reason}")
            return
        refusal = self._check_hello(hello)
        if refusal:
            self.counters.refused_hellos += 1
            log.warning(
                "peer: refused %s connection from member %s (its cluster %s, ours %x, to %s): %s",
                hello.kind.name.lower(),
                _hex(hello.from_id),
                _hex(hello.cluster_id),
                self.cluster_id,
                _hex(hello.to_id),
                refusal,
            )
            conn.writer.write(encode_control(Refuse(refusal)))
            await conn.writer.drain()
            return
        conn.speak(hello.proto_version)
        if hello.kind is ConnKind.INFO and self._info_handler is not None:
            await self._serve_info(conn, self._info_handler)
            return
        if hello.kind is ConnKind.STATUS and self._status_handler is not None:
            await self._serve_status(conn, hello, self._status_handler)
            return
        conn.decoder.max_frame_size = self.max_frame_size
        conn.writer.write(encode_control(Accept()))
        peer = self._peers.get(hello.from_id)
        if peer is not None and peer.state != _UP:
            peer.redial.set()
        if hello.kind is ConnKind.SNAPSHOT:
            await self._observed_snapshot(conn, hello)
        else:
            await self._serve_stream(conn, hello)

    def _check_hello(self, hello: Hello) -> str:
        """Why this Hello is refused, or "" to accept it."""
        refusal = version_refusal(hello.proto_version)
        if refusal:
            return refusal
        if hello.kind is ConnKind.STATUS:
            return "" if self._status_handler else "no status available here"
        if hello.kind is ConnKind.INFO:
            if hello.cluster_id is not None and hello.cluster_id != self.cluster_id:
                return "cluster id mismatch"
            if hello.to_id not in (0, self.member_id):
                return f"addressed to member {hello.to_id:x}, this is {self.member_id:x}"
            return "" if self._info_handler else "no cluster information available here"
        if hello.cluster_id != self.cluster_id:
            return "cluster id mismatch"
        if hello.to_id != self.member_id:
            return f"addressed to member {hello.to_id:x}, this is {self.member_id:x}"
        return ""

    def _deliver(self, msg: Message) -> None:
        self.counters.received += 1
        try:
            self._on_message(msg)
        except Exception:
            log.exception("peer: on_message failed for %s", type(msg).__name__)

    async def _serve_stream(self, conn: _Conn, hello: Hello) -> None:
        """Deliver the peer's messages from the socket's own callback: no reader task wakes
        between a frame's arrival and raft. The dialer sends nothing after its Hello until our
        Accept, which has just been written, so no byte is left in the stream reader."""
        decoder = conn.decoder
        writer = conn.writer
        transport = writer.transport
        counters = self.counters
        remote = hello.from_id
        me = self.member_id

        def receive(data: bytes) -> bool:
            """False once the stream must end (the reason is logged and counted)."""
            if data:
                decoder.receive_data(data)
                if self.observer is not None:
                    self.observer.peer_received(remote, len(data))
            for event in decoder:
                if isinstance(event, Message):
                    if event.frm != remote:
                        counters.frm_mismatch += 1
                    elif event.to != me:
                        counters.misrouted += 1
                    else:
                        self._deliver(event)
                elif type(event) is Ping:
                    writer.write(encode_control(Pong(event.seq)))
                    if transport.get_write_buffer_size() > HIGH_WATER:
                        self._malformed(conn, remote, "pings flood in but pongs are not read")
                        return False
                else:
                    reason = event.reason if isinstance(event, BadFrame) else type(event).__name__
                    self._malformed(conn, remote, f"bad frame on stream: {reason}")
                    return False
            return True

        if not receive(b""):
            return
        sink = _StreamSink(transport, receive)
        transport.set_protocol(sink)
        await sink.closed
        if not sink.failed and decoder.buffered:
            self._malformed(conn, remote, "truncated frame")

    async def _observed_snapshot(self, conn: _Conn, hello: Hello) -> None:
        """`_serve_snapshot`, timed and counted for the observer."""
        observer = self.observer
        if observer is None:
            await self._serve_snapshot(conn, hello)
            return
        received = self.counters.snapshots_received
        started = time.perf_counter()
        observer.snapshot_receive_started(hello.from_id)
        try:
            await self._serve_snapshot(conn, hello)
        finally:
            ok = self.counters.snapshots_received > received
            observer.snapshot_receive_ended(hello.from_id, ok, time.perf_counter() - started)

    async def _serve_snapshot(self, conn: _Conn, hello: Hello) -> None:
        try:
            async with asyncio.timeout(self.snapshot_timeout):
                frame = await conn.read_frame()
        except EOFError as exc:
            if conn.decoder.buffered:
                self._malformed(conn, hello.from_id, f"snapshot: {exc}")
            return
        if type(frame) is not InstallSnapshot:
            reason = frame.reason if isinstance(frame, BadFrame) else type(frame).__name__
            self._malformed(conn, hello.from_id, f"expected InstallSnapshot: {reason}")
            return
        if frame.frm != hello.from_id:
            self.counters.frm_mismatch += 1
            return
        if frame.to != self.member_id:
            self.counters.misrouted += 1
            return
        self.counters.snapshots_received += 1
        self._deliver(frame)
        conn.writer.write(encode_control(SnapshotReceived()))
        await conn.writer.drain()

    async def _serve_info(self, conn: _Conn, handler: Callable[[], bytes]) -> None:
        try:
            data = handler()
        except Exception:
            log.exception("peer: info handler failed")
            conn.writer.write(encode_control(Refuse("cluster information unavailable")))
        else:
            conn.writer.write(encode_control(Info(data)))
        await conn.writer.drain()

    async def _serve_status(self, conn: _Conn, hello: Hello, handler: StatusHandler) -> None:
        """Read the dialer's Status (sent right behind its Hello), answer with ours."""
        try:
            async with asyncio.timeout(self.hello_timeout):
                theirs = await conn.read_frame()
        except TimeoutError:
            self._malformed(conn, hello.from_id, "no Status after a status Hello")
            return
        if type(theirs) is not Status or theirs.member_id != hello.from_id:
            reason = getattr(theirs, "reason", None) or type(theirs).__name__
            self._malformed(conn, hello.from_id, f"expected the dialer's Status: {reason}")
            return
        try:
            mine = handler(theirs)
        except Exception:
            log.exception("peer: status handler failed")
            conn.writer.write(encode_control(Refuse("status unavailable")))
        else:
            conn.writer.write(encode_control(mine))
        await conn.writer.drain()

    # -- figures -----------------------------------------------------------------------------

    def stats(self, peer_id: int) -> PeerStats:
        """KeyError for a peer that is not in the current peer set."""
        peer = self._peers[peer_id]
        return PeerStats(
            peer_id,
            peer.state == _UP,
            peer.sent,
            peer.failed,
            peer.queue_drops,
            len(peer.queue),
            peer.latency.snapshot(),
        )

    def peer_ids(self) -> list[int]:
        return sorted(self._peers)
