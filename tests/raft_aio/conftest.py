from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.raft_aio.cluster import SNAPPY, Cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    yield c
    await c.stop()


@pytest.fixture
async def snappy() -> AsyncIterator[Cluster]:
    """A cluster that snapshots every 10 entries and keeps 3 for catching up."""
    c = Cluster(options=SNAPPY)
    yield c
    await c.stop()
