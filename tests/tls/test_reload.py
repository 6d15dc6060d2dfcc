"""Certificate reload without restart, through real handshakes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import uvloop
from aiohttp import web
from cryptography import x509

from tests.tls.helpers import SERVICE, Leaf, Material, Pki, echo_server, roundtrip
from tls.contexts import TLSMaterialError, client_context, server_context
from tls.reload import ReloadingClientContext, ReloadingContext, ReloadingServerContext


def _replace(path: Path, data: bytes) -> None:
    """Atomic rewrite (new inode), as a deploy tool writing beside and renaming does."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _install(src: Leaf, dst: Leaf) -> None:
    _replace(dst.cert, src.cert.read_bytes())
    _replace(dst.key, src.key.read_bytes())


def _serial(leaf: Leaf) -> int:
    return x509.load_pem_x509_certificate(leaf.cert.read_bytes()).serial_number


def _peer_serial(writer: asyncio.StreamWriter) -> int:
    return int(writer.get_extra_info("peercert")["serialNumber"], 16)


@pytest.fixture
def live(tmp_path: Path, material: Material) -> Leaf:
    """The server's certificate files, copied so that tests may rewrite them."""
    dst = Leaf(tmp_path / "server.crt", tmp_path / "server.key")
    _install(material.server, dst)
    return dst


@pytest.fixture
def fresh(pki: Pki, material: Material) -> Leaf:
    return pki.leaf(material.ca, SERVICE, [SERVICE, f"*.{SERVICE}"], ["127.0.0.1"])


def _client(m: Material, leaf: Leaf | None = None) -> ssl.SSLContext:
    leaf = leaf or m.client
    return client_context(str(m.ca.cert), str(leaf.cert), str(leaf.key))


@contextlib.asynccontextmanager
async def _connection(
    port: int, ctx: ssl.SSLContext
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=SERVICE
    )
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


async def _ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"


async def _served_serial(port: int, m: Material) -> int:
    async with _connection(port, _client(m)) as (reader, writer):
        await _ping(reader, writer)
        return _peer_serial(writer)


def _reloader(m: Material, live: Leaf) -> ReloadingServerContext:
    return ReloadingServerContext(
        str(live.cert), str(live.key), str(m.ca.cert), client_cert_auth=True, hosts=[SERVICE]
    )


async def _swap_under_load(material: Material, live: Leaf, fresh: Leaf) -> None:
    reloader = _reloader(material, live)
    assert reloader.maybe_reload() is False
    async with (
        echo_server(reloader.context) as server,
        _connection(server.port, _client(material)) as (reader, writer),
    ):
        await _ping(reader, writer)
        assert _peer_serial(writer) == _serial(material.server)
        _install(fresh, live)
        assert reloader.maybe_reload() is True
        assert reloader.maybe_reload() is False
        assert await _served_serial(server.port, material) == _serial(fresh)
        await _ping(reader, writer)
        assert _peer_serial(writer) == _serial(material.server)
    assert reloader.reloads == 1


async def test_new_connections_get_the_new_cert_and_old_ones_carry_on(
    material: Material, live: Leaf, fresh: Leaf
) -> None:
    await _swap_under_load(material, live, fresh)


def test_reload_works_under_uvloop_too(material: Material, live: Leaf, fresh: Leaf) -> None:
    uvloop.run(_swap_under_load(material, live, fresh))


def _garbage(live: Leaf, m: Material, fresh: Leaf) -> None:
    _replace(live.cert, b"this is not a certificate\n")


def _half_written(live: Leaf, m: Material, fresh: Leaf) -> None:
    data = fresh.cert.read_bytes()
    _replace(live.cert, data[: len(data) // 2])


def _key_of_another_cert(live: Leaf, m: Material, fresh: Leaf) -> None:
    _replace(live.cert, fresh.cert.read_bytes())


def _expired(live: Leaf, m: Material, fresh: Leaf) -> None:
    _install(m.expired_server, live)


def _from_another_ca(live: Leaf, m: Material, fresh: Leaf) -> None:
    _install(m.other_client, live)


def _missing(live: Leaf, m: Material, fresh: Leaf) -> None:
    live.cert.unlink()


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (_garbage, "no PEM certificate"),
        (_half_written, "malformed PEM certificate"),
        (_key_of_another_cert, "does not match certificate"),
        (_expired, "expired on"),
        (_from_another_ca, "not signed by any CA"),
        (_missing, "cannot read"),
    ],
)
async def test_broken_replacement_is_refused_once_and_the_old_cert_keeps_serving(
    material: Material,
    live: Leaf,
    fresh: Leaf,
    caplog: pytest.LogCaptureFixture,
    breakage,
    reason: str,
) -> None:
    reloader = _reloader(material, live)
    async with echo_server(reloader.context) as server:
        breakage(live, material, fresh)
        with caplog.at_level(logging.INFO, logger="tls.reload"):
            assert reloader.maybe_reload() is False
            assert reloader.maybe_reload() is False
        assert len(caplog.records) == 1
        assert caplog.records[0].levelno == logging.WARNING
        assert reason in caplog.records[0].getMessage()
        assert "\n" not in caplog.records[0].getMessage()
        assert await _served_serial(server.port, material) == _serial(material.server)
        _install(fresh, live)
        assert reloader.maybe_reload() is True
        assert await _served_serial(server.port, material) == _serial(fresh)
    assert (reloader.reloads, reloader.refusals) == (1, 1)


