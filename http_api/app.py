"""The client-facing aiohttp application: CORS, Go's path handling, then etcd's routes.

One catch-all route: etcd routes on the percent-decoded, cleaned path (Go `ServeMux`), which
aiohttp's router cannot express, so the raw request target is dispatched here.
"""

from __future__ import annotations

import ast
import asyncio
import gzip
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError

from http_api import debug, members, status
from http_api.auth import PREFIX as AUTH_PREFIX
from http_api.auth import Auth, AuthHandler, CertUser
from http_api.goheaders import BareResponse, GoRequest, chunk_large, go_order
from http_api.hosts import HostWhitelist, go_hostname, go_quote, host_problem, rejection_text
from http_api.keys import MAX_FORM_SIZE, KeysHandler, Pending
from http_api.keys import PREFIX as KEYS_PREFIX
from http_api.lane import FastLane
from http_api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from http_api.metrics import Metrics, accepts_gzip
from http_api.paths import BadRequestTarget, parse_target, redirect_body
from http_api.protocol import KeysServer
from http_api.responses import TEXT, Headers, Reply, not_found, text_error
from http_api.snapshot import PATH as SNAPSHOT_PATH
from http_api.snapshot import SnapshotHandler
from http_api.wire import Head

__all__ = ["HANDLER_ARGS", "make_app", "make_metrics_server", "make_server"]

log = logging.getLogger("embed")

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

# Go's method syntax (an RFC 7230 token); any such method reaches etcd's handlers.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# etcd's gRPC gateway owns these subtrees: it answers every path it does not know itself.
_V3_PREFIXES = ("/v3/", "/v3beta/")

Handler = Callable[[web.Request, str, Headers], Awaitable[web.StreamResponse]]


def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Headers": _CORS_HEADERS,
        "Access-Control-Allow-Methods": _CORS_METHODS,
        "Access-Control-Allow-Origin": origin,
    }


