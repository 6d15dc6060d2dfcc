"""Every cluster test runs once per implementation; knobs for longer soak runs come from env.

CLUSTER_IMPLS      implementations to run (default `etcd,pyetcd`)
CLUSTER_ROUNDS     leader kill -9 rounds in the failover test (default 5, the issue's minimum)
CLUSTER_SNAP_WRITES writes made while a follower is paused (default 6000: etcd keeps 5000
                   entries behind a snapshot for slow followers, so fewer would not force one)
"""

from __future__ import annotations

import os

import pytest

IMPLS = tuple(os.environ.get("CLUSTER_IMPLS", "etcd,pyetcd").split(","))
ROUNDS = int(os.environ.get("CLUSTER_ROUNDS", "5"))
SNAP_WRITES = int(os.environ.get("CLUSTER_SNAP_WRITES", "6000"))


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)
