"""Multi-member clusters of real etcd or pyetcd processes on free 127.0.0.1 ports.

A `Node` keeps its ports, data dir and log across kill/restart, so a restarted member comes
back as the same member with its own data. `Cluster.stop()` kills every process it started
(SIGKILL to the process group, SIGSTOPped ones included) and removes every directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tests import procs
from tests.cluster.client import Reply, call, get_json, wait_for

# Fast raft timing (both implementations take etcd's flags); ELECTION_S is the timeout in seconds.
TIMING = ("--heartbeat-interval", "10", "--election-timeout", "100")
ELECTION_S = 0.1
BASE_ARGS = (*TIMING, "--enable-v2")
READY_TIMEOUT = 40.0
ADD_TIMEOUT = 30.0


@dataclass(slots=True)
class Node:
    """One member: ports and directories fixed at creation, the process replaced on restart."""

    impl: str
    name: str
    token: str
    client_port: int = field(default_factory=procs.free_port)
    peer_port: int = field(default_factory=procs.free_port)
    workdir: str = ""
    member_id: str = ""  # hex, no padding (as etcd prints it)
    argv: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix=f"{self.impl}-cluster-{self.name}-")
        self.member_id = f"{procs.member_id([self.peer_url], self.token):x}"

    @property
    def client_url(self) -> str:
        return f"http://{procs.HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{procs.HOST}:{self.peer_port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "member.log")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, initial_cluster: str, state: str, extra_args: Sequence[str]) -> None:
        self.argv = [
            *procs.command(self.impl),
            "--name", self.name,
            "--data-dir", os.path.join(self.workdir, "data"),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-state", state,
            "--initial-cluster-token", self.token,
            *extra_args,
        ]  # fmt: skip
        self.restart()

    def restart(self) -> None:
        """Run the same command line again (same data dir: the member resumes its state)."""
        assert not self.alive, f"{self.name} is still running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.alive and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """kill -9 (works on a SIGSTOPped member too) and reap."""
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def log_tail(self, limit: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def remove_files(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(slots=True)
class Cluster:
    impl: str
    token: str
    extra_args: tuple[str, ...]
    nodes: list[Node]  # the current members, in start order
    spawned: list[Node] = field(default_factory=list)  # every node ever started, for teardown

    def __post_init__(self) -> None:
        self.spawned.extend(self.nodes)

    @property
    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def by_id(self, member_id: str) -> Node:
        return next(n for n in self.nodes if n.member_id == member_id)

    def leader_seen_by(self, node: Node) -> str | None:
        got = get_json(node.client_port, "/v2/members/leader", timeout=1.0)
        return got[1].get("id") if got and got[0] == 200 else None

    def leader(self, timeout: float = 10.0) -> Node:
        """The member every running member names as leader (waits for them to agree)."""
        return self.by_id(wait_for(self._agreed_leader, timeout, "an agreed leader"))

    def _agreed_leader(self) -> str | None:
        seen = {self.leader_seen_by(n) for n in self.running}
        if len(seen) != 1:
            return None
        leader = seen.pop()
        alive = {n.member_id for n in self.running}
        return leader if leader in alive else None

    def _ready(self) -> bool | None:
        expected = {n.member_id for n in self.nodes}
        for node in self.running:
            version = get_json(node.client_port, "/version", timeout=1.0)
            if not version or version[1].get("etcdcluster") in (None, "not_decided"):
                return None
            members = get_json(node.client_port, "/v2/members", timeout=1.0)
            if not members or members[0] != 200:
                return None
            listed = members[1]["members"]
            if {m["id"] for m in listed} != expected or not all(m["name"] for m in listed):
                return None
            keys = call(node.client_port, "GET", "/v2/keys", timeout=1.0)
            if keys is None or keys.status != 200:
                return None
        return True if self._agreed_leader() else None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Every running member: version decided, full member list published, same leader."""
        try:
            wait_for(self._ready_or_crashed, timeout, f"{self.impl} cluster ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def _ready_or_crashed(self) -> bool | None:
        crashed = self.crashed()
        if crashed:
            raise AssertionError(f"{self.impl} members exited by themselves: {crashed}")
        return self._ready()

    def crashed(self) -> list[str]:
        """Members whose process ended without `kill()` (a crash, or a bind failure)."""
        return [n.name for n in self.nodes if n.proc is not None and not n.alive]

    def initial_cluster(self, nodes: Sequence[Node]) -> str:
        return ",".join(f"{n.name}={n.peer_url}" for n in nodes)

    def add_member(self, via: Node, name: str) -> Node:
        """POST /v2/members on `via`, then start the new member with state `existing`."""
        node = Node(self.impl, name, self.token)
        self.spawned.append(node)
        body = json.dumps({"peerURLs": [node.peer_url]}).encode()

        def attempt() -> Reply | None:
            reply = call(via.client_port, "POST", "/v2/members", body, "application/json", 10.0)
            return None if reply is None or reply.status == 500 else reply

        # With --strict-reconfig-check (the default) etcd refuses an add (500) until every
        # member has been connected for 5 s; the refusal happens before anything is proposed.
        reply = wait_for(attempt, ADD_TIMEOUT, f"member add of {name}", interval=0.25)
        assert reply.status == 201, f"member add: {reply}\n{self.logs()}"
        node.member_id = reply.json()["id"]
        self.nodes.append(node)
        node.start(self.initial_cluster(self.nodes), "existing", self.extra_args)
        return node

    def remove_member(self, via: Node, node: Node) -> None:
        reply = call(via.client_port, "DELETE", f"/v2/members/{node.member_id}", timeout=10.0)
        assert reply is not None and reply.status == 204, f"member remove: {reply}\n{self.logs()}"
        self.nodes.remove(node)

    def stop(self) -> None:
        for node in self.spawned:
            node.kill()
        for node in self.spawned:
            node.remove_files()

    def logs(self, limit: int = 1500) -> str:
        return "\n".join(f"--- {n.name} ({n.impl}) ---\n{n.log_tail(limit)}" for n in self.nodes)


def cluster_id(nodes: Sequence[Node]) -> str:
    """etcd's cluster ID for bootstrap members (sha1 over their sorted IDs)."""
    return f"{procs.cluster_id([int(n.member_id, 16) for n in nodes]):x}"


def _new_cluster(impl: str, size: int, extra_args: tuple[str, ...]) -> Cluster:
    token = f"cluster-{uuid.uuid4().hex[:12]}"
    return Cluster(impl, token, extra_args, [Node(impl, f"m{i}", token) for i in range(size)])


@contextlib.contextmanager
def running_cluster(
    impl: str, size: int, extra_args: Sequence[str] = (), attempts: int = 2
) -> Iterator[Cluster]:
    """A fresh `size`-member cluster, ready; every process killed and every file removed after.

    A member that exits during boot is retried once on new ports (a free port can be taken by
    another process between choosing and binding it); a boot that merely times out is not.
    """
    args = (*BASE_ARGS, *extra_args)
    booted: list[Cluster] = []
    try:
        for attempt in range(attempts):
            cluster = _new_cluster(impl, size, args)
            booted.append(cluster)
            initial = cluster.initial_cluster(cluster.nodes)
            for node in cluster.nodes:
                node.start(initial, "new", args)
            try:
                cluster.wait_ready()
                break
            except AssertionError:
                if attempt == attempts - 1 or not cluster.crashed():
                    raise
                cluster.stop()
        yield cluster
    finally:
        for cluster in booted:
            cluster.stop()
