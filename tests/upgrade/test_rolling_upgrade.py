"""A rolling upgrade from the build before peer protocol 2 (51c2d04) to this one, with real
processes: three members of the old build, replaced one at a time on the same data dirs,
writes succeeding at every step (so quorum is never lost), an old leader with a new follower
and a new leader with an old follower both seen, one member rolled back to the old build, every
key readable on every member at the end.

The old build is exported from this checkout's git history into a temporary directory and
installed into its own virtualenv; without a git checkout holding that commit the test skips.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial

import pytest

from tests import oldbuild, procs
from tests.cluster.client import FORM, call, wait_for
from tests.cluster.harness import BASE_ARGS, Cluster, Node

PREVIOUS = "51c2d04"
WRITE_RETRY = 15.0
CATCH_UP = 30.0
WRITES_PER_STEP = 10


@pytest.fixture(scope="module")
def old_build() -> Iterator[list[str]]:
    """The argv prefix that runs the previous build's daemon from its own virtualenv."""
    with oldbuild.old_build(PREVIOUS, "peer protocol 1") as (_, venv):
        # The console script, not `python -m`: the working directory (this checkout) must not
        # shadow the old build's packages.
        yield [str(venv / "bin" / "pyetcd")]


NEW = procs.command("pyetcd")


def run_as(node: Node, prefix: list[str], old: list[str]) -> None:
    """Restart `node` (same flags, same data dir) with another build's command."""
    node.kill()
    node.argv = [*prefix, *node.argv[len(old) :]]
    node.restart()


class Upgrade:
    """The cluster plus what was written; `build` says which build each member runs."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.written: dict[str, str] = {}
        self.build = {node.name: "old" for node in cluster.nodes}
        self.directions: set[tuple[str, str]] = set()

    def write(self, count: int, phase: str) -> None:
        """Each write retried on every running member until accepted: failing for
        WRITE_RETRY seconds means the running members had no quorum."""
        for _ in range(count):
            key = f"k{len(self.written):03d}"
            value = f"{phase}-{key}"

            def attempt(key: str = key, value: str = value) -> bool | None:
                for node in self.cluster.running:
                    reply = call(
                        node.client_port, "PUT", f"/v2/keys/up/{key}",
                        f"value={value}".encode(), FORM, timeout=3.0,
                    )  # fmt: skip
                    if reply is not None and reply.status in (200, 201):
                        return True
                return None

            try:
                wait_for(attempt, WRITE_RETRY, f"write {key} while {phase}", interval=0.1)
            except AssertionError as exc:
                raise AssertionError(f"quorum lost: {exc}\n{self.cluster.logs()}") from None
            self.written[key] = value

    def caught_up(self, node: Node) -> None:
        """`node` serves the last key from its own store."""
        key = max(self.written)

        def has_last() -> bool | None:
            reply = call(node.client_port, "GET", f"/v2/keys/up/{key}", timeout=2.0)
            return True if reply is not None and reply.status == 200 else None

        wait_for(has_last, CATCH_UP, f"{node.name} catching up", interval=0.1)

    def leader(self) -> Node:
        return self.cluster.leader(timeout=CATCH_UP)

    def lead_from(self, build: str) -> Node:
        """Make a member of `build` the leader: pause other-build leaders until one is."""
        for _ in range(5):
            leader = self.leader()
            if self.build[leader.name] == build:
                return leader
            leader.signal(signal.SIGSTOP)
            try:
                wait_for(partial(self._leader_other_than, leader), CATCH_UP, "a new leader", 0.05)
            finally:
                leader.signal(signal.SIGCONT)
        raise AssertionError(f"no {build} leader after 5 elections\n{self.cluster.logs()}")

    def _leader_other_than(self, paused: Node) -> bool | None:
        seen = {self.cluster.leader_seen_by(n) for n in self.cluster.running if n is not paused}
        return (
            True if len(seen) == 1 and None not in seen and paused.member_id not in seen else None
        )

    def check_direction(self, phase: str) -> None:
        """Write with the current leader and see every follower of the other build apply it."""
        leader = self.leader()
        self.write(WRITES_PER_STEP, phase)
        for node in self.cluster.running:
            self.caught_up(node)
            if node is not leader:
                self.directions.add((self.build[leader.name], self.build[node.name]))


@pytest.fixture
def old_cluster(
    old_build: list[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Cluster, list[str]]]:
    token = f"upgrade-{os.getpid()}"
    nodes = [Node("pyetcd", f"m{i}", token) for i in range(3)]
    cluster = Cluster("pyetcd", token, BASE_ARGS, nodes)
    try:
        initial = cluster.initial_cluster(cluster.nodes)
        with monkeypatch.context() as patch:
            patch.setattr(procs, "command", lambda impl: old_build)
            for node in cluster.nodes:
                node.start(initial, "new", BASE_ARGS)
        cluster.wait_ready()
        yield cluster, old_build
    finally:
        cluster.stop()


def test_rolling_upgrade_from_protocol_1_keeps_quorum(
    old_cluster: tuple[Cluster, list[str]],
) -> None:
    cluster, old = old_cluster
    up = Upgrade(cluster)
    up.write(WRITES_PER_STEP, "all old")
    # Replace a follower first, then the leader, then the last: at the second step the only
    # members up are one of each build, which must form a quorum together.
    first = next(n for n in cluster.nodes if n is not up.leader())
    order = [first, up.leader()]
    order.append(next(n for n in cluster.nodes if n not in order))
    for step, node in enumerate(order, 1):
        node.kill()
        up.write(WRITES_PER_STEP, f"step {step}: {node.name} down")
        run_as(node, NEW, old)
        up.build[node.name] = "new"
        up.caught_up(node)
        if step < 3:
            up.lead_from("old" if step == 1 else "new")
            up.check_direction(f"step {step}: mixed")
    assert {("old", "new"), ("new", "old")} <= up.directions, up.directions
    up.check_direction("all new")
    # A deploy rolled back: one member returns to the old build on the data this one wrote.
    back = next(n for n in cluster.nodes if n is not up.leader())
    run_as(back, old, NEW)
    up.build[back.name] = "old"
    up.caught_up(back)
    up.check_direction("rolled back one member")
    for node in cluster.nodes:
        for key, value in up.written.items():
            reply = call(node.client_port, "GET", f"/v2/keys/up/{key}?quorum=true", timeout=5.0)
            assert reply is not None and reply.status == 200, (node.name, key, reply)
            assert reply.json()["node"]["value"] == value
    logs = cluster.logs(1 << 20)
    assert "(protocol 1)" in logs, "no member of this build spoke protocol 1 to the old build"
    assert "split brain:" not in logs
    # The old build closes status exchanges with a warning; each new member asks it once, then
    # falls back to INFO requests for a minute (longer than this test).
    assert 1 <= logs.count("unknown connection kind 3") <= 3, logs
    assert "refused info connection" not in logs
