"""`/v2/keys`: etcd's parameter parsing (order matters: the first failure wins), dispatch to
store commands, event rendering and watches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web

from http_api.auth import NO_AUTH, Auth
from http_api.form import (
    Form,
    FormError,
    media_type,
    parse_bool,
    parse_query,
    parse_uint,
    read_at_most,
)
from http_api.gojson import error_body, event_body
from http_api.metrics import HttpCounters
from http_api.protocol import KeysServer
from http_api.responses import JSON, Headers, Reply, method_not_allowed
from store.commands import (
    Command,
    CompareAndDelete,
    CompareAndSwap,
    Create,
    Delete,
    Set,
    Update,
)
from store.errors import (
    INDEX_NAN,
    INVALID_FIELD,
    INVALID_FORM,
    PREV_VALUE_REQUIRED,
    RAFT_INTERNAL,
    REFRESH_TTL_REQUIRED,
    REFRESH_VALUE,
    TTL_NAN,
    UNAUTHORIZED,
    EtcdError,
)
from store.event import COMPARE_AND_SWAP, CREATE, SET, UPDATE, Event

log = logging.getLogger("v2http")

PREFIX = "/v2/keys"
ALLOWED = "HEAD,GET,PUT,POST,DELETE"
METHODS = frozenset(("GET", "HEAD", "PUT", "POST", "DELETE"))
MAX_FORM_SIZE = 10 << 20
_URLENCODED = "application/x-www-form-urlencoded"
_NO_TYPE = "application/octet-stream"
_BOOL_FIELDS = ("recursive", "sorted", "wait", "dir", "quorum", "stream")
_STRIPPED_ACTIONS = frozenset((SET, CREATE, UPDATE, COMPARE_AND_SWAP))
_NS = 1_000_000_000
_U64 = 1 << 64
_I64 = 1 << 63


@dataclass(slots=True)
class KeysRequest:
    """One parsed `/v2/keys` request (etcd's `etcdserverpb.Request` plus noValueOnSuccess)."""

    method: str
    key: str
    value: str = ""
    dir: bool = False
    prev_value: str = ""
    prev_index: int = 0
    prev_exist: bool | None = None
    wait: bool = False
    wait_index: int = 0
    recursive: bool = False
    sorted: bool = False
    quorum: bool = False
    stream: bool = False
    refresh: bool | None = None
    ttl: int | None = None
    no_value_on_success: bool = False


@dataclass(frozen=True, slots=True)
class Pending:
    """A reply that waits for the cluster: `finish(future)` makes it once `future` is done."""

    future: asyncio.Future[Any]
    finish: Callable[[asyncio.Future[Any]], Reply]


def _task_reply(task: asyncio.Future[Any]) -> Reply:
    reply: Reply = task.result()
    return reply


def _request_error(code: int, cause: str) -> EtcdError:
    return EtcdError(code, cause, 0)


def _first(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def parse_request(method: str, key: str, form: Form) -> KeysRequest:
    """etcd's `parseKeyRequest` over an already merged form; raises EtcdError (index 0)."""
    req = KeysRequest(method, key)
    if not form:
        return req
    for name in ("prevIndex", "waitIndex"):
        text = _first(form, name)
        if text is not None:
            try:
                number = parse_uint(text)
            except ValueError:
                raise _request_error(INDEX_NAN, f'invalid value for "{name}"') from None
            if name == "prevIndex":
                req.prev_index = number
            else:
                req.wait_index = number
    for name in _BOOL_FIELDS:
        text = _first(form, name)
        if text is not None:
            try:
                setattr(req, name, parse_bool(text))
            except ValueError:
                raise _request_error(INVALID_FIELD, f'invalid value for "{name}"') from None
    if req.wait and method != "GET":
        raise _request_error(INVALID_FIELD, '"wait" can only be used with GET requests')
    prev_value = _first(form, "prevValue")
    if prev_value is not None:
        if prev_value == "":
            raise _request_error(PREV_VALUE_REQUIRED, '"prevValue" cannot be empty')
        req.prev_value = prev_value
    text = _first(form, "noValueOnSuccess")
    if text is not None:
        try:
            req.no_value_on_success = parse_bool(text)
        except ValueError:
            raise _request_error(INVALID_FIELD, 'invalid value for "noValueOnSuccess"') from None
    text = _first(form, "ttl")
    if text:
        try:
            req.ttl = parse_uint(text)
        except ValueError:
            raise _request_error(TTL_NAN, 'invalid value for "ttl"') from None
    text = _first(form, "prevExist")
    if text is not None:
        try:
            req.prev_exist = parse_bool(text)
        except ValueError:
            raise _request_error(INVALID_FIELD, "invalid value for prevExist") from None
    req.value = _first(form, "value") or ""
    text = _first(form, "refresh")
    if text is not None:
        try:
            req.refresh = parse_bool(text)
        except ValueError:
            raise _request_error(INVALID_FIELD, "invalid value for refresh") from None
        if req.refresh and req.value:
            raise _request_error(REFRESH_VALUE, "A value was provided on a refresh")
        if req.refresh and req.ttl is None:
            raise _request_error(REFRESH_TTL_REQUIRED, "No TTL value set")
    return req


def expire_at(now: int, ttl: int) -> int:
    """`clock.Now().Add(time.Duration(ttl) * time.Second).UnixNano()` with Go's int64 wrap."""
    total = (now + ttl * _NS) % _U64
    return total - _U64 if total >= _I64 else total


def command_for(req: KeysRequest, now: int) -> Command:
    """etcd's `applierV2store` routing of PUT, POST and DELETE."""
    expires = None if req.ttl is None else expire_at(now, req.ttl)
    refresh = bool(req.refresh)
    key = req.key
    if req.method == "POST":
        return Create(key, req.value, req.dir, True, expires, now)
    if req.method == "DELETE":
        if req.prev_index or req.prev_value:
            return CompareAndDelete(key, req.prev_value, req.prev_index, now)
        return Delete(key, req.dir, req.recursive, now)
    if req.prev_exist is not None:
        if not req.prev_exist:
            return Create(key, req.value, req.dir, False, expires, now)
        if not req.prev_index and not req.prev_value:
            return Update(key, req.value, expires, refresh, now)
        return CompareAndSwap(key, req.prev_value, req.prev_index, req.value, expires, refresh, now)
    if req.prev_index or req.prev_value:
        return CompareAndSwap(key, req.prev_value, req.prev_index, req.value, expires, refresh, now)
    return Set(key, req.value, req.dir, expires, refresh, now)


class KeysHandler:
    """Serves `/v2/keys` for one member (`cors`: the CORS headers chosen for the request), to
    aiohttp (`handle`) and to the fast lane (`lane`), with one parser and one renderer."""

    def __init__(self, server: KeysServer, counters: HttpCounters, checks: Auth) -> None:
        self._server = server
        self._counters = counters
        self._auth = checks
        self._cluster_id = f"{server.cluster_id:x}"
        # Every watcher of a write is handed the same Event object, one after another: encode
        # it once for all of them.
        self._watched: tuple[Event | None, bytes] = (None, b"")
        self._running: asyncio.AbstractEventLoop | None = None

    async def handle(
        self, request: web.Request, path: str, query: str, cors: Headers
    ) -> web.StreamResponse:
        method = request.method
        if method not in METHODS:
            return method_not_allowed(cors, ALLOWED)
        headers = self._headers(cors)
        content_type = request.headers.get("Content-Type")
        try:
            body = await _read_body(request) if wants_body(method, content_type) else b""
            req = _parse(method, path, query, content_type, body)
        except EtcdError as exc:
            return _response(self._error(exc, headers))
        if self._auth.enabled() and not await self._auth.key_access(
            request, path[len(PREFIX) :], req.recursive
        ):
            return _response(self._error(EtcdError(UNAUTHORIZED, NO_AUTH, 0), headers))
        if req.wait and not req.quorum:
            return await self._watch(request, req, headers)
        reply = self._serve(req, headers)
        if isinstance(reply, Pending):
            # Unlike awaiting it, `wait` never cancels the future: a client that goes away
            # must not cancel a write already proposed; its outcome is still read.
            pending = reply
            try:
                await asyncio.wait((pending.future,))
            except asyncio.CancelledError:
                pending.future.add_done_callback(pending.finish)
                raise
            reply = pending.finish(pending.future)
        return _response(reply)

    def lane(
        self,
        method: str,
        path: str,
        query: str,
        content_type: str | None,
        body: bytes,
        cors: Headers,
    ) -> Reply | Pending | None:
        """The reply (or what it waits for) to a request of one of METHODS whose body is
        already read; None for what only `handle` serves: auth checks and watches."""
        if self._auth.enabled():
            return None
        headers = self._headers(cors)
        try:
            req = _parse(method, path, query, content_type, body)
        except EtcdError as exc:
            return self._error(exc, headers)
        if req.wait and not req.quorum:
            return None
        return self._serve(req, headers)

    def _headers(self, cors: Headers) -> dict[str, str]:
        headers = dict(cors)
        headers["Content-Type"] = JSON
        headers["X-Etcd-Cluster-Id"] = self._cluster_id
        return headers

    def _serve(self, req: KeysRequest, headers: dict[str, str]) -> Reply | Pending:
        """A plain read is answered at once; a write or quorum read waits for the cluster."""
        started = time.perf_counter()
        method = req.method
        server = self._server
        if req.quorum and method == "GET":
            self._counters.count_received("QGET")
            task = self._loop().create_task(self._quorum_read(req, headers, started))
            return Pending(task, _task_reply)
        self._counters.count_received(method)
        try:
            if method != "GET" and method != "HEAD":
                future = server.submit(command_for(req, server.now()))
                return Pending(future, partial(self._written, req, headers, started))
            event = server.store.get(req.key, req.recursive, req.sorted, server.now())
        except Exception as exc:
            return self._failure(req, method, exc, headers)
        self._counters.count_success(method, started)
        return self._event(event, req.no_value_on_success, headers)

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self._running
        if loop is None:
            loop = self._running = asyncio.get_running_loop()
        return loop

    async def _quorum_read(
        self, req: KeysRequest, headers: dict[str, str], started: float
    ) -> Reply:
        server = self._server
        try:
            await server.linearizable_read()
            event = server.store.get(req.key, req.recursive, req.sorted, server.now())
        except Exception as exc:
            return self._failure(req, "QGET", exc, headers)
        self._counters.count_success("QGET", started)
        return self._event(event, req.no_value_on_success, headers)

    def _written(
        self,
        req: KeysRequest,
        headers: dict[str, str],
        started: float,
        future: asyncio.Future[Any],
    ) -> Reply:
        try:
            event = future.result()
        except Exception as exc:
            return self._failure(req, req.method, exc, headers)
        self._counters.count_success(req.method, started)
        return self._event(event, req.no_value_on_success, headers)

    def _failure(
        self, req: KeysRequest, label: str, exc: Exception, headers: dict[str, str]
    ) -> Reply:
        if not isinstance(exc, EtcdError):
            log.error("request %s %s failed", req.method, req.key, exc_info=exc)
            exc = EtcdError(RAFT_INTERNAL, str(exc), 0)
        self._counters.count_failed(label, exc.status)
        return self._error(exc, headers)

    def _event(self, event: Event, no_value: bool, headers: dict[str, str]) -> Reply:
        action = event.action
        headers["X-Etcd-Index"] = str(event.etcd_index)
        headers["X-Raft-Index"] = str(self._server.raft_index())
        headers["X-Raft-Term"] = str(self._server.raft_term())
        status = 201 if action == CREATE or (action == SET and event.prev_node is None) else 200
        return status, headers, event_body(event, no_value and action in _STRIPPED_ACTIONS)

    @staticmethod
    def _error(exc: EtcdError, headers: dict[str, str]) -> Reply:
        headers["X-Etcd-Index"] = str(exc.index)
        return exc.status, headers, error_body(exc.code, exc.message, exc.cause, exc.index)

    async def _watch(
        self, request: web.Request, req: KeysRequest, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Headers flushed at once; then one event (or one line per event with `stream`)."""
        try:
            watcher = self._server.store.watch(req.key, req.recursive, req.stream, req.wait_index)
        except EtcdError as exc:
            self._counters.count_failed("GET", exc.status)
            return _response(self._error(exc, headers))
        loop = asyncio.get_running_loop()
        wakeup: asyncio.Future[None] | None = None

        def wake() -> None:
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)

        watcher.on_event = wake
        try:
            headers["X-Etcd-Index"] = str(watcher.start_index)
            headers["X-Raft-Index"] = str(self._server.raft_index())
            headers["X-Raft-Term"] = str(self._server.raft_term())
            response = web.StreamResponse(status=200, headers=headers)
            await response.prepare(request)
            while True:
                events = watcher.take()
                for event in events:
                    body = self._watch_body(event)
                    if not req.stream:
                        # The event and the end of the chunked body in one socket write: with
                        # a thousand watchers, the second write per watcher dominated fan-out.
                        await response.write_eof(body)
                        return response
                    await response.write(body)
                if not events:
                    if watcher.closed:
                        return response
                    wakeup = loop.create_future()
                    await wakeup
                    wakeup = None
        finally:
            watcher.remove()

    def _watch_body(self, event: Event) -> bytes:
        last, body = self._watched
        if event is not last:
            body = event_body(event)
            self._watched = (event, body)
        return body


def _response(reply: Reply) -> web.Response:
    status, headers, body = reply
    return web.Response(status=status, body=body, headers=headers)


def wants_body(method: str, content_type: str | None) -> bool:
    """Go's `ParseForm` reads a body only for PUT and POST with the urlencoded media type."""
    if method != "PUT" and method != "POST":
        return False
    try:
        return media_type(content_type or _NO_TYPE) == _URLENCODED
    except FormError:
        return False


async def _read_body(request: web.Request) -> bytes:
    """The body, or 210 once it exceeds Go's 10 MiB form limit."""
    body = await read_at_most(request.content, MAX_FORM_SIZE)
    if len(body) > MAX_FORM_SIZE:
        raise _request_error(INVALID_FORM, "http: POST too large")
    return body


def _parse(
    method: str, key_path: str, query: str, content_type: str | None, body: bytes
) -> KeysRequest:
    rest = key_path[len(PREFIX) :]
    if rest.endswith("/"):
        rest = rest[:-1]
    key = rest or "/"
    if not query and method != "PUT" and method != "POST":
        return KeysRequest(method, key)
    return parse_request(method, key, read_form(method, content_type, body, query))


def read_form(method: str, content_type: str | None, body: bytes, query: str) -> Form:
    """Go's `ParseForm`: urlencoded body values (PUT/POST only, `body` already read when
    `wants_body`) before query values; the first error (body first) is a 210."""
    form: Form = {}
    error = None
    if method == "PUT" or method == "POST":
        try:
            kind = media_type(content_type or _NO_TYPE)
        except FormError as exc:
            error = str(exc)
            kind = ""
        if kind == _URLENCODED:
            if len(body) > MAX_FORM_SIZE:
                raise _request_error(INVALID_FORM, "http: POST too large")
            error = parse_query(body.decode("utf-8", "surrogateescape"), form)
    if query:
        query_error = parse_query(query, form)
        error = error or query_error
    if error:
        raise _request_error(INVALID_FORM, error)
    return form
