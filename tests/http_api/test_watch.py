"""`GET ?wait=true`: early headers, one event or a stream, history, disconnects."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from pyetcd.server import EtcdServer
from store.commands import Set


async def _watchers(server: EtcdServer) -> int:
    await asyncio.sleep(0)
    return server.store.stats().watchers


async def _until_watchers(server: EtcdServer, count: int) -> None:
    for _ in range(200):
        if server.store.stats().watchers == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"watchers stayed at {server.store.stats().watchers}, not {count}")


async def test_headers_flushed_before_first_event(client: TestClient, server: EtcdServer) -> None:
    resp = await asyncio.wait_for(client.get("/v2/keys/w?wait=true"), 5)
    assert resp.status == 200
    assert resp.headers["X-Etcd-Index"] == "3"
    assert resp.headers["Content-Type"] == "application/json"
    assert "X-Raft-Term" in resp.headers
    await _until_watchers(server, 1)
    await client.put("/v2/keys/w?value=1")
    assert await asyncio.wait_for(resp.read(), 5) == (
        b'{"action":"set","node":{"key":"/w","value":"1","modifiedIndex":4,"createdIndex":4}}\n'
    )
    assert await _watchers(server) == 0


async def test_stream_delivers_each_event(client: TestClient, server: EtcdServer) -> None:
    resp = await client.get("/v2/keys/w?wait=true&stream=true")
    await _until_watchers(server, 1)
    await client.put("/v2/keys/w?value=1")
    await client.put("/v2/keys/w?value=2")
    await client.delete("/v2/keys/w")
    lines = [await asyncio.wait_for(resp.content.readline(), 5) for _ in range(4)]
    assert [line.split(b'"node"')[0] for line in lines] == [
        b'{"action":"set",',
        b'{"action":"set",',
        b'{"action":"delete",',
        b'{"action":"delete",',
    ]
    assert lines[2] == lines[3]
    resp.close()
    await _until_watchers(server, 0)


async def test_recursive_watch_skips_hidden_children(
    client: TestClient, server: EtcdServer
) -> None:
    resp = await client.get("/v2/keys/dir?wait=true&recursive=true")
    await _until_watchers(server, 1)
    await client.put("/v2/keys/dir/_hidden?value=1")
    await client.put("/v2/keys/dir/seen?value=1")
    assert b'"key":"/dir/seen"' in await asyncio.wait_for(resp.read(), 5)


async def test_disconnect_removes_watcher(client: TestClient, server: EtcdServer) -> None:
    resp = await client.get("/v2/keys/w?wait=true")
    await _until_watchers(server, 1)
    resp.close()
    await _until_watchers(server, 0)


async def test_past_wait_index_answers_from_history(client: TestClient) -> None:
    await client.put("/v2/keys/a?value=1")
    await client.put("/v2/keys/a?value=2")
    resp = await client.get("/v2/keys/a?wait=true&waitIndex=5")
    assert resp.headers["X-Etcd-Index"] == "5"
    body = await asyncio.wait_for(resp.read(), 5)
    assert body.startswith(b'{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":5')


async def test_future_wait_index_waits(client: TestClient, server: EtcdServer) -> None:
    resp = await client.get("/v2/keys/a?wait=true&waitIndex=6")
    await _until_watchers(server, 1)
    await client.put("/v2/keys/a?value=1")
    await client.put("/v2/keys/a?value=2")
    await client.put("/v2/keys/a?value=3")
    body = await asyncio.wait_for(resp.read(), 5)
    assert b'"value":"3","modifiedIndex":6' in body
    assert resp.headers["X-Etcd-Index"] == "3"


async def test_cleared_history_is_401(client: TestClient, server: EtcdServer) -> None:
    for i in range(1001):
        await server.propose(Set("/h", str(i), False, None, False, server.now()))
    resp = await client.get("/v2/keys/h?wait=true&waitIndex=2")
    assert resp.status == 400
    assert await resp.read() == (
        b'{"errorCode":401,"message":"The event in requested index is outdated and cleared",'
        b'"cause":"the requested history has been cleared [5/2]","index":1004}\n'
    )
    assert resp.headers["X-Etcd-Index"] == "1004"
    text = (await (await client.get("/metrics")).read()).decode()
    assert 'etcd_http_failed_total{code="400",method="GET"} 1' in text


async def test_stream_overflow_ends_the_response(client: TestClient, server: EtcdServer) -> None:
    resp = await client.get("/v2/keys/o?wait=true&stream=true")
    await _until_watchers(server, 1)
    # Concurrent proposals commit in batches, as a busy member's do: the watcher cannot drain
    # between events, so its 100-event buffer overflows.
    await asyncio.gather(
        *(server.propose(Set("/o", str(i), False, None, False, server.now())) for i in range(150))
    )
    body = await asyncio.wait_for(resp.read(), 5)
    lines = body.splitlines()
    assert len(lines) == 100
    assert b'"value":"99"' in lines[-1]
    assert await _watchers(server) == 0
