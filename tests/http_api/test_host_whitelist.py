"""`--host-whitelist` on the client listener: keep-alive `/v2/keys` requests (the fast lane's)
are checked too, and a TLS-less listener with the default `*` keeps the lane."""

from __future__ import annotations

import asyncio

from aiohttp import web

from http_api.app import make_server
from pyetcd.server import EtcdServer
from tests.http_api.test_lane import aiohttp_answered, read_reply

__all__ = ["aiohttp_answered"]  # the fixture, used here too


async def _serve(server: EtcdServer, hosts: tuple[str, ...]) -> tuple[web.ServerRunner, int]:
    runner = web.ServerRunner(make_server(server, access_log=None, host_whitelist=hosts))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


def _get(host: str) -> bytes:
    return f"GET /v2/keys/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


async def test_keep_alive_key_requests_with_a_foreign_host_get_421(
    server: EtcdServer, aiohttp_answered: list[str]
) -> None:
    runner, port = await _serve(server, ("example.com",))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_get("example.com:2379") + _get("evil.example") + _get("example.com"))
        replies = [await read_reply(reader) for _ in range(3)]
        writer.close()
    finally:
        await runner.cleanup()
    assert [r.status for r in replies] == [200, 421, 200]
    assert aiohttp_answered == ["/v2/keys/", "/v2/keys/"], "the lane served the first"
    assert b'--host-whitelist "evil.example"' in replies[1].body
    assert not any(name.startswith("Access-Control") for name, _ in replies[1].headers)


async def test_the_default_star_lets_every_host_through(server: EtcdServer) -> None:
    runner, port = await _serve(server, ("*",))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_get("evil.example"))
        reply = await read_reply(reader)
        writer.close()
    finally:
        await runner.cleanup()
    assert reply.status == 200
