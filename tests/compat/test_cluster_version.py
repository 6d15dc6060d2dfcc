"""/version's `etcdcluster` while a founding member is missing, etcd vs pyetcd: the leader sets
the minimum cluster version (3.0.0) when it cannot reach every member, so a serving member never
stays at `not_decided`, and raises it to 3.4.0 once every member answers."""

from __future__ import annotations

import shutil
import uuid

import pytest

from tests.cluster.client import get_json, wait_for
from tests.cluster.harness import BASE_ARGS, Cluster, Node

if shutil.which("etcd") is None:
    pytest.skip(
        "real etcd (Debian etcd-server 3.4.23) is not installed: the compat oracle is missing",
        allow_module_level=True,
    )

pytestmark = pytest.mark.timeout(180)

# etcd's leader re-decides every 4 s (rafthttp.ConnWriteTimeout - 1 s): allow a few rounds.
RAISE_TIMEOUT = 30.0


def _cluster_version(node: Node) -> str | None:
    got = get_json(node.client_port, "/version", timeout=1.0)
    return got[1].get("etcdcluster") if got and got[0] == 200 else None


def _versions_seen(impl: str) -> tuple[str, str]:
    token = f"version-{uuid.uuid4().hex[:12]}"
    cluster = Cluster(impl, token, BASE_ARGS, [Node(impl, f"m{i}", token) for i in range(3)])
    try:
        initial = cluster.initial_cluster(cluster.nodes)
        first, second, third = cluster.nodes
        for node in (first, second):
            node.start(initial, "new", BASE_ARGS)
        decided = wait_for(
            lambda: v if (v := _cluster_version(first)) not in (None, "not_decided") else None,
            RAISE_TIMEOUT,
            f"{impl}: a cluster version with a member missing",
        )
        third.start(initial, "new", BASE_ARGS)
        raised = wait_for(
            lambda: v if (v := _cluster_version(first)) == "3.4.0" else None,
            RAISE_TIMEOUT,
            f"{impl}: the cluster version raised",
        )
        return decided, raised
    finally:
        cluster.stop()


def test_cluster_version_with_a_member_missing_as_etcd() -> None:
    etcd = _versions_seen("etcd")
    assert etcd == ("3.0.0", "3.4.0")
    assert _versions_seen("pyetcd") == etcd
