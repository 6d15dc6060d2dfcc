"""`ETCDCTL_API=2 etcdctl` member list/add/remove and cluster-health against a 3-member cluster."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests import procs
from tests.cluster.client import wait_for
from tests.cluster.harness import Cluster, running_cluster

pytestmark = pytest.mark.timeout(180)

UNHEALTHY = 5  # etcdctl's exit code for a degraded or unavailable cluster
LIST_LINE = re.compile(
    r"^(?P<id>[0-9a-f]+): name=(?P<name>\S+) peerURLs=(?P<peer>\S+) "
    r"clientURLs=(?P<client>\S+) isLeader=(?P<leader>true|false)$"
)


def _etcdctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("etcdctl")
    assert binary is not None, "etcdctl (Debian etcd-client) is not installed"
    endpoints = ",".join(n.client_url for n in cluster.running)
    return subprocess.run(
        [binary, "--endpoints", endpoints, *args],
        env={**os.environ, "ETCDCTL_API": "2"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _listed(cluster: Cluster, line: str) -> bool | None:
    done = _etcdctl(cluster, "member", "list")
    return True if done.returncode == 0 and line in done.stdout.splitlines() else None


def _member_count(cluster: Cluster, count: int) -> bool | None:
    return True if len(_etcdctl(cluster, "member", "list").stdout.splitlines()) == count else None


def _health(cluster: Cluster) -> tuple[int, list[str]]:
    done = _etcdctl(cluster, "cluster-health")
    return done.returncode, done.stdout.splitlines()


def _health_becomes(cluster: Cluster, code: int, verdict: str) -> list[str]:
    def probe() -> list[str] | None:
        got, lines = _health(cluster)
        return lines if got == code and lines and lines[-1] == verdict else None

    return wait_for(probe, 15.0, f"cluster-health: {verdict!r}, exit {code}", interval=0.2)


def test_etcdctl_membership_and_health(impl: str) -> None:
    with running_cluster(impl, 3) as cluster:
        leader = cluster.leader()
        listed = _etcdctl(cluster, "member", "list")
        assert listed.returncode == 0, listed
        rows = [LIST_LINE.match(line) for line in listed.stdout.splitlines()]
        assert all(rows) and len(rows) == 3, listed.stdout
        assert {(m["id"], m["name"], m["peer"], m["client"]) for m in rows if m} == {
            (n.member_id, n.name, n.peer_url, n.client_url) for n in cluster.nodes
        }
        assert [m["id"] for m in rows if m and m["leader"] == "true"] == [leader.member_id]

        lines = _health_becomes(cluster, 0, "cluster is healthy")
        for node in cluster.nodes:
            assert (
                f"member {node.member_id} is healthy: got healthy result from {node.client_url}"
                in lines
            )

        peer = f"http://{procs.HOST}:{procs.free_port()}"

        def add() -> subprocess.CompletedProcess[str] | None:
            # etcd refuses adds until every member has been connected for 5 s (exit 1).
            done = _etcdctl(cluster, "member", "add", "m3", peer)
            return done if done.returncode == 0 else None

        added = wait_for(add, 30.0, "etcdctl member add", interval=0.5)
        found = re.match(r"Added member named m3 with ID ([0-9a-f]+) to cluster\n", added.stdout)
        assert found, added.stdout
        new_id = found.group(1)
        assert 'ETCD_NAME="m3"\n' in added.stdout
        assert 'ETCD_INITIAL_CLUSTER_STATE="existing"\n' in added.stdout
        initial = re.search(r'ETCD_INITIAL_CLUSTER="([^"]*)"', added.stdout)
        assert initial is not None
        assert set(initial.group(1).split(",")) == {
            *(f"{n.name}={n.peer_url}" for n in cluster.nodes),
            f"m3={peer}",
        }
        # etcdctl may ask a member that has not applied the add yet: poll, bounded.
        wait_for(
            lambda: _listed(cluster, f"{new_id}[unstarted]: peerURLs={peer}"),
            10.0,
            "the unstarted member in `member list`",
        )
        lines = _health_becomes(cluster, UNHEALTHY, "cluster is degraded")
        assert f"member {new_id} is unreachable: no available published client urls" in lines

        removed = _etcdctl(cluster, "member", "remove", new_id)
        assert (removed.returncode, removed.stdout) == (
            0,
            f"Removed member {new_id} from cluster\n",
        ), removed
        wait_for(lambda: _member_count(cluster, 3), 10.0, "three members in `member list`")

        follower = next(n for n in cluster.nodes if n is not leader)
        follower.kill()
        lines = _health_becomes(cluster, UNHEALTHY, "cluster is degraded")
        assert f"member {leader.member_id} is healthy: got healthy result from " in "\n".join(lines)
        leader.kill()
        lines = _health_becomes(cluster, UNHEALTHY, "cluster is unavailable")
        survivor = cluster.running[0]
        assert (
            f"member {survivor.member_id} is unhealthy: got unhealthy result from "
            f"{survivor.client_url}" in lines
        ), lines
