"""HTTP/1.1 bytes for the fast lane: strict framing of the plain keep-alive `/v2/keys` requests
that clients send nearly always, and responses written the way Go's `net/http` writes them.

Anything the framing does not recognise with certainty is `OTHER`: the lane then hands the
untouched bytes to aiohttp, which answers everything else exactly as before.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from http_api.goheaders import SNIFF_LIMIT
from http_api.hosts import host_problem
from http_api.keys import METHODS

__all__ = ["MAX_BODY", "MAX_HEAD", "OTHER", "Head", "frame", "render"]

MAX_HEAD = 64 << 10
MAX_BODY = 64 << 10
OTHER: Final = "other"

_METHODS = frozenset(method.encode() for method in METHODS)
_BODY_METHODS = frozenset((b"PUT", b"POST"))
# Printable ASCII without '#': the raw target reaches `parse_target` as aiohttp would pass it.
_TARGET = re.compile(rb"/v2/keys[\x21\x22\x24-\x7e]*")
_HEADER = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
# Headers whose semantics only aiohttp implements here (bodies of unknown length, 100-continue,
# protocol switches, non-persistent connections).
_HANDED_OVER = frozenset((b"transfer-encoding", b"expect", b"upgrade"))
_STATUS_LINES = {
    int(status): f"HTTP/1.1 {int(status)} {status.phrase}\r\n" for status in HTTPStatus
}


@dataclass(frozen=True, slots=True)
class Head:
    """One complete request: its method and raw target (ASCII), the headers the keys API and
    the host check read, and where its body lies in the buffer it was framed from."""

    method: str
    target: str
    content_type: str | None
    origin: str | None
    body_start: int
    end: int
    host: str


def frame(buffer: bytes | bytearray, start: int) -> Head | str | None:
    """The request at `start`: a Head, None while it is incomplete, OTHER if not for the lane."""
    head_end = buffer.find(b"\r\n\r\n", start)
    if head_end < 0:
        return OTHER if len(buffer) - start > MAX_HEAD else None
    if head_end - start > MAX_HEAD:
        return OTHER
    lines = bytes(buffer[start:head_end]).split(b"\r\n")
    parts = lines[0].split(b" ")
    if (
        len(parts) != 3
        or parts[2] != b"HTTP/1.1"
        or parts[0] not in _METHODS
        or not _TARGET.fullmatch(parts[1])
    ):
        return OTHER
    length = -1
    host = ""
    has_host = False
    content_type = origin = None
    for line in lines[1:]:
        match = _HEADER.fullmatch(line)
        if match is None:
            return OTHER
        name = match[1].lower()
        value = match[2]
        if name == b"content-length":
            if length >= 0 or not value.isdigit() or len(value) > 9:
                return OTHER
            length = int(value)
        elif name == b"host":
            host = value.decode("latin-1")
            if has_host or host_problem(host, True) is not None:
                return OTHER  # Go's server refuses it: aiohttp's path answers as Go
            has_host = True
        elif name == b"connection":
            if value.lower() != b"keep-alive":
                return OTHER
        elif name in _HANDED_OVER:
            return OTHER
        elif name == b"content-type":
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == b"origin" and origin is None:
            origin = value.decode("latin-1")
    length = max(length, 0)
    if not has_host or length > MAX_BODY or (length and parts[0] not in _BODY_METHODS):
        return OTHER
    body_start = head_end + 4
    if len(buffer) < body_start + length:
        return None
    return Head(
        parts[0].decode(),
        parts[1].decode(),
        content_type,
        origin,
        body_start,
        body_start + length,
        host,
    )


class _Clock:
    """Go writes `Date` with second resolution: format it once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def date(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = email.utils.formatdate(second, usegmt=True)
        return self._text


_clock = _Clock()


def render(status: int, headers: Mapping[str, str], body: bytes, head_only: bool) -> bytes:
    """A response as Go writes it: the handler's headers sorted by name, then `Date` and
    `Content-Length`; a HEAD response announces the body's length without sending it. A body
    larger than Go's buffer (`goheaders.SNIFF_LIMIT`) goes out as one chunk, as Go sends it
    (and a HEAD answer then has no length)."""
    lines = [_STATUS_LINES[status]]
    lines.extend(f"{name}: {value}\r\n" for name, value in sorted(headers.items()))
    if len(body) > SNIFF_LIMIT:
        if head_only:  # Go announces no length for a HEAD whose body it would chunk
            lines.append(f"Date: {_clock.date()}\r\n\r\n")
            return "".join(lines).encode("latin-1")
        lines.append(f"Date: {_clock.date()}\r\nTransfer-Encoding: chunked\r\n\r\n")
        head = "".join(lines).encode("latin-1")
        return b"%s%x\r\n%s\r\n0\r\n\r\n" % (head, len(body), body)
    lines.append(f"Date: {_clock.date()}\r\nContent-Length: {len(body)}\r\n\r\n")
    out = "".join(lines).encode("latin-1")
    return out if head_only else out + body
