"""Go's request-path handling: percent-decoding, `ServeMux` cleaning and its 301 redirect."""

from __future__ import annotations

from dataclasses import dataclass

from http_api.form import FormError, unescape_bytes
from http_api.gojson import decode

_PATH_SAFE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@"
)
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


class BadRequestTarget(ValueError):
    """A path Go's server refuses before any handler runs (`400 Bad Request`)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The decoded path (`path`), the raw query, and where to redirect when the path is
    not clean (`redirect`, a `Location` value) — then no handler runs."""

    path: str
    query: str
    redirect: str | None = None


def parse_target(raw_target: str) -> Target:
    """Split and decode a request target; raises BadRequestTarget on a malformed escape.

    An absolute-form target (`http://host/path`, as proxies send) is reduced to its path."""
    raw_path, _, query = raw_target.partition("?")
    if not raw_path.startswith("/") and "://" in raw_path:
        authority_end = raw_path.find("/", raw_path.index("://") + 3)
        raw_path = raw_path[authority_end:] if authority_end >= 0 else "/"
    if raw_path.isascii() and "%" not in raw_path:
        if "//" not in raw_path and "/." not in raw_path:
            return Target(raw_path, query)
        decoded = raw_path.encode()
    else:
        try:
            decoded = unescape_bytes(raw_path.encode("utf-8", "surrogateescape"), False)
        except FormError as exc:
            raise BadRequestTarget(str(exc)) from None
    cleaned = clean(decoded)
    if cleaned != decoded:
        location = escape_path(cleaned)
        if query:
            location += "?" + _escape_non_ascii(query)
        return Target(decode(cleaned), query, location)
    return Target(decode(decoded), query)


def clean(path: bytes) -> bytes:
    """`ServeMux`'s cleanPath: `path.Clean`, keeping one trailing slash."""
    if not path.startswith(b"/"):
        path = b"/" + path
    parts: list[bytes] = []
    for part in path.split(b"/"):
        if part == b"..":
            if parts:
                parts.pop()
        elif part and part != b".":
            parts.append(part)
    cleaned = b"/" + b"/".join(parts)
    if path.endswith(b"/") and cleaned != b"/":
        cleaned += b"/"
    return cleaned


def escape_path(path: bytes) -> str:
    """`url.URL.EscapedPath` of a decoded path (upper-case hex, as Go writes it)."""
    return "".join(chr(b) if b in _PATH_SAFE else f"%{b:02X}" for b in path)


def _escape_non_ascii(text: str) -> str:
    """`hexEscapeNonASCII` over the original bytes of a header value."""
    if text.isascii():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if b < 0x80 else f"%{b:02x}" for b in raw)


def redirect_body(location: str) -> bytes:
    """`http.Redirect`'s HTML for a GET (Fprintln adds a second newline)."""
    return f'<a href="{location.translate(_HTML)}">Moved Permanently</a>.\n\n'.encode()
