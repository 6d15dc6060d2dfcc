"""`GET /pyetcd/v1/snapshot` on an in-process member: what it holds, who may have it."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from http_api.app import make_app
from pyetcd.admin.snapfile import decode_snapshot
from store.commands import Set
from store.errors import EtcdError
from store.store import Store
from tests.http_api.conftest import start_member


async def test_the_snapshot_holds_every_acknowledged_write(tmp_path) -> None:
    member = await start_member(str(tmp_path / "n1"))
    try:
        for i in range(20):
            await member.propose(Set(f"/k{i}", str(i), False, None, False, member.now()))
        async with TestClient(TestServer(make_app(member))) as client:
            resp = await client.get("/pyetcd/v1/snapshot")
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/octet-stream"
            assert resp.headers["X-Etcd-Cluster-Id"] == format(member.cluster_id, "x")
            snap = decode_snapshot(await resp.read())
        assert (snap.cluster_id, snap.member_id) == (member.cluster_id, member.member_id)
        assert snap.index == member.raft_index()
        store = Store.restore(snap.store_data)
        assert [store.get(f"/k{i}").node.value for i in range(20)] == [str(i) for i in range(20)]
        assert store.index == member.store.index
    finally:
        await member.stop()


async def test_client_cert_auth_refuses_a_request_without_a_certificate(tmp_path) -> None:
    member = await start_member(str(tmp_path / "n1"))
    try:
        app = make_app(member, cert_user=lambda request: "root")
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/pyetcd/v1/snapshot")
            assert resp.status == 401
            assert await resp.json() == {"message": "a verified client certificate is required"}
            resp = await client.put("/pyetcd/v1/snapshot")
            assert resp.status == 405 and resp.headers["Allow"] == "GET"
    finally:
        await member.stop()


async def test_snapshots_under_writes_hold_a_prefix_including_every_acknowledged_write(
    tmp_path,
) -> None:
    member = await start_member(str(tmp_path / "n1"))
    acked = 0
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal acked
        while not stop.is_set() and acked < 2000:
            await member.propose(Set(f"/w/{acked:05d}", "x", False, None, False, member.now()))
            acked += 1

    task = asyncio.create_task(writer())
    seen: list[int] = []
    try:
        async with TestClient(TestServer(make_app(member))) as client:
            for _ in range(5):
                before = acked
                resp = await client.get("/pyetcd/v1/snapshot")
                assert resp.status == 200
                store = Store.restore(decode_snapshot(await resp.read()).store_data)
                try:
                    nodes = store.get("/w", recursive=True).node.nodes or ()
                except EtcdError:
                    nodes = ()
                keys = sorted(n.key for n in nodes)
                assert keys == [f"/w/{i:05d}" for i in range(len(keys))]
                assert len(keys) >= before
                seen.append(len(keys))
                await asyncio.sleep(0.01)
        assert seen[-1] > seen[0], seen  # the writes went on between the snapshots
    finally:
        stop.set()
        await task
        await member.stop()
