"""The simulator's own parts: clock, network, disk and the state machine."""

from __future__ import annotations

import random

from raft import Entry, HardState, Snapshot, SnapshotMeta
from tests.lincheck.history import Kind
from tests.sim.disk import SimDisk
from tests.sim.events import EventQueue
from tests.sim.kv import KV, Command
from tests.sim.network import LinkPolicy, SimNetwork


def test_events_run_in_time_then_insertion_order() -> None:
    events = EventQueue()
    seen: list[str] = []
    events.at(5, lambda: seen.append("b"))
    events.at(1, lambda: seen.append("a"))
    events.at(5, lambda: seen.append("c"))
    events.run_until(4)
    assert seen == ["a"] and events.now == 4
    events.run_until(10)
    assert seen == ["a", "b", "c"] and events.now == 10


def _network(policy: LinkPolicy, seed: int = 1) -> tuple[EventQueue, SimNetwork, list]:
    events = EventQueue()
    got: list[tuple[int, int, bytes]] = []
    net = SimNetwork(events, random.Random(seed), lambda f, t, b: got.append((f, t, b)), policy)
    return events, net, got


def test_links_keep_order_unless_they_reorder() -> None:
    events, net, got = _network(LinkPolicy(min_delay=1, max_delay=30))
    for i in range(50):
        net.send(1, 2, bytes([i]))
    events.run_until(1000)
    assert [b for _, _, b in got] == [bytes([i]) for i in range(50)]
    events, net, got = _network(LinkPolicy(min_delay=1, max_delay=30, reorder=True))
    for i in range(50):
        net.send(1, 2, bytes([i]))
    events.run_until(1000)
    assert sorted(b for _, _, b in got) == [bytes([i]) for i in range(50)]
    assert [b for _, _, b in got] != [bytes([i]) for i in range(50)]


def test_drops_and_duplicates_follow_the_policy() -> None:
    events, net, got = _network(LinkPolicy(drop=0.5, duplicate=0.5))
    for _ in range(400):
        net.send(1, 2, b"m")
    events.run_until(100)
    assert 100 < net.stats.dropped < 300
    assert net.stats.duplicated > 50
    assert len(got) == 400 - net.stats.dropped + net.stats.duplicated


def test_partitions_block_both_ways_and_in_flight_frames() -> None:
    events, net, got = _network(LinkPolicy(min_delay=5, max_delay=5))
    reports: list[bool] = []
    net.send(1, 2, b"early", reports.append)
    net.partition([1], [2, 3])
    assert not net.send(2, 1, b"x")
    assert net.send(2, 3, b"y")
    events.run_until(10)
    assert [b for _, _, b in got] == [b"y"]
    assert reports == [False]
    net.heal()
    net.cut_one_way(1, 3)
    assert not net.send(1, 3, b"z")
    assert net.send(3, 1, b"w", reports.append)
    events.run_until(20)
    assert [b for _, _, b in got] == [b"y", b"w"]
    assert reports == [False, True]


def _entries(term: int, lo: int, hi: int) -> list[Entry]:
    return [Entry(term, i, data=b"%d" % i) for i in range(lo, hi + 1)]


def test_crash_loses_what_was_not_synced() -> None:
    disk = SimDisk()
    disk.write(None, _entries(1, 1, 3), HardState(1, 1, 2))
    disk.sync()
    disk.write(None, _entries(1, 4, 6), HardState(1, 1, 5))
    assert disk.crash(random.Random(0), tear=False) == 4
    assert disk.durable.last_index == 3
    assert disk.durable.hard_state == HardState(1, 1, 2)


def test_a_torn_write_keeps_a_prefix_of_the_records() -> None:
    kept = set()
    for seed in range(40):
        disk = SimDisk()
        disk.write(None, _entries(1, 1, 2), HardState(1, 1, 1))
        disk.sync()
        disk.write(None, _entries(2, 2, 4), HardState(2, 0, 2))
        disk.crash(random.Random(seed), tear=True)
        image = disk.durable
        kept.add(image.last_index)
        terms = [e.term for e in image.entries]
        assert (
            terms == sorted(terms)
            and [e.index for e in image.entries] == [1, 2, 3, 4][: image.last_index]
        )
        if image.hard_state == HardState(2, 0, 2):
            assert image.last_index == 4
    assert kept == {2, 3, 4}


def test_snapshots_replace_or_compact_the_durable_log() -> None:
    disk = SimDisk()
    disk.write(None, _entries(1, 1, 6), HardState(1, 1, 6))
    disk.sync()
    disk.save_local_snapshot(Snapshot(SnapshotMeta(4, 1), b"s"))
    assert [e.index for e in disk.durable.entries] == [5, 6]
    disk.write(Snapshot(SnapshotMeta(9, 2), b"t"), [], HardState(2, 0, 9))
    disk.sync()
    assert disk.durable.entries == [] and disk.durable.last_index == 9


def test_kv_applies_each_request_once() -> None:
    kv = KV()
    assert kv.apply(Command(1, Kind.WRITE, "x", "a")) == (True, None)
    assert kv.apply(Command(2, Kind.CAS, "x", "b", "z")) == (True, False)
    assert kv.apply(Command(3, Kind.CAS, "x", "b", "a")) == (True, True)
    assert kv.apply(Command(1, Kind.WRITE, "x", "a")) == (False, None)
    assert kv.data == {"x": "b"}
    assert KV.decode(kv.encode()) == kv
    cmd = Command(7, Kind.CAS, "y", "v", None)
    assert Command.decode(cmd.encode()) == cmd
