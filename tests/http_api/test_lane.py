"""The fast lane: strict framing, Go's response bytes, the same answers as the aiohttp path, and
a clean hand-over to aiohttp (pipelining, watches, big bodies, departed clients, idle timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

from http_api.app import _Client, make_server
from http_api.wire import MAX_BODY, MAX_HEAD, OTHER, Head, frame, render
from pyetcd.server import EtcdServer
from tests.http_api.conftest import start_member

GET = b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n"


def put(key: str, form: str, extra: str = "") -> bytes:
    body = form.encode()
    return (
        f"PUT /v2/keys/{key} HTTP/1.1\r\nHost: x\r\n{extra}"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# -- framing ---------------------------------------------------------------------------------


def test_frame_reads_a_plain_request_and_its_body() -> None:
    data = b"xx" + put("k", "value=1", "Origin: http://o\r\nOrigin: http://p\r\n") + GET
    head = frame(data, 2)
    assert isinstance(head, Head)
    assert (head.method, head.target, head.origin) == ("PUT", "/v2/keys/k", "http://o")
    assert head.content_type == "application/x-www-form-urlencoded"
    assert data[head.body_start : head.end] == b"value=1"
    second = frame(data, head.end)
    assert isinstance(second, Head) and second.end == len(data)


def test_frame_waits_for_every_prefix_of_a_request() -> None:
    data = put("k", "value=12345")
    for cut in range(len(data)):
        assert frame(data[:cut], 0) is None
    assert isinstance(frame(data, 0), Head)


def test_header_names_are_case_insensitive_and_space_is_optional() -> None:
    data = (
        b"GET /v2/keys/a HTTP/1.1\r\nhOsT:x\r\nCONNECTION:\tKeep-Alive\r\ncontent-LENGTH: 0\r\n\r\n"
    )
    assert isinstance(frame(data, 0), Head)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /v2/keys/a HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n",
        b"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
        b"OPTIONS /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"get /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/keys/a#b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/keys/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET  /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        f"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(),
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * MAX_HEAD + b"\r\n\r\n",
        b"GET /v2/keys/" + b"a" * (MAX_HEAD + 1),
    ],
)
def test_anything_else_is_left_to_aiohttp(data: bytes) -> None:
    assert frame(data, 0) == OTHER


def test_render_writes_what_go_writes() -> None:
    headers = {"X-Raft-Term": "2", "Content-Type": "application/json", "Allow": "GET"}
    out = render(201, headers, b"{}\n", False)
    text = re.sub(rb"Date: [^\r]+", b"Date: D", out)
    assert text == (
        b"HTTP/1.1 201 Created\r\nAllow: GET\r\nContent-Type: application/json\r\n"
        b"X-Raft-Term: 2\r\nDate: D\r\nContent-Length: 3\r\n\r\n{}\n"
    )
    assert re.search(rb"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n", out)
    assert render(404, {}, b"abc", True).endswith(b"Content-Length: 3\r\n\r\n")


# -- against a member ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


async def read_reply(reader: asyncio.StreamReader, head_only: bool = False) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    found = {name.lower(): value for name, value in headers}
    if head_only:
        body = b""
    elif found.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int(await reader.readuntil(b"\r\n"), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif "content-length" in found:
        body = await asyncio.wait_for(reader.readexactly(int(found["content-length"])), 10)
    else:  # Go's own 400: the body ends with the connection
        body = await asyncio.wait_for(reader.read(), 10)
    return Reply(int(lines[0].split()[1]), headers, body)  # type: ignore[arg-type]


async def _serve(member: EtcdServer, **kwargs: object) -> tuple[web.ServerRunner, int]:
    runner = web.ServerRunner(make_server(member, access_log=None, **kwargs))  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def lane_port(server: EtcdServer) -> AsyncIterator[int]:
    runner, port = await _serve(server)
    yield port
    await runner.cleanup()


SEQUENCE: list[tuple[bytes, bool]] = [
    (put("a", "value=1"), False),
    (GET, False),
    (b"HEAD /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (put("a", "value=2&prevValue=1"), False),
    (put("a", "value=3&prevValue=9"), False),
    (put("a", "value=3&prevIndex=x"), False),
    (put("d/b", "value=%E2%9C%93&dir=false"), False),
    (put("d/c", "value=<&>\u2028"), False),
    (put("d/", "value=x&prevExist=true"), False),
    (put("n", "value=1&noValueOnSuccess=true"), False),
    (put("a?value=q", "", ""), False),
    (
        b"PUT /v2/keys/t HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 7\r\n\r\nvalue=1",
        False,
    ),
    (b"PUT /v2/keys/t HTTP/1.1\r\nHost: x\r\nContent-Type: ;;\r\nContent-Length: 0\r\n\r\n", False),
    (
        b"POST /v2/keys/q HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nContent-Length: 7\r\n\r\nvalue=1",
        False,
    ),
    (b"GET /v2/keys/?recursive=true&sorted=true HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys/d/?quorum=true HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys/nope HTTP/1.1\r\nHost: x\r\nOrigin: http://o\r\n\r\n", False),
    (b"GET /v2/keys/a?wait=maybe HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys/a%zz HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys/%61 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"DELETE /v2/keys/d?recursive=true HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"DELETE /v2/keys/a?prevValue=2 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keysx HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /v2/keys/x//y HTTP/1.1\r\nHost: x\r\n\r\n", False),
]


async def _answers(port: int) -> list[Reply]:
    replies = []
    for data, head_only in SEQUENCE:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        replies.append(await read_reply(reader, head_only))
        writer.close()
    return replies


async def test_the_lane_answers_as_the_aiohttp_path_does(tmp_path) -> None:
    """Two identical fresh members, one served with the lane and one without, get the same
    requests: the same statuses, bodies and headers in Go's order (Date aside)."""
    members = [await start_member(str(tmp_path / name)) for name in ("lane", "aiohttp")]
    runners = []
    try:
        lane_runner, lane_port = await _serve(members[0], cors=("http://o",))
        runners.append(lane_runner)
        plain_runner, plain_port = await _serve(members[1], cors=("http://o",), lane=False)
        runners.append(plain_runner)
        lane, plain = await _answers(lane_port), await _answers(plain_port)
    finally:
        for runner in runners:
            await runner.cleanup()
        for member in members:
            await member.stop()
    for (data, _), ours, theirs in zip(SEQUENCE, lane, plain, strict=True):
        mine = [h for h in ours.headers if h[0] != "Date"]
        other = [h for h in theirs.headers if h[0] != "Date"]
        assert (ours.status, mine, ours.body) == (theirs.status, other, theirs.body), data
    for reply in lane + plain:
        names = [name for name, _ in reply.headers if name != "Connection"]
        if reply.status == 400 and "Date" not in names:
            assert names == ["Content-Type"]  # Go's own answer to an unparsable target
            continue
        assert names[-2:] == ["Date", "Content-Length"]
        assert names[:-2] == sorted(names[:-2])


