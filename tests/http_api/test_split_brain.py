"""What the split-brain detector's finding does to /health and /metrics."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from pyetcd.server import EtcdServer
from tests.http_api.conftest import raw_request
from tests.splitbrain.test_cluster import gauge

REASON = 'split brain: members answer for different clusters: cluster c1 (members a) vs "c2"'


async def test_split_brain_fails_health_with_its_reason_and_sets_the_gauge(
    client: TestClient, server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gauge((await raw_request(client, "GET", "/metrics")).body) == 0
    monkeypatch.setattr(server, "split_brain", lambda: REASON)
    resp = await raw_request(client, "GET", "/health")
    assert resp.status == 503
    assert resp.body.endswith(b"\n")
    assert json.loads(resp.body) == {"health": "false", "reason": REASON}
    assert list(json.loads(resp.body)) == ["health", "reason"]
    assert gauge((await raw_request(client, "GET", "/metrics")).body) == 1
    monkeypatch.setattr(server, "split_brain", lambda: "")
    resp = await raw_request(client, "GET", "/health")
    assert (resp.status, resp.body) == (200, b'{"health":"true"}')
