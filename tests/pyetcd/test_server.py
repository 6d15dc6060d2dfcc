"""A single-member EtcdServer (one voter, WAL on a tmp dir): indexes, TTL expiry through the
leader's Sync entries, stats, membership checks, durability, snapshots, bootstrap refusals."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from http_api.protocol import MembersError
from pyetcd import gotime
from pyetcd.applier import Applier
from pyetcd.bootstrap import BootstrapError
from pyetcd.entry import decode_entry, encode_entry
from pyetcd.ids import format_id
from pyetcd.server import EtcdServer
from pyetcd.wait import Waiters
from store.commands import BadCommand, Create, Set
from store.errors import EtcdError
from store.event import Event
from store.store import Store
from tests.pyetcd.harness import SEGMENT, free_ports, make_config, wait_until

PEER = "http://127.0.0.1:23800"
CLIENT = "http://127.0.0.1:2379"
T0 = 1_795_491_498_000_000_000
SECOND = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _config(data_dir: str, *extra: str):
    """n1 advertises PEER (for etcd's ids) but listens on a free port."""
    [port] = free_ports(1)
    return make_config(
        "--name=n1",
        f"--data-dir={data_dir}",
        f"--initial-advertise-peer-urls={PEER}",
        f"--listen-peer-urls=http://127.0.0.1:{port}",
        f"--advertise-client-urls={CLIENT}",
        *extra,
    )


async def _started(config, clock=time.time_ns) -> EtcdServer:
    server = EtcdServer(config, clock=clock, sync_interval=0.01, wal_segment_size=SEGMENT)
    await server.start()
    await asyncio.wait_for(server.wait_published(), 10)
    await wait_until(lambda: server.cluster_version() is not None, 10)
    return server


@pytest.fixture
async def clock_and_server(tmp_path):
    clock = Clock()
    server = await _started(_config(str(tmp_path / "n1.etcd")), clock)
    yield clock, server
    await server.stop()


@pytest.fixture
async def server(clock_and_server):
    return clock_and_server[1]


def _set(server: EtcdServer, key: str, value: str) -> Set:
    return Set(key, value, False, None, False, server.now())


async def test_bootstrap_takes_store_indexes_one_to_three(server: EtcdServer) -> None:
    assert server.store.index == 3
    assert server.raft_index() == 4, "conf change, the leader's empty entry, publish, version"
    assert server.raft_term() >= 2
    assert server.cluster_version() == "3.4.0"
    [me] = server.members()
    assert (format_id(me.id), me.name, me.peer_urls, me.client_urls) == (
        "2e1259d415f2a040",
        "n1",
        (PEER,),
        (CLIENT,),
    )
    assert format_id(server.cluster_id) == "48276a8f75b6a87"
    assert server.leader() == me and server.has_leader() and await server.health()


async def test_first_user_write_is_index_four(server: EtcdServer) -> None:
    event = await server.propose(_set(server, "/foo", "bar"))
    assert (event.action, event.node.key, event.node.value) == ("set", "/foo", "bar")
    assert event.node.created_index == event.etcd_index == 4


async def test_failed_write_consumes_a_raft_index_only(server: EtcdServer) -> None:
    await server.propose(Create("/a", "1", False, False, None, server.now()))
    with pytest.raises(EtcdError) as caught:
        await server.propose(Create("/a", "2", False, False, None, server.now()))
    assert caught.value.code == 105
    assert (server.store.index, server.raft_index()) == (4, 6)
    await server.linearizable_read()


async def test_ttl_keys_expire_through_sync_entries(clock_and_server) -> None:
    clock, server = clock_and_server
    await server.propose(Set("/t", "x", False, clock.now + SECOND, False, clock.now))
    await asyncio.sleep(0.05)
    assert server.store.has_ttl_nodes(), "not due yet: the key must survive the Syncs"
    clock.now += 2 * SECOND
    await wait_until(lambda: not server.store.has_ttl_nodes(), 5)
    assert server.store.index == 5, "the expiry consumed one etcd index"
    with pytest.raises(EtcdError) as caught:
        server.store.get("/t")
    assert caught.value.code == 100


async def test_no_sync_entries_without_ttl_nodes(server: EtcdServer) -> None:
    await asyncio.sleep(0.05)
    assert server.raft_index() == 4


async def test_self_and_leader_stats(clock_and_server) -> None:
    clock, server = clock_and_server
    for i in range(3):
        await server.propose(_set(server, "/s", str(i)))
    clock.now += 74 * SECOND + 900_000_000
    stats = server.self_stats()
    assert list(stats)[:6] == [
        "name", "id", "state", "startTime", "leaderInfo", "recvAppendRequestCnt",
    ]  # fmt: skip
    assert stats["name"] == "n1" and stats["id"] == "2e1259d415f2a040"
    assert stats["state"] == "StateLeader"
    assert stats["leaderInfo"] == {
        "leader": "2e1259d415f2a040",
        "uptime": "1m14.9s",
        "startTime": gotime.rfc3339nano(T0),
    }
    assert stats["startTime"] == gotime.rfc3339nano(T0)
    assert (stats["recvAppendRequestCnt"], stats["sendAppendRequestCnt"]) == (0, 0)
    assert server.leader_stats() == {"leader": "2e1259d415f2a040", "followers": {}}


async def test_add_member_checks(server: EtcdServer) -> None:
    added = await server.add_member(("http://127.0.0.1:24810",))
    assert format_id(added.id) == "748a9048d3de52a2", "sha1 of URL + unix second, as etcd"
    assert (added.name, added.client_urls) == ("", ())
    assert [m.id for m in server.members()] == sorted([added.id, server.member_id])
    assert server.store.index == 4
    with pytest.raises(MembersError) as caught:
        await server.add_member(("http://127.0.0.1:24810",))
    assert (caught.value.status, caught.value.message) == (409, "membership: peerURL exists")
    with pytest.raises(MembersError) as caught:
        await server.update_member(added.id, (PEER,))
    assert caught.value.status == 409
    with pytest.raises(MembersError) as caught:
        await server.add_member(("http://127.0.0.1:24811",))
    assert caught.value.status == 500, "strict reconfig: 1 started of 3 would be no quorum"
    with pytest.raises(MembersError) as caught:
        await server.update_member(0xABC, ("http://127.0.0.1:1",))
    assert (caught.value.status, caught.value.message) == (404, "No such member: abc")


async def test_the_only_member_cannot_remove_itself(server: EtcdServer) -> None:
    with pytest.raises(MembersError) as caught:
        await server.remove_member(server.member_id)
    assert (caught.value.status, caught.value.message) == (500, "Internal Server Error")
    assert len(server.members()) == 1


async def test_restart_continues_the_indexes(tmp_path) -> None:
    config = _config(str(tmp_path / "n1.etcd"))
    first = await _started(config)
    await first.propose(_set(first, "/k", "v"))
    raft_index = first.raft_index()
    await first.stop()
    assert first.stop_reason == "server stopped"
    again = await _started(config)
    try:
        assert again.store.get("/k").node.value == "v"
        assert again.store.index == 5, "restored 4, then published again"
        assert again.raft_index() > raft_index
        assert again.member_id == first.member_id and again.cluster_id == first.cluster_id
    finally:
        await again.stop()


async def test_snapshots_release_the_wal_and_restore(tmp_path) -> None:
    data_dir = str(tmp_path / "n1.etcd")
    config = _config(data_dir, "--snapshot-count=20", "--max-snapshots=2", "--max-wals=2")
    first = await _started(config)
    for i in range(120):
        await first.propose(_set(first, f"/k{i % 7}", str(i)))
    await first.stop()
    snaps = os.listdir(os.path.join(data_dir, "member", "snap"))
    assert 1 <= len([n for n in snaps if n.endswith(".snap")]) <= 2
    again = await _started(config)
    try:
        assert again.store.get("/k1").node.value == "113"
        assert again.store.index == 3 + 120 + 1
    finally:
        await again.stop()


async def test_a_member_with_data_ignores_the_initial_cluster_flags(tmp_path) -> None:
    """As etcd 3.4 (checked: it restarts under another --name, a garbage --initial-cluster and
    mismatched advertise URLs): the WAL's ids are the member's, the flags are not even read."""
    data_dir = str(tmp_path / "n1.etcd")
    first = await _started(_config(data_dir))
    await first.propose(_set(first, "/k", "v"))
    await first.stop()
    config = _config(
        data_dir,
        "--initial-cluster-token=other",
        "--initial-cluster=elsewhere=http://127.0.0.1:1",
        "--initial-cluster-state=existing",
    )
    assert config.initial_cluster == ()
    again = await _started(config)
    try:
        assert (again.member_id, again.cluster_id) == (first.member_id, first.cluster_id)
        assert again.store.get("/k").node.value == "v"
    finally:
        await again.stop()


async def test_bootstrap_refusals_are_one_line(tmp_path) -> None:
    dup = f"n1={PEER},n2={PEER}"
    with pytest.raises(BootstrapError, match="--initial-cluster has duplicate url"):
        await EtcdServer(_config(str(tmp_path / "a"), f"--initial-cluster={dup}")).start()
    [dead] = free_ports(1)
    lonely = f"n1={PEER},n2=http://127.0.0.1:{dead}"
    config = _config(
        str(tmp_path / "b"), f"--initial-cluster={lonely}", "--initial-cluster-state=existing"
    )
    with pytest.raises(BootstrapError, match="cannot fetch cluster info from peer urls"):
        await EtcdServer(config).start()
    assert not os.path.exists(tmp_path / "b" / "member" / "wal")


async def test_undecodable_entries_are_counted_and_skipped() -> None:
    waiters = Waiters(0x2E1259D415F2A040, T0 // 1_000_000)
    applier = Applier(Store(), waiters)
    applier.apply_entry(1, b"\xc1garbage")
    applier.apply_entry(2, encode_entry(99, Set("/k", "v", False, None, False, T0)))
    assert (applier.dropped_entries, applier.applied_index, applier.store.index) == (1, 2, 1)
    assert len(waiters) == 0


def test_entries_round_trip_and_reject_garbage() -> None:
    cmd = Set("/k", "v", False, None, False, T0)
    assert decode_entry(encode_entry(7, cmd)) == (7, cmd)
    for bad in (b"", b"\x93\x01\x02\x03", encode_entry(1, cmd)[:-1]):
        with pytest.raises(BadCommand):
            decode_entry(bad)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"), (750, "750ns"), (1_500, "1.5µs"), (20_000_000, "20ms"),
        (2_694_013_620, "2.69401362s"), (74_900_000_000, "1m14.9s"), (3_605 * SECOND, "1h0m5s"),
        (-SECOND, "-1s"),
    ],
)  # fmt: skip
def test_go_duration_strings(ns: int, text: str) -> None:
    assert gotime.duration(ns) == text


