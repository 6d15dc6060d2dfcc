"""The client-facing aiohttp application: CORS, Go's path handling, then etcd's routes.

One catch-all route: etcd routes on the percent-decoded, cleaned path (Go `ServeMux`), which
aiohttp's router cannot express, so the raw request target is dispatched here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from http_api import members, status
from http_api.keys import MAX_FORM_SIZE, KeysHandler
from http_api.keys import PREFIX as KEYS_PREFIX
from http_api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from http_api.metrics import Metrics
from http_api.paths import BadRequestTarget, parse_target, redirect_body
from http_api.protocol import KeysServer
from http_api.responses import TEXT, Headers, not_found

__all__ = ["HANDLER_ARGS", "make_app"]

_CORS_METHODS = "POST, GET, OPTIONS, PUT, DELETE"
_CORS_HEADERS = "accept, content-type, authorization"
# Go's server reads up to 1 MiB of request line plus headers; aiohttp's defaults (8 KiB) would
# refuse long keys that etcd accepts. Disconnecting clients cancel their handler, which is how
# a watch notices the client went away (writes are shielded from that cancellation).
HANDLER_ARGS = {
    "max_line_size": 1 << 20,
    "max_field_size": 1 << 20,
    "handler_cancellation": True,
}

Handler = Callable[[web.Request, str, Headers], Awaitable[web.StreamResponse]]


def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Headers": _CORS_HEADERS,
        "Access-Control-Allow-Methods": _CORS_METHODS,
        "Access-Control-Allow-Origin": origin,
    }


class _Client:
    """Request dispatch for one member's client listener."""

    def __init__(self, server: KeysServer, cors: tuple[str, ...]) -> None:
        self._server = server
        self._metrics = Metrics(server)
        self._keys = KeysHandler(server, self._metrics.counters)
        self._any_origin = not cors or "*" in cors
        self._origins = frozenset(cors)
        self._star = _cors("*")
        self._routes: dict[str, Handler] = {
            "/version": self._version,
            "/health": self._health,
            "/metrics": self._metrics_text,
            "/v2/machines": self._machines,
            "/v2/members": self._members,
            "/v2/stats/store": self._stats,
            "/v2/stats/self": self._stats,
            "/v2/stats/leader": self._stats,
        }

    def _cors_for(self, request: web.Request) -> Headers:
        if self._any_origin:
            return self._star
        origin = request.headers.get("Origin")
        if origin is not None and origin in self._origins:
            return _cors(origin)
        return {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            target = parse_target(request.raw_path)
        except BadRequestTarget:
            return _bad_request()
        cors = self._cors_for(request)
        if request.method == "OPTIONS":
            return web.Response(status=200, headers=cors)
        if target.redirect is not None:
            return _redirect(request.method, target.redirect, cors)
        path = target.path
        if path.startswith(KEYS_PREFIX) and (len(path) == 8 or path[8] == "/"):
            return await self._keys.handle(request, path, target.query, cors)
        route = self._routes.get(path)
        if route is not None:
            return await route(request, path, cors)
        if path.startswith("/v2/members/"):
            return await self._members(request, path, cors)
        return not_found(cors)

    async def _version(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return status.handle_version(request.method, self._server, cors)

    async def _health(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return await status.handle_health(
            request.method, self._server, self._metrics.counters, cors
        )

    async def _metrics_text(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        headers = {**cors, "Content-Type": METRICS_CONTENT_TYPE}
        return web.Response(status=200, body=self._metrics.render(), headers=headers)

    async def _machines(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return members.handle_machines(request, self._server, cors)

    async def _members(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return await members.handle_members(request, self._server, path, cors)

    async def _stats(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        which = path.rsplit("/", 1)[1]
        return status.handle_stats(request.method, which, self._server, cors)


def _bad_request() -> web.Response:
    """What Go's server itself answers for an unparsable request target (no handler runs)."""
    return web.Response(
        status=400,
        body=b"400 Bad Request",
        headers={"Content-Type": TEXT, "Connection": "close"},
    )


def _redirect(method: str, location: str, cors: Headers) -> web.Response:
    """`http.Redirect` as `ServeMux` uses it: HTML type for GET/HEAD, a body only for GET."""
    headers = {**cors, "Location": location}
    if method in ("GET", "HEAD"):
        headers["Content-Type"] = "text/html; charset=utf-8"
    body = redirect_body(location) if method == "GET" else b""
    return web.Response(status=301, body=body, headers=headers)


def make_app(server: KeysServer, *, cors: tuple[str, ...] = ("*",)) -> web.Application:
    """The client API of `server`. `cors` lists allowed origins (`*`: any), as `--cors` does."""
    app = web.Application(handler_args=HANDLER_ARGS, client_max_size=MAX_FORM_SIZE + 1)
    app.router.add_route("*", "/{tail:.*}", _Client(server, cors).handle)
    return app
