"""In-process members over the real peer transport on 127.0.0.1, with short raft ticks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

from pyetcd.config import Config, load_config
from pyetcd.server import EtcdServer

FAST = ("--heartbeat-interval=10", "--election-timeout=100")
SEGMENT = 1 << 20


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out (held together, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def make_config(*args: str) -> Config:
    config = load_config([*FAST, *args], {})
    assert isinstance(config, Config)
    return config


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)
    assert cond(), what


class Cluster:
    """Members by name; each has its own data dir under `root` and fixed ports. Members need
    no settling time before a membership change unless `health_interval` says otherwise."""

    def __init__(
        self,
        root: str,
        names: Sequence[str],
        *extra: str,
        catchup_entries: int = 5000,
        health_interval: float = 0.0,
    ) -> None:
        self.root = root
        self.extra = extra
        self.catchup_entries = catchup_entries
        self.health_interval = health_interval
        self.names = list(names)
        self.peer_port: dict[str, int] = {}
        self.client_port: dict[str, int] = {}
        self.servers: dict[str, EtcdServer] = {}
        for name in names:
            self.reserve(name)

    def reserve(self, name: str) -> None:
        peer, client = free_ports(2)
        self.peer_port[name], self.client_port[name] = peer, client

    def peer_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.peer_port[name]}"

    def initial_cluster(self, names: Sequence[str]) -> str:
        return ",".join(f"{n}={self.peer_url(n)}" for n in names)

    def config(self, name: str, state: str = "new", members: Sequence[str] = ()) -> Config:
        peer = self.peer_url(name)
        client = f"http://127.0.0.1:{self.client_port[name]}"
        return make_config(
            f"--name={name}",
            f"--data-dir={self.root}/{name}.etcd",
            f"--initial-advertise-peer-urls={peer}",
            f"--listen-peer-urls={peer}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--initial-cluster={self.initial_cluster(members or self.names)}",
            f"--initial-cluster-state={state}",
            *self.extra,
        )

    async def start(self, name: str, state: str = "new", members: Sequence[str] = ()) -> EtcdServer:
        server = EtcdServer(
            self.config(name, state, members),
            wal_segment_size=SEGMENT,
            catchup_entries=self.catchup_entries,
            health_interval=self.health_interval,
        )
        await server.start()
        self.servers[name] = server
        return server

    async def start_all(self) -> None:
        for name in self.names:
            await self.start(name)
        await self.settled()

    async def settled(self, timeout: float = 15.0) -> EtcdServer:
        """Every running member published, a version set and one agreed leader: the leader."""
        running = [s for s in self.servers.values() if not s.done.is_set()]

        def agreed() -> bool:
            leads = {s.leader().id if s.leader() else 0 for s in running}
            return (
                len(leads) == 1
                and 0 not in leads
                and all(s.cluster_version() is not None for s in running)
                and all(m.name for s in running for m in s.members())
            )

        await wait_until(agreed, timeout, "the cluster did not settle")
        return self.leader()

    def leader(self) -> EtcdServer:
        return next(
            s for s in self.servers.values() if not s.done.is_set() and s.leader_stats() is not None
        )

    def followers(self) -> list[EtcdServer]:
        lead = self.leader()
        return [s for s in self.servers.values() if s is not lead and not s.done.is_set()]

    async def stop(self, name: str) -> None:
        await self.servers.pop(name).stop()

    async def stop_all(self) -> None:
        for name in list(self.servers):
            await self.stop(name)