@pytest.fixture
def aiohttp_answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The request targets that reached the aiohttp path (the lane's answers never do)."""
    targets: list[str] = []
    dispatch = _Client.dispatch

    async def spy(self: _Client, request: web.BaseRequest, raw: str) -> web.StreamResponse:
        targets.append(raw)
        return await dispatch(self, request, raw)

    monkeypatch.setattr(_Client, "dispatch", spy)
    return targets


async def test_pipelined_requests_are_answered_in_order_across_the_hand_over(
    lane_port: int, aiohttp_answered: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    writer.write(put("p", "value=1") + GET.replace(b"/a", b"/p") + put("p", "value=2"))
    writer.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n" + GET.replace(b"/a", b"/p"))
    replies = [await read_reply(reader) for _ in range(5)]
    writer.close()
    assert [r.status for r in replies] == [201, 200, 200, 200, 200]
    assert b'"value":"1"' in replies[1].body and b'"value":"2"' in replies[4].body
    assert b"etcdserver" in replies[3].body
    # aiohttp answered the last two: the connection stays with it after the hand-over.
    assert aiohttp_answered == ["/version", "/v2/keys/p"]


async def test_a_request_sent_byte_by_byte(lane_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    for byte in put("s", "value=slow"):
        writer.write(bytes([byte]))
        await writer.drain()
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 201 and b'"value":"slow"' in reply.body


async def test_a_watch_hands_the_connection_to_aiohttp(
    lane_port: int, aiohttp_answered: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    writer.write(b"GET /v2/keys/w?wait=true HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.1)
    other_reader, other = await asyncio.open_connection("127.0.0.1", lane_port)
    other.write(put("w", "value=seen"))
    assert (await read_reply(other_reader)).status == 201
    other.close()
    watched = await read_reply(reader)
    assert b'"value":"seen"' in watched.body
    writer.write(GET.replace(b"/a", b"/w"))
    after = await read_reply(reader)
    writer.close()
    assert after.status == 200 and aiohttp_answered[-1] == "/v2/keys/w"


async def test_a_body_too_big_for_the_lane_is_still_served(lane_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    writer.write(put("big", "value=" + "v" * MAX_BODY))
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 201 and len(reply.body) > MAX_BODY


async def test_a_client_gone_before_its_write_commits(lane_port: int) -> None:
    for attempt in range(20):
        sock = socket.create_connection(("127.0.0.1", lane_port))
        sock.sendall(put("gone", f"value={attempt}"))
        sock.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    async with asyncio.timeout(10):
        while True:
            writer.write(GET.replace(b"/a", b"/gone"))
            reply = await read_reply(reader)
            if b'"value":"19"' in reply.body:
                break
            await asyncio.sleep(0.01)
    writer.close()


async def test_the_client_that_reads_slowly_gets_every_reply(lane_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    writer.write(put("large", "value=" + "z" * 30_000))
    assert (await read_reply(reader)).status == 201
    count = 400
    writer.write(GET.replace(b"/a", b"/large") * count)
    await asyncio.sleep(0.3)
    replies = [await read_reply(reader) for _ in range(count)]
    writer.close()
    assert all(r.status == 200 and len(r.body) > 30_000 for r in replies)


async def test_an_idle_lane_connection_is_closed(server: EtcdServer) -> None:
    runner, port = await _serve(server, keepalive_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        await read_reply(reader)
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
    finally:
        await runner.cleanup()


async def still_writable(port: int) -> None:
    """A write made after everything sent before it (writes apply in order), then a garbage
    collection, so that whatever nobody read has been reported by now."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(put("after", "value=1"))
    assert (await read_reply(reader)).status in (200, 201)
    writer.close()
    gc.collect()
    await asyncio.sleep(0.05)


@pytest.mark.parametrize("lane", [True, False], ids=["lane", "aiohttp"])
async def test_a_failed_write_whose_client_left_is_still_read(
    server: EtcdServer, caplog: pytest.LogCaptureFixture, lane: bool
) -> None:
    """The failure of a write nobody waits for any more is read (and counted), never left for
    asyncio to report as an exception that was never retrieved."""
    runner, port = await _serve(server, lane=lane)
    try:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(put("missing", "value=1&prevExist=true"))
            sock.close()
        await still_writable(port)
    finally:
        await runner.cleanup()
    assert "never retrieved" not in caplog.text


async def test_a_request_aiohttp_cannot_parse_is_no_error_in_the_log(
    lane_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
    writer.write(b"GET /v2/k\x9bys/a HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_gone_is_no_error_but_a_server_fault_is(
    server: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = make_server(server, access_log=None)()
    gone = ClientConnectionResetError("Cannot write to closing transport")
    protocol.log_exception("Error handling request from %s", "peer", exc_info=gone)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    protocol.log_exception("Error handling request from %s", "peer", exc_info=ValueError("x"))
    assert [r.levelno for r in caplog.records if r.levelno >= logging.ERROR] == [logging.ERROR]


FUZZ_SEEDS = [
    GET,
    put("f", "value=1"),
    b"GET /v2/keys/f?wait=true&waitIndex=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /v2/keys/f HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v2/keys/q HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
    b"\r\nContent-Length: 3\r\n\r\nv=1",
]


async def test_mangled_requests_leave_the_member_serving_and_the_log_clean(
    lane_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Seeded mutations of valid requests (bytes flipped, cut and inserted, sent in pieces,
    the client leaving early): whatever each gets, the member answers the next client."""
    rng = random.Random(7)
    for _ in range(300):
        data = bytearray(b"".join(rng.choice(FUZZ_SEEDS) for _ in range(rng.randint(1, 4))))
        for _ in range(rng.randint(0, 4)):
            at = rng.randrange(len(data))
            roll = rng.random()
            if roll < 0.3:
                data[at] = rng.randrange(256)
            elif roll < 0.6:
                del data[at : at + rng.randint(1, 5)]
            else:
                data[at:at] = rng.randbytes(rng.randint(1, 5))
        reader, writer = await asyncio.open_connection("127.0.0.1", lane_port)
        step = max(1, len(data) // rng.randint(1, 3))
        for start in range(0, len(data), step):
            writer.write(bytes(data[start : start + step]))
            await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(65536), 0.02)
        writer.close()
    await still_writable(lane_port)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
