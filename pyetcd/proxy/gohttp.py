"""Response headers as Go's net/http writes them, so a proxied answer is byte-for-byte etcd's:
the handler's headers sorted by name (values in their order), then Date, Content-Length and
Content-Type when the handler left them out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus

Headers = list[tuple[str, str]]


def http_date(now: float) -> str:
    return formatdate(now, usegmt=True)


def reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return f"status code {status}".encode()


def go_headers(
    headers: Iterable[tuple[str, str]],
    now: float,
    content_length: int | None = None,
    content_type: str | None = None,
) -> Headers:
    """The handler's headers sorted, then what net/http adds; `content_length` None leaves
    the framing to the writer (chunked)."""
    items = sorted(headers, key=lambda kv: kv[0])  # stable: a name's values keep their order
    names = {k.lower() for k, _ in items}
    if "date" not in names:
        items.append(("Date", http_date(now)))
    if content_length is not None and "content-length" not in names:
        items.append(("Content-Length", str(content_length)))
    if content_type is not None and "content-type" not in names:
        items.append(("Content-Type", content_type))
    return items


def error_body(message: str) -> bytes:
    """etcd's httptypes.HTTPError: `{"message":...}` marshalled by Go (no newline)."""
    return (
        json.dumps({"message": message}, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .encode()
    )