async def test_ca_rotation_by_reload(material: Material, pki: Pki, live: Leaf, tmp_path: Path):
    """The README's three deploys, applied to a running listener without restart."""
    m = material
    ca_file = tmp_path / "ca.crt"
    _replace(ca_file, m.ca.pem)
    reloader = ReloadingServerContext(str(live.cert), str(live.key), str(ca_file), True)
    new_client = _client(m, m.other_client)
    async with echo_server(reloader.context) as server:
        assert await roundtrip(server.port, new_client) != "ok"
        _replace(ca_file, m.ca.pem + m.other_ca.pem)
        assert reloader.maybe_reload() is True
        assert await roundtrip(server.port, new_client) == "ok"
        assert await roundtrip(server.port, _client(m)) == "ok"
        rotated = pki.leaf(m.other_ca, SERVICE, [SERVICE], ["127.0.0.1"])
        _install(rotated, live)
        assert reloader.maybe_reload() is True
        _replace(ca_file, m.other_ca.pem)
        assert reloader.maybe_reload() is True
        old_client = client_context(str(m.bundle), str(m.client.cert), str(m.client.key))
        accepted = server.accepted
        assert await roundtrip(server.port, old_client) != "ok"
        assert server.accepted == accepted
        new_trust = client_context(str(ca_file), str(m.other_client.cert), str(m.other_client.key))
        assert await roundtrip(server.port, new_trust) == "ok"


async def test_aiohttp_listener_serves_the_reloaded_cert(
    material: Material, live: Leaf, fresh: Leaf
) -> None:
    reloader = _reloader(material, live)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=reloader.context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/", ssl=_client(material)) as resp:
                assert await resp.text() == "hello"
            _install(fresh, live)
            assert reloader.maybe_reload() is True
            async with session.get(f"https://127.0.0.1:{port}/", ssl=_client(material)) as resp:
                assert await resp.text() == "hello"
            async with _connection(port, _client(material)) as (reader, writer):
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert b"hello" in await asyncio.wait_for(reader.read(), 10)
                assert _peer_serial(writer) == _serial(fresh)
    finally:
        await runner.cleanup()


async def test_client_reloader_presents_the_new_client_cert(material: Material, tmp_path: Path):
    m = material
    mine = Leaf(tmp_path / "client.crt", tmp_path / "client.key")
    _install(m.client, mine)
    reloader = ReloadingClientContext(str(m.bundle), str(mine.cert), str(mine.key))
    first = reloader.current
    trusts_other = server_context(str(m.server.cert), str(m.server.key), str(m.other_ca.cert), True)
    async with echo_server(trusts_other) as server:
        assert await roundtrip(server.port, reloader.current) != "ok"
        _install(m.other_client, mine)
        assert reloader.maybe_reload() is True
        assert reloader.current is not first
        assert await roundtrip(server.port, reloader.current) == "ok"


def test_files_changing_while_loading_are_retried(material: Material, live: Leaf) -> None:
    calls: list[int] = []

    def check() -> list[str]:
        calls.append(1)
        if len(calls) == 2:
            os.utime(live.cert, ns=(1, 1))
        return []

    def build() -> ssl.SSLContext:
        return client_context(str(material.ca.cert))

    reloader = ReloadingContext([str(live.cert)], build, check)
    first = reloader.current
    os.utime(live.cert, ns=(5, 5))
    assert reloader.maybe_reload() is False
    assert reloader.current is first
    assert reloader.maybe_reload() is True
    assert reloader.current is not first
    assert len(calls) == 3


def test_initial_material_problems_raise_with_every_line(material: Material, tmp_path: Path):
    missing = str(tmp_path / "missing.key")
    with pytest.raises(TLSMaterialError) as err:
        ReloadingServerContext(str(material.expired_server.cert), missing, str(material.ca.cert))
    assert len(err.value.problems) == 2
    assert "expired on" in err.value.problems[0] or "expired on" in err.value.problems[1]
