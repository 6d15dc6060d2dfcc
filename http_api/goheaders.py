"""Response headers as Go's `net/http` writes them, for everything aiohttp answers.

Go writes the handler's headers sorted by name, then the ones the server adds itself, in a fixed
order: `Date`, `Content-Length`, a sniffed `Content-Type`, `Connection`, `Transfer-Encoding`. It
sends no `Server` header, and a body of more than 2048 bytes (its buffer before chunking) goes
out chunked. The fast lane writes the same layout itself (`http_api.wire.render`).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from multidict import CIMultiDict

__all__ = [
    "SNIFF_LIMIT",
    "BareResponse",
    "GoRequest",
    "SniffedResponse",
    "chunk_large",
    "go_order",
]

# Go's `bufferBeforeChunkingSize`: a handler that writes more before returning is sent chunked.
SNIFF_LIMIT = 2048
_SERVER_ADDED = (hdrs.DATE, hdrs.CONTENT_LENGTH)
_TRAILING = (hdrs.CONNECTION, hdrs.TRANSFER_ENCODING)


class SniffedResponse(web.Response):
    """A body whose `Content-Type` Go's server sniffed (the handler set none): the type then
    comes after `Content-Length` instead of among the handler's sorted headers."""


class BareResponse(web.Response):
    """What Go's server itself writes for a request it cannot parse, before any handler: no
    `Date`, no `Content-Length` (the connection closes after the body)."""


def go_order(response: web.StreamResponse) -> None:
    """Rewrite `response`'s prepared headers into Go's order and drop `Server`; a response
    after which the connection closes says `Connection: close`, as Go's do."""
    headers = response.headers
    if not response.keep_alive:
        headers.setdefault(hdrs.CONNECTION, "close")
    bare = isinstance(response, BareResponse)
    added = [(n, headers[n]) for n in _SERVER_ADDED if n in headers and not bare]
    if isinstance(response, SniffedResponse) and hdrs.CONTENT_TYPE in headers:
        added.append((hdrs.CONTENT_TYPE, headers[hdrs.CONTENT_TYPE]))
    added += [(name, headers[name]) for name in _TRAILING if name in headers]
    dropped = {name for name, _ in added} | {hdrs.SERVER, *_SERVER_ADDED}
    own = sorted(((k, v) for k, v in headers.items() if k not in dropped), key=lambda kv: kv[0])
    ordered: CIMultiDict[str] = CIMultiDict(own)
    ordered.extend(added)
    headers.clear()
    headers.extend(ordered)


def chunk_large(response: web.StreamResponse) -> None:
    """Send an unprepared body larger than Go's buffer chunked, as Go does (an answer to HEAD
    then announces no length at all, as Go's)."""
    if (
        isinstance(response, web.Response)
        and not response.prepared
        and isinstance(response.body, bytes)
        and len(response.body) > SNIFF_LIMIT
    ):
        response.enable_chunked_encoding()


class GoRequest(web.BaseRequest):
    """The low-level server's request: its responses' headers are put in Go's order just
    before they are written (the hook `web.Request` uses for `on_response_prepare`)."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        go_order(response)
