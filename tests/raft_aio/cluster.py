"""An in-process cluster of AsyncRaftNodes joined by a loopback "transport" on the event loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import msgpack

from raft.aio.fs import FS, FaultyFS, File, OsFS
from raft.aio.node import AsyncRaftNode, NodeOptions
from raft.aio.recovery import Boot, open_data_dir
from raft.aio.wal import Metadata
from raft.messages import InstallSnapshot, Message
from raft.types import ConfChange, ConfChangeKind, ConfState, Entry

FAST = NodeOptions(heartbeat_interval=0.01, election_timeout=0.15)
SNAPPY = NodeOptions(
    heartbeat_interval=0.01, election_timeout=0.15, snapshot_count=10, catchup_entries=3
)
CLUSTER_ID = 0xC1


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll `cond` every few ms; fail the test after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)
    assert cond(), what


class CountingFile:
    """Delegates to a real file, counting fdatasyncs for its FS."""

    def __init__(self, file: File, fs: CountingFS) -> None:
        self._file, self._fs = file, fs

    def write(self, offset: int, data: bytes) -> None:
        self._file.write(offset, data)

    def fsync(self) -> None:
        self._file.fsync()

    def fdatasync(self) -> None:
        self._fs.fdatasyncs += 1
        self._file.fdatasync()

    def truncate(self, size: int) -> None:
        self._file.truncate(size)

    def preallocate(self, length: int) -> None:
        self._file.preallocate(length)

    def size(self) -> int:
        return self._file.size()

    def close(self) -> None:
        self._file.close()


class CountingFS(OsFS):
    """The real disk, counting the fdatasyncs (the WAL's group commits) through the FS seam."""

    def __init__(self) -> None:
        self.fdatasyncs = 0

    def open_write(self, path: str) -> CountingFile:  # type: ignore[override]
        return CountingFile(super().open_write(path), self)


class App:
    """A list of applied payloads: easy to compare across members and restarts."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.conf: list[tuple[ConfChange, ConfState, int]] = []
        self.restored = 0
        self.removed = False

    def apply(self, entries: Sequence[Entry]) -> None:
        assert all(e.data for e in entries)
        self.data.extend(e.data for e in entries)

    def on_conf_change(self, cc: ConfChange, conf_state: ConfState, index: int) -> None:
        self.conf.append((cc, conf_state, index))

    def snapshot_data(self) -> bytes:
        return msgpack.packb(self.data)

    def restore(self, data: bytes) -> None:
        self.data = list(msgpack.unpackb(data))
        self.restored += 1

    def on_removed(self) -> None:
        self.removed = True


class Cluster:
    """Members by id, each with its own disk (a FaultyFS by default, so it can lose power)."""

    def __init__(
        self,
        options: NodeOptions = FAST,
        fs_factory: Callable[[int], FS] = lambda _id: FaultyFS(),
        root: str = "/data",
        seed: int = 7,
        segment_size: int = 1 << 20,
        max_wals: int = 5,
    ) -> None:
        self.options = options
        self.segment_size, self.max_wals = segment_size, max_wals
        self.root = root
        self.fs_factory = fs_factory
        self.fs: dict[int, FS] = {}
        self.nodes: dict[int, AsyncRaftNode] = {}
        self.apps: dict[int, App] = {}
        self.cut: set[int] = set()
        self.rng = random.Random(seed)
        self.delivered = 0

    def data_dir(self, node_id: int) -> str:
        return f"{self.root}/{node_id}"

    def boot(self, node_id: int) -> Boot:
        fs = self.fs.setdefault(node_id, self.fs_factory(node_id))
        return open_data_dir(
            self.data_dir(node_id),
            Metadata(CLUSTER_ID, node_id),
            fs=fs,
            segment_size=self.segment_size,
            max_wals=self.max_wals,
            preallocate=False,
        )

    async def start(self, ids: Sequence[int], *, bootstrap: bool = True) -> None:
        peers = [ConfChange(ConfChangeKind.ADD, i) for i in ids] if bootstrap else []
        for node_id in ids:
            await self.start_node(node_id, peers if bootstrap else ())

    async def start_node(
        self, node_id: int, bootstrap: Sequence[ConfChange] = (), boot: Boot | None = None
    ) -> AsyncRaftNode:
        boot = boot or self.boot(node_id)
        app = App()
        node = AsyncRaftNode(
            boot,
            app,
            self._sender(node_id),
            self.options,
            rng=random.Random(self.rng.getrandbits(32)),
        )
        self.nodes[node_id], self.apps[node_id] = node, app
        await node.start(bootstrap)
        return node

    def _sender(self, frm: int) -> Callable[[Sequence[Message]], None]:
        loop = asyncio.get_running_loop()

        def send(messages: Sequence[Message]) -> None:
            for msg in messages:
                if frm in self.cut or msg.to in self.cut:
                    continue
                loop.call_soon(self._deliver, frm, msg)

        return send

    def _deliver(self, frm: int, msg: Message) -> None:
        node = self.nodes.get(msg.to)
        if node is None or msg.to in self.cut:
            return
        self.delivered += 1
        node.step(msg)
        if isinstance(msg, InstallSnapshot) and frm in self.nodes:
            self.nodes[frm].report_snapshot(msg.to, True)

    async def leader(self, timeout: float = 10.0) -> AsyncRaftNode:
        """The leader every reachable running member agrees on."""

        def agreed() -> bool:
            live = [n for i, n in self.nodes.items() if i not in self.cut and n.error is None]
            leaders = [n for n in live if n.is_leader]
            return len(leaders) == 1 and all(n.leader_id == leaders[0].id for n in live)

        await wait_until(agreed, timeout, "no agreed leader")
        return next(n for i, n in self.nodes.items() if i not in self.cut and n.is_leader)

    def crash(self, node_id: int, *, power_lost: bool = True) -> None:
        """Kill a member without stop(): tasks cancelled, WAL never closed, then power lost
        (or, without `power_lost`, a process kill: what was written stays, synced or not)."""
        node = self.nodes.pop(node_id)
        for task in node._tasks:
            task.cancel()
        node._disk.shutdown()
        if power_lost:
            fs = self.fs[node_id]
            assert isinstance(fs, FaultyFS)
            fs.power_cut()

    async def stop(self) -> None:
        for node in list(self.nodes.values()):
            await node.stop()
        self.nodes.clear()
