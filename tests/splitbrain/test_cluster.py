"""The detector in real member processes: a forced split brain (over peer mutual TLS) trips it
on every member within 30 s and clears when the split is gone; a healthy cluster, the leader
down, a member restarting and a member joining never trip it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable

from tests import procs
from tests.cluster.client import call
from tests.cluster.harness import running_cluster
from tests.tls_cluster.cluster import Cluster, Member, request, tls_cluster

TRIP_WITHIN = 30.0
CLEAR_WITHIN = 30.0
QUIET_RUN = 45.0
GAUGE = "pyetcd_server_split_brain"


def gauge(metrics: bytes) -> int:
    lines = [line for line in metrics.decode().splitlines() if line.startswith(f"{GAUGE} ")]
    assert len(lines) == 1, f"{GAUGE} missing from /metrics"
    return int(float(lines[0].split()[1]))


def wait(predicate: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:g}s\n{logs()}")
        time.sleep(0.5)


def tls_view(cluster: Cluster, member: Member) -> tuple[int, dict[str, str], int] | None:
    """(status, /health body, gauge) of a TLS member, None while it does not answer."""
    try:
        status, body = request(member.client_port, cluster.client, "GET", "/health", timeout=3)
        _, metrics = request(member.client_port, cluster.client, "GET", "/metrics", timeout=3)
    except OSError:
        return None
    return status, json.loads(body), gauge(metrics)


def tripped(view: tuple[int, dict[str, str], int] | None) -> bool:
    return (
        view is not None
        and view[0] == 503
        and view[1].get("health") == "false"
        and view[1].get("reason", "").startswith("split brain: ")
        and view[2] == 1
    )


def test_forced_split_brain_trips_every_member_and_clears() -> None:
    with tls_cluster("pyetcd") as cluster:
        m0, m1, m2 = cluster.members
        ids = [procs.member_id([m.peer_url], cluster.token) for m in cluster.members]
        old, new = procs.cluster_id(ids), procs.cluster_id(ids[2:])
        for member in cluster.members:
            view = tls_view(cluster, member)
            assert view is not None and view[0] == 200 and view[2] == 0, view
        # m2 comes back with wiped data as a cluster of its own while the others still list it.
        m2.stop()
        shutil.rmtree(m2.workdir / "data")
        m2.start(m2.argv(f"m2={m2.peer_url}", cluster.token, "new"))
        started = time.monotonic()

        def logs() -> str:
            return "\n".join(f"--- {m.name}\n{m.log()[-3000:]}" for m in cluster.members)

        def all_tripped() -> bool:
            return all(tripped(tls_view(cluster, m)) for m in cluster.members)

        wait(all_tripped, TRIP_WITHIN, "split brain on every member", logs)
        assert time.monotonic() - started < TRIP_WITHIN
        reason = tls_view(cluster, m0)[1]["reason"]  # type: ignore[index]
        assert reason.startswith("split brain: members answer for different clusters: cluster ")
        assert f"cluster {old:x} (members " in reason and f"cluster {new:x} (members " in reason
        for member in cluster.members:
            assert "split brain: members answer for different clusters" in member.log()
        # The split is gone once m2 stops: the others turn healthy again.
        m2.stop()

        def others_clear() -> bool:
            views = [tls_view(cluster, m) for m in (m0, m1)]
            return all(v is not None and v[0] == 200 and v[2] == 0 for v in views)

        wait(others_clear, CLEAR_WITHIN, "the others healthy again", logs)
        assert "split brain cleared" in m0.log()


def plain_view(port: int) -> tuple[int, dict[str, str], int] | None:
    health = call(port, "GET", "/health", timeout=3.0)
    metrics = call(port, "GET", "/metrics", timeout=3.0)
    if health is None or metrics is None:
        return None
    return health.status, json.loads(health.body), gauge(metrics.body)


def test_healthy_then_leader_down_restarting_and_joining_never_trip() -> None:
    with running_cluster("pyetcd", 3) as cluster:
        nodes = list(cluster.nodes)
        start = time.monotonic()
        down = cluster.leader()  # the harsher case: its followers hold a stale claim a moment
        phase = "all up"
        samples = 0
        while (elapsed := time.monotonic() - start) < QUIET_RUN:
            if phase == "all up" and elapsed > QUIET_RUN * 0.3:
                down.kill()
                phase = "the leader down"
            elif phase == "the leader down" and elapsed > QUIET_RUN * 0.5:
                down.restart()
                phase = "a member restarting"
            elif phase == "a member restarting" and elapsed > QUIET_RUN * 0.65:
                # Waits (sampling paused) until every member has been connected for 5 s.
                nodes.append(cluster.add_member(nodes[0], "m3"))
                phase = "a member joining"
            for node in cluster.running:
                view = plain_view(node.client_port)
                if view is None:
                    continue
                samples += 1
                assert "reason" not in view[1] and view[2] == 0, (
                    f"{node.name} tripped while {phase}: {view}\n{cluster.logs()}"
                )
            time.sleep(0.5)
        assert samples > 100
        for node in nodes:
            assert "split brain" not in node.log_tail(1 << 20), cluster.logs()
