"""`make_server`: the client API as a low-level aiohttp server, which also answers request
lines aiohttp's C parser refuses (unknown and lower-case methods) the way etcd routes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod

from http_api.app import make_server, refused_request_line
from pyetcd.server import EtcdServer


async def _serve(server: EtcdServer, **kwargs: object) -> tuple[web.ServerRunner, int]:
    runner = web.ServerRunner(make_server(server, access_log=None, **kwargs))  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


@pytest.fixture
async def port(server: EtcdServer) -> AsyncIterator[int]:
    runner, bound = await _serve(server)
    yield bound
    await runner.cleanup()


async def exchange(port: int, data: bytes) -> bytes:
    """Everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    received = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return received


def head(method: str, target: str, close: bool = True) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\n".encode() + connection + b"\r\n"


@pytest.mark.parametrize(
    ("method", "target", "status", "allow"),
    [
        ("BREW", "/v2/keys/a", b"405 Method Not Allowed", b"Allow: HEAD,GET,PUT,POST,DELETE"),
        ("get", "/v2/keys/a", b"405 Method Not Allowed", b"Allow: HEAD,GET,PUT,POST,DELETE"),
        ("put", "/v2/members", b"405 Method Not Allowed", b"Allow: GET,POST,DELETE,PUT"),
        ("BREW", "/v2/auth/enable", b"405 Method Not Allowed", b"Allow: GET,PUT,DELETE"),
        ("BREW", "/version", b"405 Method Not Allowed", b"Allow: GET"),
        ("BREW", "/health", b"405 Method Not Allowed", b"Allow: GET"),
        ("BREW", "/v2/stats/self", b"405 Method Not Allowed", b"Allow: GET"),
        ("BREW", "/v2/machines", b"405 Method Not Allowed", b"Allow: GET,HEAD"),
        ("BREW", "/v2/auth/users/a/b", b"400 Bad Request", None),
        ("BREW", "/v3/kv/range", b"404 Not Found", None),
        ("BREW", "/nope", b"404 Not Found", None),
        ("BREW", "/v2/keys//a", b"301 Moved Permanently", b"Location: /v2/keys/a"),
        ("BREW", "/v2/keys/a%zz", b"400 Bad Request", None),
    ],
)
async def test_refused_methods_are_routed(
    port: int, method: str, target: str, status: bytes, allow: bytes | None
) -> None:
    # A second request on the same connection is never answered: the parser cannot resume.
    # aiohttp's error path holds an HTTP/1.0 placeholder request, hence the status line.
    data = await exchange(port, head(method, target, close=False) + head("GET", "/version"))
    assert data.startswith(b"HTTP/1.0 " + status + b"\r\n")
    assert data.count(b"HTTP/1.") == 1
    if allow is not None:
        assert b"\r\n" + allow + b"\r\n" in data
    if status.startswith(b"405"):
        assert data.endswith(b"\r\n\r\nMethod Not Allowed\n")


async def test_normal_requests_and_metrics(port: int) -> None:
    data = await exchange(port, head("PUT", "/v2/keys/a?value=1"))
    assert data.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"X-Etcd-Index: 4\r\n" in data
    # promhttp serves any method.
    data = await exchange(port, head("BREW", "/metrics"))
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"etcd_debugging_store_writes_total" in data


async def test_non_token_method_stays_a_bad_request(port: int) -> None:
    data = await exchange(port, head("BR(W", "/v2/keys/a"))
    assert data.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert b"Allow:" not in data


async def test_v2_disabled(server: EtcdServer) -> None:
    runner, bound = await _serve(server, enable_v2=False)
    try:
        assert (await exchange(bound, head("GET", "/v2/keys/a"))).startswith(b"HTTP/1.1 404 ")
        assert (await exchange(bound, head("GET", "/version"))).startswith(b"HTTP/1.1 200 ")
    finally:
        await runner.cleanup()


def test_refused_request_line() -> None:
    def parse(excerpt: str) -> tuple[str, str] | None:
        error = f"Invalid method encountered:\n\n  {excerpt}\n     ^"
        return refused_request_line(BadHttpMethod(error=error))

    assert parse("b'BREW /v2/keys/a?x=%zz HTTP/1.1'") == ("BREW", "/v2/keys/a?x=%zz")
    assert parse("b'get /\\xc3\\xa9 HTTP/1.0'") == ("get", "/\u00e9")
    assert parse("b'BREW /v2/keys/a'") is None
    assert parse("b'BR(W /a HTTP/1.1'") is None
    assert parse("b'BREW /a HTTP/2'") is None
    assert parse("b'unterminated") is None
    https = BadHttpMethod(error="Received HTTPS traffic on an HTTP port")
    assert refused_request_line(https) is None
