"""An in-process member (`LocalServer`) behind the client app, plus a raw HTTP helper for
request targets and bytes that a client library would normalise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from http_api.app import make_app
from pyetcd.server import LocalServer

PEER_URL = "http://127.0.0.1:2380"
CLIENT_URL = "http://127.0.0.1:2379"


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    member = LocalServer(name="n1", peer_urls=(PEER_URL,), client_urls=(CLIENT_URL,))
    await member.start()
    yield member
    await member.stop()


@pytest.fixture
async def client(server: LocalServer) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(server))) as test_client:
        yield test_client


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def raw_request(
    client: TestClient,
    method: str,
    target: str | bytes,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """One request with the target sent byte for byte (`Connection: close`)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    raw_target = target.encode() if isinstance(target, str) else target
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
        method.encode(),
        raw_target,
    )
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n".encode()
    if body is not None:
        head += b"Content-Length: %d\r\n" % len(body)
    writer.write(head + b"\r\n" + (body or b""))
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    parsed: CIMultiDict[str] = CIMultiDict()
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(": ")
        parsed.add(name, value)
    if parsed.get("Transfer-Encoding") == "chunked":
        payload = _dechunk(payload)
    return RawResponse(int(status_line.split()[1]), parsed, payload)
