"""`/version`, `/health` and `/v2/stats/*`: bodies without a trailing newline, GET only."""

from __future__ import annotations

import logging

from aiohttp import web

from http_api.goheaders import SniffedResponse
from http_api.gojson import dumps
from http_api.metrics import HttpCounters
from http_api.protocol import KeysServer
from http_api.responses import TEXT, Headers, json_body, message, method_not_allowed, text_error

log = logging.getLogger("etcdhttp")

SERVER_VERSION = "3.4.23"
_HEALTHY = b'{"health":"true"}'


def handle_version(method: str, server: KeysServer, cors: Headers) -> web.Response:
    if method != "GET":
        return method_not_allowed(cors, "GET")
    cluster = server.cluster_version() or "not_decided"
    body = f'{{"etcdserver":"{SERVER_VERSION}","etcdcluster":{dumps(cluster)}}}'
    return json_body(200, body.encode(), cors)


async def handle_health(
    method: str, server: KeysServer, counters: HttpCounters, cors: Headers
) -> web.Response:
    """200 `{"health":"true"}` (sniffed as text) or 503 through `http.Error` (newline)."""
    if method != "GET":
        return method_not_allowed(cors, "GET")
    try:
        healthy = await server.health()
    except Exception:
        log.exception("health check failed")
        healthy = False
    if not healthy:
        counters.health_failures += 1
        log.warning("/health error (status code 503)")
        return text_error(503, _unhealthy(server.split_brain()), cors)
    counters.health_success += 1
    return SniffedResponse(status=200, body=_HEALTHY, headers={**cors, "Content-Type": TEXT})


def _unhealthy(split_brain: str) -> str:
    """etcd 3.4's body; a split brain adds the `reason` key etcd 3.5's /health carries."""
    if not split_brain:
        return '{"health":"false"}'
    return f'{{"health":"false","reason":{dumps(split_brain)}}}'


def handle_stats(method: str, which: str, server: KeysServer, cors: Headers) -> web.Response:
    """`which` is `store`, `self` or `leader`."""
    if method != "GET":
        return method_not_allowed(cors, "GET")
    if which == "store":
        stats: dict[str, object] | None = dict(server.store.stats().as_json_dict())
    elif which == "self":
        stats = server.self_stats()
    else:
        stats = server.leader_stats()
        if stats is None:
            return message(403, "not current leader", cors)
    return json_body(200, dumps(stats).encode(), cors)
