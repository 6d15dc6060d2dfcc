"""The response shapes Go's `net/http` and etcd's `httptypes` produce outside `/v2/keys`."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from http_api.gojson import quote

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

Headers = Mapping[str, str]
# Status, headers and body: what both the aiohttp path and the fast lane write out.
Reply = tuple[int, dict[str, str], bytes]


def text_error(status: int, text: str, headers: Headers, allow: str | None = None) -> web.Response:
    """`http.Error`: plain text plus a newline, `nosniff`; `allow` adds an `Allow` header."""
    out = dict(headers)
    if allow is not None:
        out["Allow"] = allow
    out["Content-Type"] = TEXT
    out["X-Content-Type-Options"] = "nosniff"
    return web.Response(status=status, body=(text + "\n").encode(), headers=out)


def method_not_allowed(headers: Headers, allow: str | None) -> web.Response:
    return text_error(405, "Method Not Allowed", headers, allow)


def not_found(headers: Headers) -> web.Response:
    return text_error(404, "404 page not found", headers)


def message(status: int, text: str, headers: Headers) -> web.Response:
    """`httptypes.HTTPError`: `{"message": ...}` without a trailing newline."""
    out = dict(headers)
    out["Content-Type"] = JSON
    return web.Response(status=status, body=f'{{"message":{quote(text)}}}'.encode(), headers=out)


def json_body(status: int, body: bytes, headers: Headers) -> web.Response:
    out = dict(headers)
    out["Content-Type"] = JSON
    return web.Response(status=status, body=body, headers=out)
