"""`--host-whitelist` and `--listen-metrics-urls`, etcd vs pyetcd, request by request.

Both members run with `--host-whitelist example.com,127.0.0.1` and one metrics URL; every
answer (status, headers in wire order, body) is compared after `normalise.record`, on the
client port (421 for a foreign Host, before CORS and OPTIONS; Go's own 400 for a malformed or
repeated Host, before that) and on the metrics port (only `/metrics` and `/health`, no CORS
headers, no whitelist).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from typing import Any

import pytest

from tests import procs
from tests.compat import rawhttp
from tests.compat.normalise import Context, Identity, first_difference, record

if shutil.which("etcd") is None:
    pytest.skip(
        "real etcd (Debian etcd-server 3.4.23) is not installed: the compat oracle is missing",
        allow_module_level=True,
    )

pytestmark = pytest.mark.timeout(120)

Request = tuple[str, str, tuple[tuple[str, str], ...]]
FOREIGN = (("Host", "evil.example:2379"),)

CLIENT_REQUESTS: Sequence[Request] = (
    ("GET", "/version", ()),
    ("GET", "/version", (("Host", "example.com:80"),)),
    ("GET", "/version", (("Host", "example.com"),)),
    ("GET", "/version", FOREIGN),
    ("GET", "/health", FOREIGN),
    ("GET", "/metrics", FOREIGN),
    ("OPTIONS", "/v2/keys/a", FOREIGN),
    ("GET", "/v2/keys/a", (*FOREIGN, ("Origin", "http://o"))),
    ("PUT", "/v2/keys/a?value=1", FOREIGN),
    ("GET", "/v2/keys/a", (("Host", "[::1]:2379"),)),
    ("GET", "/v2/keys/a", (("Host", "a:b:c"),)),
    ("GET", "/v2/keys/a", (("Host", 'q"uote'),)),
    ("GET", "/version", (("Host", "a b"),)),
    ("GET", "/v2/keys/a", (("Host", "example.com"), ("Host", "example.com"))),
    ("GET", "/nope//x", FOREIGN),
    ("PUT", "/v2/keys/a?value=1", ()),
    ("GET", "/v2/keys/a", ()),
)
METRICS_REQUESTS: Sequence[Request] = (
    ("GET", "/health", FOREIGN),
    ("HEAD", "/health", ()),
    ("POST", "/health", ()),
    ("GET", "/metrics", FOREIGN),
    ("POST", "/metrics", ()),
    ("GET", "/version", ()),
    ("GET", "/v2/keys/a", ()),
    ("GET", "/metrics/", ()),
    ("GET", "/metrics", (("Host", "a b"),)),
    ("GET", "//health", ()),
    ("OPTIONS", "/health", (("Origin", "http://o"),)),
)


async def _answers(port: int, ident: Identity, requests: Sequence[Request]) -> list[Any]:
    out = []
    for method, target, headers in requests:
        try:
            resp = await rawhttp.request(port, method, target, headers=headers)
        except rawhttp.NoResponse as exc:
            out.append((method, target, "no-response", str(exc)))
            continue
        out.append((method, target, headers, record(resp, Context.of(method, target), ident)))
    return out


async def _run(impl: str) -> tuple[list[Any], list[Any], str]:
    metrics_port = procs.free_port()
    args = (
        *procs.FAST_TIMING,
        "--enable-v2",
        "--host-whitelist", "example.com,127.0.0.1",
        "--listen-metrics-urls", f"http://{procs.HOST}:{metrics_port}",
    )  # fmt: skip
    async with procs.running_member_async(impl, extra_args=args) as member:
        ident = Identity(member.client_port, member.peer_port, member.member_id, member.cluster_id)
        client = await _answers(member.client_port, ident, CLIENT_REQUESTS)
        metrics = await _answers(metrics_port, ident, METRICS_REQUESTS)
        return client, metrics, member.log_tail()


def test_host_whitelist_and_metrics_listener_answer_as_etcd() -> None:
    async def both() -> list[tuple[list[Any], list[Any], str]]:
        return list(await asyncio.gather(_run("etcd"), _run("pyetcd")))

    (etcd_client, etcd_metrics, _), (py_client, py_metrics, py_log) = asyncio.run(both())
    assert etcd_client[3][3][0] == ("status", 421), "the oracle refuses a foreign Host"
    for etcd, ours in ((etcd_client, py_client), (etcd_metrics, py_metrics)):
        difference = first_difference(tuple(etcd), tuple(ours))
        assert difference is None, difference
    assert 'rejecting HTTP request from "evil.example" to prevent DNS rebinding' in py_log
    assert "listening for metrics on http://127.0.0.1:" in py_log
