"""Watch fan-out: N long-poll watchers on one key, time from the PUT until all have the event.

The watchers are plain asyncio protocols on keep-alive connections with a minimal HTTP/1.1
response reader, so the client adds as little as possible to what is measured. Each round arms
every watcher, waits until the server's `/v2/stats/store` counts all of them as registered,
then sends the PUT and timestamps each watcher's complete response. Against a cluster the
watchers are spread over the members (each member's own store must count its share) and the
PUT goes to one of them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from bench.harness import HOST, Server

FANOUT_PATH = "/v2/keys/bench/fanout"


class ProtocolError(RuntimeError):
    """The server's response could not be read as HTTP/1.1."""


class FanoutError(RuntimeError):
    """Watchers did not register or did not get the expected event in time."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


def _dechunk(data: bytes | bytearray) -> tuple[bytes, int] | None:
    """The body of a chunked message and its encoded length, or None while incomplete."""
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(data[pos:eol]).split(b";", 1)[0], 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size line {bytes(data[pos:eol])!r}") from exc
        start = eol + 2
        if size == 0:
            # No trailers are expected: the message ends with the empty line after "0".
            return (bytes(body), start + 2) if len(data) >= start + 2 else None
        if len(data) < start + size + 2:
            return None
        body += data[start : start + size]
        pos = start + size + 2


def parse_response(data: bytes | bytearray) -> tuple[Response, int] | None:
    """One complete HTTP/1.1 response from the front of `data` and the bytes it used, or None."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = bytes(data[:head_end]).split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    start = head_end + 4
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunked = _dechunk(data[start:])
        if chunked is None:
            return None
        body, used = chunked
        return Response(int(parts[1]), body), start + used
    try:
        length = int(headers.get(b"content-length", b"0"))
    except ValueError as exc:
        raise ProtocolError(f"bad Content-Length {headers[b'content-length']!r}") from exc
    if len(data) < start + length:
        return None
    return Response(int(parts[1]), bytes(data[start : start + length])), start + length


