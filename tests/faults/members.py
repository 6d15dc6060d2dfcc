"""Real pyetcd or etcd members on their namespace's loopback addresses (fixed ports: the
namespace is theirs alone). A member keeps its address, data dir and log across kill -9 and
restart, so it comes back as the same member."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests import procs
from tests.cluster.harness import Node
from tests.faults.netns import GID_BASE, Namespace, address

CLIENT_PORT = 2379
PEER_PORT = 2380
# Slower than tests/cluster's timing: a loaded 2-core machine must not elect all the time.
TIMING = ("--heartbeat-interval", "50", "--election-timeout", "500")


@dataclass(slots=True)
class Member(Node):
    """A tests/cluster node on its namespace address, run with its own group id (the
    partition rules tell members apart by it)."""

    index: int = 0
    wrapper: tuple[str, ...] = ()  # a command the member runs under (env, faketime, ...)
    launcher: tuple[str, ...] = ()  # runs the command inside the namespace
    paused: bool = False

    @property
    def host(self) -> str:
        return address(self.index)

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{CLIENT_PORT}"

    @property
    def data_dir(self) -> str:
        return os.path.join(self.workdir, "data")

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{PEER_PORT}"

    def start_in(self, ns: Namespace, initial_cluster: str, state: str, extra: list[str]) -> None:
        self.launcher = (*ns.prefix(), *self.wrapper)
        self.start(initial_cluster, state, ["--enable-v2", *TIMING, *extra])

    def restart(self) -> None:
        assert not self.alive, f"{self.name} is still running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.launcher, *self.argv], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                group=GID_BASE + self.index, extra_groups=[],
            )  # fmt: skip
        self.paused = False

    def kill(self) -> None:
        Node.kill(self)
        self.paused = False

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def request(
        self,
        method: str,
        path: str,
        body: str | None = None,
        timeout: float = 1.0,
        json_body: bool = False,
    ) -> tuple[int, Any]:
        """(status, decoded JSON body or None); raises OSError when unreachable. The calling
        thread must be inside the namespace."""
        conn = http.client.HTTPConnection(self.host, CLIENT_PORT, timeout=timeout)
        try:
            kind = "application/json" if json_body else "application/x-www-form-urlencoded"
            headers = {"Content-Type": kind}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except http.client.HTTPException as exc:
            raise OSError(str(exc)) from exc
        finally:
            conn.close()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, None

    def leader_name(self) -> str | None:
        with contextlib.suppress(OSError):
            status, body = self.request("GET", "/v2/members/leader")
            if status == 200 and isinstance(body, dict):
                return body.get("name") or None
        return None


@dataclass
class Cluster:
    """The members of one run; `stop()` kills every process and removes every directory."""

    ns: Namespace
    impl: str
    extra: list[str]
    members: list[Member] = field(default_factory=list)
    spawned: list[Member] = field(default_factory=list)
    cluster_id: int = 0

    def boot(self, size: int, token: str, prepare: Callable[[Member], None] | None = None) -> None:
        """Start `size` members; `prepare` runs on each before it starts (its data dir made)."""
        self.members = [self._new_member(i, token) for i in range(size)]
        self.cluster_id = procs.cluster_id([int(m.member_id, 16) for m in self.members])
        initial = self._initial_cluster()
        for member in self.members:
            if prepare is not None:
                os.makedirs(member.data_dir, mode=0o700)
                prepare(member)
            member.start_in(self.ns, initial, "new", self.extra)

    def _new_member(self, index: int, token: str) -> Member:
        member = Member(self.impl, f"m{index}", token, CLIENT_PORT, PEER_PORT, index=index)
        self.spawned.append(member)
        return member

    def _initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def replace(self, victim: Member, timeout: float = 20.0) -> str:
        """Remove `victim` through the other members, kill it, and add a fresh member (new
        address, empty data dir) in its place; what happened, as a line for the run's log."""
        # By id, not by name: a member added by an earlier replacement may not have published
        # its name yet (seed 31 on 5 members removed one 7.5 s after adding it, across a bridge).
        others = [m for m in self.members if m is not victim]
        _retry(lambda: _membership_call(others, "DELETE", f"/v2/members/{victim.member_id}",
                                        None, 204), timeout, f"removing {victim.name}")  # fmt: skip
        victim.kill()
        index = max(m.index for m in self.spawned) + 1
        self.ns.add_member(index)
        member = self._new_member(index, victim.token)
        body = json.dumps({"peerURLs": [member.peer_url]})
        added = _retry(lambda: _membership_call(others, "POST", "/v2/members", body, 201),
                       timeout, f"adding {member.name}")  # fmt: skip
        member.member_id = added["id"]
        self.members[self.members.index(victim)] = member
        member.start_in(self.ns, self._initial_cluster(), "existing", self.extra)
        return f"removed {victim.name} ({victim.member_id}), added {member.name} ({added['id']})"

    def by_name(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def leader(self) -> Member | None:
        """The leader named by every running, unpaused member that answers."""
        seen = {m.leader_name() for m in self.members if m.alive and not m.paused}
        if len(seen) != 1:
            return None
        name = seen.pop()
        return self.by_name(name) if name else None

    def wait_ready(self, timeout: float = 60.0) -> Member:
        """Every member running and serving a quorum read, under one leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            crashed = [m.name for m in self.members if m.proc is not None and not m.alive]
            if crashed:
                raise AssertionError(f"members exited by themselves: {crashed}\n{self.logs()}")
            leader = self.leader()
            if leader is not None and all(self._serves(m) for m in self.members):
                return leader
            time.sleep(0.2)
        raise AssertionError(f"{self.impl} cluster not ready within {timeout:.0f}s\n{self.logs()}")

    @staticmethod
    def _serves(member: Member) -> bool:
        with contextlib.suppress(OSError):
            return member.request("GET", "/v2/keys/?quorum=true", timeout=2.0)[0] == 200
        return False

    def stop(self) -> None:
        for member in self.spawned:
            member.kill()
        for member in self.spawned:
            member.remove_files()

    def save_logs(self, directory: str) -> None:
        for member in self.spawned:
            with contextlib.suppress(OSError):
                shutil.copy(member.log_path, os.path.join(directory, f"{member.name}.log"))

    def count_in_logs(self, text: str) -> int:
        """Lines holding `text` in every member's log so far."""
        count = 0
        for member in self.spawned:
            with contextlib.suppress(OSError), open(member.log_path, "rb") as fh:
                count += sum(text.encode() in line for line in fh)
        return count

    def logs(self) -> str:
        return "\n".join(f"--- {m.name} ---\n{m.log_tail()}" for m in self.members)


T = TypeVar("T")


def _retry(attempt: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = attempt()
        if got is not None:
            return got
        time.sleep(0.25)
    raise AssertionError(f"{what}: no success within {timeout:.0f}s")


def _membership_call(
    members: list[Member], method: str, path: str, body: str | None, expect: int
) -> Any:
    """The answer of the first member that carries the change out (etcd refuses, with 500,
    a change its strict reconfiguration check finds unsafe for now: try again later)."""
    for member in members:
        with contextlib.suppress(OSError):
            status, answer = member.request(method, path, body, timeout=5.0, json_body=True)
            if status == expect:
                return answer if answer is not None else {}
    return None