@pytest.mark.parametrize(
    ("tz", "text"),
    [
        ("UTC", "2026-11-24T03:33:26.346372935Z"),
        ("CET-1", "2026-11-24T04:33:26.346372935+01:00"),
        ("XYZ+05:30", "2026-11-23T22:03:26.346372935-05:30"),
    ],
)
def test_rfc3339nano_in_the_local_zone(monkeypatch: pytest.MonkeyPatch, tz: str, text: str):
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert gotime.rfc3339nano(1_795_491_206_346_372_935) == text
        assert gotime.rfc3339nano(1_795_491_206_000_000_000).endswith(":26" + text[29:])
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_request_ids_carry_the_member_and_never_repeat() -> None:
    waiters = Waiters(0x2E1259D415F2A040, T0 // 1_000_000)
    done: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
    first = waiters.register(done, 0.0)
    second = waiters.register(asyncio.get_running_loop().create_future(), 0.0)
    assert first >> 48 == 0xA040 and second == first + 1
    waiters.trigger(first ^ (1 << 60), EtcdError(100))
    assert not done.done(), "an entry proposed by another member wakes nobody here"
    assert len(waiters) == 2


async def test_overdue_waiters_are_swept_in_start_order() -> None:
    waiters = Waiters(1, T0 // 1_000_000)
    loop = asyncio.get_running_loop()
    starts = (1.0, 2.0, 2.0, 3.0)
    futures = [loop.create_future() for _ in starts]
    ids = [waiters.register(future, start) for future, start in zip(futures, starts, strict=True)]
    waiters.cancel(ids[0])
    assert waiters.expire(0.5) == []
    assert waiters.expire(2.0) == [(futures[1], 2.0), (futures[2], 2.0)]
    assert ids[3] in waiters and ids[1] not in waiters and len(waiters) == 1
    waiters.trigger(ids[1], EtcdError(100))
    assert not futures[1].done(), "an expired waiter is no longer triggered"