class Countdown:
    """Resolves one future once `count` responses are complete; keeps the last arrival time.

    One shared counter instead of a future per watcher keeps the client's own work inside the
    measured window small.
    """

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.last = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def arrive(self, at: float) -> None:
        self.remaining -= 1
        self.last = at
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class Connection(asyncio.Protocol):
    """One keep-alive client connection carrying one request at a time."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._countdown: Countdown | None = None
        self.response: Response | None = None

    @classmethod
    async def open(cls, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, HOST, port)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, raw: bytes, countdown: Countdown) -> None:
        """Write a request; `countdown` hears when its whole response has arrived."""
        if self._transport is None or self._transport.is_closing():
            raise FanoutError("connection closed by the server")
        self._countdown = countdown
        self.response = None
        self._buf.clear()
        self._transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        countdown = self._countdown
        if countdown is None:
            return
        try:
            parsed = parse_response(self._buf)
        except ProtocolError as exc:
            self._countdown = None
            countdown.fail(exc)
            return
        if parsed is not None:
            self._countdown = None
            self.response = parsed[0]
            countdown.arrive(time.perf_counter())

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._countdown is not None:
            self._countdown.fail(FanoutError(f"connection lost: {exc}"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def http_request(method: str, path: str, port: int, form: str | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if form is None:
        return (head + "\r\n").encode()
    return (
        head
        + "Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(form)}\r\n\r\n{form}"
    ).encode()


async def _call(conn: Connection, raw: bytes, timeout: float) -> Response:
    countdown = Countdown(1)
    conn.send(raw, countdown)
    await asyncio.wait_for(countdown.done, timeout)
    assert conn.response is not None
    return conn.response


async def _wait_registered(control: Connection, port: int, count: int, timeout: float) -> None:
    """Poll the store stats until exactly `count` watchers are registered."""
    stats_req = http_request("GET", "/v2/stats/store", port)
    deadline = time.monotonic() + timeout
    while True:
        response = await _call(control, stats_req, timeout)
        watchers = json.loads(response.body).get("watchers")
        if watchers == count:
            return
        if time.monotonic() > deadline:
            raise FanoutError(f"{watchers} watchers registered, expected {count}")
        await asyncio.sleep(0.001)


@dataclass(frozen=True, slots=True)
class FanoutResult:
    watchers: int
    round_ms: tuple[float, ...]
    server_cpu_s: float
    client_cpu_s: float
    # Per member when several processes were measured (their sum is server_cpu_s).
    member_cpu_s: tuple[float, ...] = ()

    def plus(self, other: FanoutResult) -> FanoutResult:
        """Both sets of rounds as one result."""
        return FanoutResult(
            self.watchers,
            self.round_ms + other.round_ms,
            self.server_cpu_s + other.server_cpu_s,
            self.client_cpu_s + other.client_cpu_s,
            tuple(a + b for a, b in zip(self.member_cpu_s, other.member_cpu_s, strict=True)),
        )

    @property
    def median_ms(self) -> float:
        return statistics.median(self.round_ms)

    @property
    def server_cpu_ms_per_round(self) -> float:
        """Server CPU per round: registering every watcher, the PUT and the notifications."""
        return 1e3 * self.server_cpu_s / len(self.round_ms)

    @property
    def client_cpu_ms_per_round(self) -> float:
        return 1e3 * self.client_cpu_s / len(self.round_ms)


@dataclass(frozen=True, slots=True)
class _Member:
    """The connections to one member: a control connection and its share of the watchers."""

    port: int
    control: Connection
    watchers: list[Connection]


async def _round(members: Sequence[_Member], value: str, timeout: float) -> float:
    """One round; the PUT goes to the first member."""
    arrivals = Countdown(sum(len(member.watchers) for member in members))
    for member in members:
        watch_req = http_request("GET", f"{FANOUT_PATH}?wait=true", member.port)
        for watcher in member.watchers:
            watcher.send(watch_req, arrivals)
    for member in members:
        await _wait_registered(member.control, member.port, len(member.watchers), timeout)
    target = members[0]
    put_req = http_request("PUT", FANOUT_PATH, target.port, f"value={value}")
    started = time.perf_counter()
    put = await _call(target.control, put_req, timeout)
    if put.status not in (200, 201):
        raise FanoutError(f"PUT {FANOUT_PATH} -> {put.status}")
    await asyncio.wait_for(arrivals.done, timeout)
    for watcher in (w for member in members for w in member.watchers):
        response = watcher.response
        assert response is not None
        node = json.loads(response.body).get("node", {}) if response.status == 200 else {}
        if node.get("value") != value:
            raise FanoutError(f"watcher got {response.status} {response.body[:200]!r}")
    return 1e3 * (arrivals.last - started)


async def run_fanout(
    server: Server,
    watchers: int,
    rounds: int,
    timeout: float = 30.0,
    spread_over: Sequence[Server] = (),
) -> FanoutResult:
    """`rounds` fan-out rounds over `watchers` connections; every connection is closed after.

    With `spread_over` (the members of a cluster, `server` among them) watcher i connects to
    member i mod n (`server` is member 0), the PUT goes to `server` and CPU is measured for
    every member, `server` first.
    """
    servers = [server, *(s for s in spread_over if s is not server)]
    conns: list[Connection] = []
    members: list[_Member] = []
    try:
        for index, member in enumerate(servers):
            control = await Connection.open(member.port)
            conns.append(control)
            share = len(range(index, watchers, len(servers)))
            opened: list[Connection] = []
            for start in range(0, share, 100):
                batch = min(100, share - start)
                opened.extend(
                    await asyncio.gather(*(Connection.open(member.port) for _ in range(batch)))
                )
            conns.extend(opened)
            members.append(_Member(member.port, control, opened))
        cpu_before, client_before = [s.cpu_seconds() for s in servers], time.process_time()
        times = [await _round(members, f"round{i}", timeout) for i in range(rounds)]
        cpu_after = [s.cpu_seconds() for s in servers]
        client_used = time.process_time() - client_before
    finally:
        for conn in conns:
            conn.close()
    used = tuple(after - before for before, after in zip(cpu_before, cpu_after, strict=True))
    return FanoutResult(
        watchers, tuple(times), sum(used), client_used, used if len(used) > 1 else ()
    )
