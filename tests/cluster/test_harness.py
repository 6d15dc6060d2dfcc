"""The harness itself: teardown leaves nothing behind, and the durability check can fail."""

from __future__ import annotations

import os
import signal

import pytest

from tests.cluster.client import call, put_key
from tests.cluster.harness import running_cluster
from tests.cluster.load import lost_writes

pytestmark = pytest.mark.timeout(60)


def test_teardown_kills_paused_and_restarted_members_and_removes_files() -> None:
    with running_cluster("etcd", 3) as cluster:
        first, second, _ = cluster.nodes
        first.kill()
        first.restart()
        cluster.wait_ready()
        second.signal(signal.SIGSTOP)
        procs = [n.proc for n in cluster.nodes]
        dirs = [n.workdir for n in cluster.nodes]
    assert all(p is not None and p.poll() is not None for p in procs)
    assert not any(os.path.exists(d) for d in dirs)


def test_lost_writes_reports_missing_and_changed_values() -> None:
    with running_cluster("etcd", 1) as cluster:
        port = cluster.nodes[0].client_port
        for key in ("kept", "changed", "deleted"):
            assert put_key(port, f"lw/{key}", "v") is not None
        assert put_key(port, "lw/changed", "other") is not None
        assert call(port, "DELETE", "/v2/keys/lw/deleted") is not None
        acked = {"/lw/kept": "v", "/lw/changed": "v", "/lw/deleted": "v"}
        assert lost_writes(port, "lw", acked) == {
            "/lw/changed": ("v", "other"),
            "/lw/deleted": ("v", None),
        }
