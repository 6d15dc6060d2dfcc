"""An in-process single-member `EtcdServer` (raft, WAL on a tmp dir) behind the client app, plus
a raw HTTP helper for request targets and bytes that a client library would normalise."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from http_api.app import make_app
from pyetcd.config import Config, load_config
from pyetcd.server import EtcdServer

PEER_URL = "http://127.0.0.1:2380"
CLIENT_URL = "http://127.0.0.1:2379"


def _config(data_dir: str, peer_port: int) -> Config:
    """n1 advertises the fixed URLs the tests compare against but listens on a free port."""
    config = load_config(
        [
            "--name=n1",
            f"--data-dir={data_dir}",
            f"--initial-advertise-peer-urls={PEER_URL}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--advertise-client-urls={CLIENT_URL}",
            "--heartbeat-interval=10",
            "--election-timeout=100",
        ],
        {},
    )
    assert isinstance(config, Config)
    return config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_member(data_dir: str) -> EtcdServer:
    """n1, started, published and with its cluster version decided."""
    member = EtcdServer(_config(data_dir, _free_port()), wal_segment_size=1 << 20)
    await member.start()
    async with asyncio.timeout(10):
        await member.wait_published()
        while member.cluster_version() is None:
            await asyncio.sleep(0.005)
    return member


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[EtcdServer]:
    member = await start_member(str(tmp_path / "n1.etcd"))
    yield member
    await member.stop()


@pytest.fixture
async def client(server: EtcdServer) -> AsyncIterator[TestClient]:
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
