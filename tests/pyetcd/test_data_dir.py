"""Where a member's data lives (`--wal-dir`), how it is written (`--unsafe-no-fsync`), and that a
first start which fails writes nothing: in-process single members on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import pytest

from pyetcd.bootstrap import BootstrapError, layout
from pyetcd.config import Config, help_text, load_config
from pyetcd.server import EtcdServer
from raft.aio.fs import NoSyncFS
from store.commands import Set
from tests.pyetcd.harness import SEGMENT, free_ports, make_config, wait_until
from tests.raft_aio.cluster import CountingFS


def _config(data_dir: str, *extra: str):
    peer, client = free_ports(2)
    return make_config(
        "--name=n1",
        f"--data-dir={data_dir}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=n1=http://127.0.0.1:{peer}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        *extra,
    )


async def _started(config) -> EtcdServer:
    server = EtcdServer(config, sync_interval=0.01, wal_segment_size=SEGMENT)
    await server.start()
    await asyncio.wait_for(server.wait_published(), 10)
    await wait_until(lambda: server.cluster_version() is not None, 10)
    return server


async def _write_and_stop(config, value: str = "v") -> None:
    server = await _started(config)
    await server.propose(Set("/k", value, False, None, False, server.now()))
    await server.stop()


def _tree(root: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in (*dirs, *files)
    )


async def test_the_wal_lives_in_wal_dir_and_the_snapshots_in_the_data_dir(tmp_path) -> None:
    data_dir, wal_dir = str(tmp_path / "n1.etcd"), str(tmp_path / "disk2" / "wal")
    config = _config(data_dir, f"--wal-dir={wal_dir}", "--snapshot-count=5")
    await _write_and_stop(config)
    assert [n for n in os.listdir(wal_dir) if n.endswith(".wal")]
    assert os.listdir(os.path.join(data_dir, "member")) == ["snap"]
    assert [n for n in os.listdir(os.path.join(data_dir, "member", "snap")) if n.endswith(".snap")]
    again = await _started(config)
    try:
        assert again.store.get("/k").node.value == "v"
    finally:
        await again.stop()


async def test_a_wal_dir_given_to_a_member_with_its_own_wal_is_refused(tmp_path) -> None:
    """etcd 3.4 starts an empty log in the new dir and serves an empty v2 store (checked):
    pyetcd refuses, names where the log is and writes nothing."""
    data_dir, wal_dir = str(tmp_path / "n1.etcd"), str(tmp_path / "wal")
    await _write_and_stop(_config(data_dir))
    with pytest.raises(BootstrapError) as caught:
        await EtcdServer(_config(data_dir, f"--wal-dir={wal_dir}")).start()
    message = str(caught.value)
    assert f"holds no WAL but {data_dir}/member/wal does" in message
    assert "\n" not in message
    assert not os.path.exists(wal_dir)


@pytest.mark.parametrize("second", ["", "other"])
async def test_a_member_started_without_the_wal_dir_it_was_bootstrapped_with_is_refused(
    tmp_path, second: str
) -> None:
    data_dir = str(tmp_path / "n1.etcd")
    await _write_and_stop(_config(data_dir, f"--wal-dir={tmp_path / 'wal'}"))
    before = _tree(str(tmp_path))
    extra = (f"--wal-dir={tmp_path / second}",) if second else ()
    with pytest.raises(BootstrapError, match="start it with the --wal-dir it was bootstrapped"):
        await EtcdServer(_config(data_dir, *extra)).start()
    assert _tree(str(tmp_path)) == before


async def test_a_creation_that_fails_removes_what_it_created(tmp_path) -> None:
    """Only what this start made: a WAL dir that was there (a mount point) stays, emptied of
    the segment written into it; the data dir it was given stays too."""
    data_dir, wal_dir = tmp_path / "n1.etcd", tmp_path / "mount"
    data_dir.mkdir()
    wal_dir.mkdir()
    (wal_dir / "lost+found").mkdir()
    (data_dir / "member").write_text("not a directory")
    before = _tree(str(tmp_path))
    with pytest.raises(BootstrapError, match="cannot create the member's data in"):
        await EtcdServer(_config(str(data_dir), f"--wal-dir={wal_dir}")).start()
    assert _tree(str(tmp_path)) == before


async def test_a_failed_join_writes_nothing(tmp_path) -> None:
    dead, peer = free_ports(2)
    data_dir = tmp_path / "n2.etcd"
    data_dir.mkdir()
    config = make_config(
        "--name=n2",
        f"--data-dir={data_dir}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=n1=http://127.0.0.1:{dead},n2=http://127.0.0.1:{peer}",
        "--initial-cluster-state=existing",
    )
    with pytest.raises(BootstrapError, match="cannot fetch cluster info from peer urls"):
        await EtcdServer(config).start()
    assert os.listdir(data_dir) == []


async def test_a_busy_peer_port_writes_nothing(tmp_path) -> None:
    data_dir = tmp_path / "n1.etcd"
    data_dir.mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        peer = f"http://127.0.0.1:{busy.getsockname()[1]}"
        config = make_config(
            "--name=n1",
            f"--data-dir={data_dir}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=n1={peer}",
            f"--listen-peer-urls={peer}",
        )
        with pytest.raises(OSError, match="bind: address already in use"):
            await EtcdServer(config).start()
    assert os.listdir(data_dir) == []
    await _write_and_stop(_config(str(data_dir)))


def test_unsafe_no_fsync_skips_every_file_and_directory_sync(tmp_path) -> None:
    counting = CountingFS()
    fs = NoSyncFS(counting)
    file = fs.open_write(str(tmp_path / "f"))
    file.write(0, b"abc")
    file.fdatasync()
    file.fsync()
    file.close()
    fs.fsync_dir(str(tmp_path))
    assert counting.fdatasyncs == 0
    assert fs.read(str(tmp_path / "f")) == b"abc"
    assert isinstance(layout(_config(str(tmp_path / "a"), "--unsafe-no-fsync")).fs, NoSyncFS)
    assert not isinstance(layout(_config(str(tmp_path / "b"))).fs, NoSyncFS)


async def test_unsafe_no_fsync_warns_and_still_keeps_data_across_a_restart(
    tmp_path, caplog
) -> None:
    config = _config(str(tmp_path / "n1.etcd"), "--unsafe-no-fsync")
    with caplog.at_level(logging.WARNING, "etcdserver"):
        await _write_and_stop(config)
    assert any("--unsafe-no-fsync is set" in r.getMessage() for r in caplog.records)
    again = await _started(config)
    try:
        assert again.store.get("/k").node.value == "v"
    finally:
        await again.stop()


@pytest.mark.parametrize(("flag", "expected"), [((), False), (("--pre-vote",), True)])
def test_pre_vote_reaches_the_raft_node(tmp_path, flag: tuple[str, ...], expected: bool) -> None:
    server = EtcdServer(_config(str(tmp_path / "n1.etcd"), *flag))
    assert server._options.pre_vote is expected


def test_the_durability_flags_are_active_from_flags_and_environment(tmp_path) -> None:
    config = _config(
        str(tmp_path / "n1.etcd"),
        "--wal-dir=/disk2/wal",
        "--pre-vote",
        "--initial-election-tick-advance=false",
        "--unsafe-no-fsync",
        "--max-request-bytes=2048",
        "--force-new-cluster",
    )
    assert (config.wal_dir, config.pre_vote, config.initial_election_tick_advance) == (
        "/disk2/wal",
        True,
        False,
    )
    assert (config.unsafe_no_fsync, config.max_request_bytes, config.force_new_cluster) == (
        True,
        2048,
        True,
    )
    # etcd 3.4.23 bounds only gRPC requests with it: the v3-only line, and its >10 MiB warning.
    assert config.inert == ("max-request-bytes",)
    from_env = load_config(["--name=n1"], {"ETCD_WAL_DIR": "/w", "ETCD_PRE_VOTE": "true"})
    assert isinstance(from_env, Config)
    assert (from_env.wal_dir, from_env.pre_vote) == ("/w", True)
    shown = help_text().splitlines()
    for name in ("wal-dir", "pre-vote", "initial-election-tick-advance", "unsafe-no-fsync",
                 "max-request-bytes", "force-new-cluster"):  # fmt: skip
        usage = shown[shown.index(next(s for s in shown if s.startswith(f"  --{name} "))) + 1]
        assert "(accepted)" not in usage, usage