class _Client:
    """Request dispatch for one member's client listener."""

    def __init__(
        self,
        server: KeysServer,
        cors: tuple[str, ...],
        cert_user: CertUser | None,
        enable_v2: bool,
        host_whitelist: tuple[str, ...] = ("*",),
    ) -> None:
        self._server = server
        self.hosts = HostWhitelist(host_whitelist)
        self._v2_off = not enable_v2
        self._metrics = Metrics(server)
        self.metrics_routes: dict[str, Handler] = {
            "/health": self._health,
            "/metrics": self._metrics_text,
        }
        self._auth = Auth(server, cert_user)
        self._auth_handler = AuthHandler(server, self._auth)
        self._keys = KeysHandler(server, self._metrics.counters, self._auth)
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
        self._routes.update(debug.routes(server))
        snapshots = SnapshotHandler(server, self._auth, cert_user is not None)
        self._routes[SNAPSHOT_PATH] = snapshots.handle

    def _cors_for(self, origin: str | None) -> Headers:
        if self._any_origin:
            return self._star
        if origin is not None and origin in self._origins:
            return _cors(origin)
        return {}

    def lane_reply(self, head: Head, body: bytes) -> Reply | Pending | None:
        """The fast lane's request, routed as `dispatch` routes it: `/v2/keys` only."""
        try:
            target = parse_target(head.target)
        except BadRequestTarget:
            return None
        path = target.path
        if target.redirect is not None or self._v2_off or not _is_keys(path):
            return None
        cors = self._cors_for(head.origin)
        return self._keys.lane(head.method, path, target.query, head.content_type, body, cors)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        response = await self.dispatch(request, request.raw_path)
        chunk_large(response)
        return response

    def refuse(self, request: web.BaseRequest, raw_target: str) -> web.StreamResponse | None:
        """etcd's answer to a request whose method llhttp cannot parse (unknown, lower case).

        Every route refuses such a method before its first await, so the dispatch coroutine
        finishes on its first step; should it ever suspend, None lets aiohttp answer 400."""
        step = self.dispatch(request, raw_target)
        try:
            step.send(None)
        except StopIteration as done:
            response: web.StreamResponse = done.value
            return response
        step.close()
        return None

    async def dispatch(self, request: web.BaseRequest, raw_target: str) -> web.StreamResponse:
        try:
            target = parse_target(raw_target)
        except BadRequestTarget:
            return _bad_request()
        problem = host_problem(request.headers.get("Host"), request.version >= (1, 1))
        if problem is not None:
            return _bad_request(problem)
        if self.hosts.restricts and not request.secure:
            host = go_hostname(request.headers.get("Host", ""))
            if not self.hosts.allows(host):
                log.warning(
                    "rejecting HTTP request from %s to prevent DNS rebinding attacks",
                    go_quote(host),
                )
                return text_error(421, rejection_text(host), {})
        cors = self._cors_for(request.headers.get("Origin"))
        if request.method == "OPTIONS":
            return web.Response(status=200, headers=cors)
        if target.redirect is not None:
            return _redirect(request.method, target.redirect, cors)
        path = target.path
        if self._v2_off and (path == "/v2" or path.startswith("/v2/")):
            return not_found(cors)
        if _is_keys(path):
            return await self._keys.handle(request, path, target.query, cors)
        route = self._routes.get(path)
        if route is not None:
            return await route(request, path, cors)
        if path.startswith("/v2/members/"):
            return await self._members(request, path, cors)
        if path.startswith(AUTH_PREFIX):
            response = await self._auth_handler.handle(request, path, cors)
            if response is not None:
                return response
        if path.startswith(_V3_PREFIXES):
            return text_error(404, "Not Found", cors)
        if path == "/v3":
            return _redirect(
                request.method, "/v3/?" + target.query if target.query else "/v3/", cors
            )
        return not_found(cors)

    async def _version(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return status.handle_version(request.method, self._server, cors)

    async def _health(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return await status.handle_health(
            request.method, self._server, self._metrics.counters, cors
        )

    async def _metrics_text(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        """Any method, as promhttp; gzipped when the scraper accepts it (Prometheus does)."""
        headers = {**cors, "Content-Type": METRICS_CONTENT_TYPE}
        body = self._metrics.render()
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body, mtime=0)
        return web.Response(status=200, body=body, headers=headers)

    async def _machines(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return members.handle_machines(request, self._server, cors)

    async def _members(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        return await members.handle_members(request, self._server, self._auth, path, cors)

    async def _stats(self, request: web.Request, path: str, cors: Headers) -> web.Response:
        which = path.rsplit("/", 1)[1]
        return status.handle_stats(request.method, which, self._server, cors)


def _is_keys(path: str) -> bool:
    return path.startswith(KEYS_PREFIX) and (len(path) == 8 or path[8] == "/")


def _bad_request(detail: str | None = None) -> web.Response:
    """What Go's server itself answers for a request it cannot take (an unparsable target, a
    bad Host: no handler runs), the detail in its status line too; it then closes the
    connection."""
    reason = f"Bad Request: {detail}" if detail else "Bad Request"
    response = BareResponse(
        status=400, reason=reason, body=f"400 {reason}".encode(), headers={"Content-Type": TEXT}
    )
    response.force_close()
    return response


def _redirect(method: str, location: str, cors: Headers) -> web.Response:
    """`http.Redirect` as `ServeMux` uses it: HTML type for GET/HEAD, a body only for GET."""
    headers = {**cors, "Location": location}
    if method in ("GET", "HEAD"):
        headers["Content-Type"] = "text/html; charset=utf-8"
    body = redirect_body(location) if method == "GET" else b""
    return web.Response(status=301, body=body, headers=headers)


def refused_request_line(error: BadHttpMethod) -> tuple[str, str] | None:
    """Method and target of the request line llhttp refused, from the excerpt of the line its
    error message quotes (a bytes literal); None when that excerpt is not a whole request line
    with a method Go accepts (Go answers 400 then too)."""
    for line in error.message.splitlines():
        text = line.strip()
        if text.startswith(("b'", 'b"')):
            try:
                raw = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return None
            parts = raw.split(b" ") if isinstance(raw, bytes) else []
            if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
                return None
            if not parts[2].startswith(b"HTTP/1."):
                return None
            return parts[0].decode(), parts[1].decode("utf-8", "surrogateescape")
    return None


class _ClientProtocol(web.RequestHandler):
    """aiohttp's connection handler, except for request lines its C parser (llhttp) refuses
    for their method: Go accepts any token as a method, so etcd routes `BREW /v2/keys/a` or
    `get /v2/keys/a` and answers 405 with the route's `Allow`. aiohttp reports them only here,
    without the application; the parser cannot resume, so the connection closes after."""

    def __init__(self, manager: ClientServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._client = manager.client
        self._use_lane = manager.lane
        self._lane: FastLane | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._use_lane:
            # aiohttp's idle timer would see no request and close a busy lane: the lane keeps
            # its own until it hands the connection over.
            self.keep_alive(True)
            plain = transport.get_extra_info("sslcontext") is None
            checked = plain and self._client.hosts.restricts
            self._lane = FastLane(
                _HostChecked(self._client) if checked else self._client,
                cast(asyncio.Transport, transport),
                self._handoff,
                self.keepalive_timeout,
            )

    def data_received(self, data: bytes) -> None:
        lane = self._lane
        if lane is None:
            super().data_received(data)
        else:
            lane.feed(data)

    def _handoff(self, data: bytes) -> None:
        self._lane = None
        if data:
            super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._lane is not None:
            self._lane.close()
            self._lane = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._lane is not None:
            self._lane.pause_writing()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._lane is not None:
            self._lane.resume_writing()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, BadHttpMethod):
            line = refused_request_line(exc)
            if line is not None:
                response = self._client.refuse(request.clone(method=line[0]), line[1])
                if response is not None:
                    response.force_close()
                    return response
        response = super().handle_error(request, status, exc, message)
        if status == 400 and isinstance(exc, HttpProcessingError):
            # Go's own answer to a request it cannot parse (llhttp requires Host, as Go does).
            missing = "Missing 'Host' header" in exc.message
            return _bad_request(host_problem(None, True) if missing else None)
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A request aiohttp's parser refuses (answered 400, as Go's server answers it) and a
        client gone before its answer (say a watcher leaving as its event is written) are the
        client's doing: logged at debug level, as Go logs nothing, so that no client can flood
        the error log. Anything else is a server error."""
        exc = kw.get("exc_info")
        if isinstance(exc, (HttpProcessingError, ConnectionError)):
            self.logger.debug(*args, **kw)
        else:
            super().log_exception(*args, **kw)


class _HostChecked:
    """The lane's client on a plain connection under a restricted `--host-whitelist`: a request
    for a foreign host is left to aiohttp's path, which answers it 421."""

    __slots__ = ("_client",)

    def __init__(self, client: _Client) -> None:
        self._client = client

    def lane_reply(self, head: Head, body: bytes) -> Reply | Pending | None:
        if not self._client.hosts.allows(go_hostname(head.host)):
            return None
        return self._client.lane_reply(head, body)


def _go_request(*args: Any) -> web.BaseRequest:
    """`web.Server`'s request factory: responses leave with Go's header layout."""
    return GoRequest(*args, loop=asyncio.get_running_loop())


class ClientServer(web.Server):
    """The client listener as a low-level `web.Server` (run it with `web.ServerRunner`)."""

    def __init__(self, client: _Client, lane: bool, **kwargs: Any) -> None:
        cancellation = kwargs.pop("handler_cancellation", False)
        super().__init__(
            client.handle,
            request_factory=_go_request,
            handler_cancellation=cancellation,
            **kwargs,
        )
        self.client = client
        self.lane = lane
        self._protocol_args = kwargs

    def __call__(self) -> web.RequestHandler:
        return _ClientProtocol(self, loop=asyncio.get_running_loop(), **self._protocol_args)


def make_server(
    server: KeysServer,
    *,
    cors: tuple[str, ...] = ("*",),
    cert_user: CertUser | None = None,
    enable_v2: bool = True,
    lane: bool = True,
    host_whitelist: tuple[str, ...] = ("*",),
    **protocol_args: Any,
) -> ClientServer:
    """The client API of `server` for `web.ServerRunner`: what `make_app` serves, plus etcd's
    answers to methods aiohttp's parser refuses, plus the fast lane for plain `/v2/keys`
    requests (`lane=False`: aiohttp answers everything; the tests compare the two).
    `protocol_args` go to aiohttp's `RequestHandler` (e.g. `access_log=None`) over
    `HANDLER_ARGS`; the access log, if any, sees only what aiohttp answers."""
    client = _Client(server, cors, cert_user, enable_v2, host_whitelist)
    return ClientServer(client, lane, **{**HANDLER_ARGS, **protocol_args})


def make_metrics_server(client_api: ClientServer, **protocol_args: Any) -> web.Server:
    """`--listen-metrics-urls`: `/metrics` and `/health` of `client_api`'s member, with the same
    figures, and nothing else (Go's 404 elsewhere); no CORS headers, no host check, as etcd's
    metrics listeners. `protocol_args` go to aiohttp's `RequestHandler`."""
    routes = client_api.client.metrics_routes

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        try:
            target = parse_target(request.raw_path)
        except BadRequestTarget:
            return _bad_request()
        problem = host_problem(request.headers.get("Host"), request.version >= (1, 1))
        if problem is not None:
            return _bad_request(problem)
        if target.redirect is not None:
            return _redirect(request.method, target.redirect, {})
        route = routes.get(target.path)
        response = await route(request, target.path, {}) if route else not_found({})
        chunk_large(response)
        return response

    return web.Server(handle, request_factory=_go_request, **{**HANDLER_ARGS, **protocol_args})


def make_app(
    server: KeysServer,
    *,
    cors: tuple[str, ...] = ("*",),
    cert_user: CertUser | None = None,
    enable_v2: bool = True,
    host_whitelist: tuple[str, ...] = ("*",),
) -> web.Application:
    """The client API of `server` as an aiohttp application (no answer of its own to methods
    aiohttp's parser refuses: see `make_server`).

    `cors` lists allowed origins (`*`: any), as `--cors` does. `cert_user` is for
    `--client-cert-auth`: it returns the common name of the request's verified client
    certificate (or None); once v2 auth is on, a request without an `Authorization` header then
    acts as the user of that name, as etcd does. `enable_v2=False` answers every `/v2` path
    404, as etcd without `--enable-v2`. `host_whitelist` is `--host-whitelist`."""
    app = web.Application(handler_args=HANDLER_ARGS, client_max_size=MAX_FORM_SIZE + 1)
    client = _Client(server, cors, cert_user, enable_v2, host_whitelist)
    app.router.add_route("*", "/{tail:.*}", client.handle)
    app.on_response_prepare.append(_go_order)
    return app


async def _go_order(request: web.Request, response: web.StreamResponse) -> None:
    go_order(response)
