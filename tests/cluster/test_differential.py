"""The compat idea on a cluster: one request sequence spread over the three members of a real
etcd cluster and of a candidate cluster must give the same normalised answers, step by step.

A member's local reads and watches answer from its own store, which may legitimately lag the
leader; each one here follows a write or a quorum read on the same member, so every answer,
X-Etcd-Index included, is deterministic. Run with the candidate `etcd` this
self-tests the comparison.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from tests.cluster.harness import Cluster, Node, cluster_id, running_cluster
from tests.compat import rawhttp
from tests.compat.normalise import Context, Identity, first_difference, record

pytestmark = pytest.mark.timeout(120)

FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
FIRST = 8  # a fresh 3-member cluster's first user write (7 internal writes before it)


@dataclass(frozen=True, slots=True)
class Step:
    member: int
    method: str
    target: str
    body: str = ""
    watch: str | None = None  # start in the background under this label ...
    collect: str | None = None  # ... and record it at the step naming the same label


STEPS = (
    Step(0, "PUT", "/v2/keys/d/a", "value=1"),
    Step(1, "GET", "/v2/keys/d/a?quorum=true"),
    Step(2, "GET", "/v2/keys/d/a?quorum=true"),
    Step(1, "PUT", "/v2/keys/d/a?prevValue=1", "value=2"),
    Step(2, "PUT", "/v2/keys/d/a?prevValue=1", "value=3"),
    Step(0, "PUT", "/v2/keys/d/a?prevIndex=1", "value=4"),
    Step(0, "GET", "/v2/keys/d/a"),  # the member that wrote last reads locally
    Step(0, "POST", "/v2/keys/q", "value=first"),
    Step(2, "POST", "/v2/keys/q", "value=second"),
    Step(1, "GET", "/v2/keys/q?recursive=true&sorted=true&quorum=true"),
    Step(0, "PUT", "/v2/keys/d/b?prevExist=false", "value=new"),
    Step(1, "PUT", "/v2/keys/d/b?prevExist=false", "value=again"),
    Step(2, "PUT", "/v2/keys/d/b?prevExist=true", "value=updated"),
    Step(1, "GET", "/v2/keys/d/b?quorum=true"),  # member 1 has applied everything so far ...
    Step(1, "GET", "/v2/keys/d/a?wait=true", watch="w1"),  # ... so its X-Etcd-Index is exact
    Step(2, "PUT", "/v2/keys/d/a", "value=watched"),
    Step(1, "GET", "", collect="w1"),
    Step(0, "GET", "/v2/keys/q?quorum=true"),
    Step(0, "GET", f"/v2/keys/d/a?wait=true&waitIndex={FIRST}"),
    Step(2, "PUT", "/v2/keys/t?ttl=300", "value=expiring"),
    Step(1, "GET", "/v2/keys/t?quorum=true"),
    Step(0, "PUT", "/v2/keys/e?dir=true"),
    Step(1, "DELETE", "/v2/keys/e"),
    Step(2, "DELETE", "/v2/keys/e?dir=true"),
    Step(0, "DELETE", "/v2/keys/d/b?prevValue=wrong"),
    Step(1, "DELETE", "/v2/keys/d/b?prevValue=updated"),
    Step(2, "GET", "/v2/keys/d/b?quorum=true"),
    Step(0, "GET", "/v2/keys/?recursive=true&quorum=true"),
    Step(1, "GET", "/v2/keys/d?quorum=true"),
    Step(2, "DELETE", "/v2/keys/d?recursive=true"),
    Step(0, "GET", "/v2/keys/?quorum=true"),
)


def _identity(cluster: Cluster, node: Node) -> Identity:
    return Identity(node.client_port, node.peer_port, node.member_id, cluster_id(cluster.nodes))


def _note(cluster: Cluster, step: Step, resp: rawhttp.Response) -> tuple[str, Any]:
    ident = _identity(cluster, cluster.nodes[step.member])
    ctx = Context.of(step.method, step.target)
    return f"m{step.member} {step.method} {step.target}", record(resp, ctx, ident)


async def _run(cluster: Cluster) -> list[tuple[str, Any]]:
    background: dict[str, tuple[Step, rawhttp.PendingResponse]] = {}
    out: list[tuple[str, Any]] = []
    for step in STEPS:
        if step.collect is not None:
            started, pending = background.pop(step.collect)
            out.append(_note(cluster, started, await pending.finish(5.0)))
            continue
        pending = await rawhttp.send(
            cluster.nodes[step.member].client_port, step.method, step.target,
            headers=FORM if step.body else (), body=step.body.encode(), timeout=5.0,
        )  # fmt: skip
        if step.watch is not None:
            background[step.watch] = (step, pending)  # headers arrived: the watch is registered
        else:
            out.append(_note(cluster, step, await pending.finish(5.0)))
    return out


def test_spread_requests_match_etcd(impl: str) -> None:
    with running_cluster("etcd", 3) as reference:
        expected = asyncio.run(_run(reference))
    with running_cluster(impl, 3) as candidate:
        got = asyncio.run(_run(candidate))
    assert len(got) == len(expected)
    for (label, ref), (_, cand) in zip(expected, got, strict=True):
        difference = first_difference(ref, cand)
        assert difference is None, f"{label}: etcd vs {impl}: {difference}"
