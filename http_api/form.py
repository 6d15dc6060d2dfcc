"""Go's `net/url` and `strconv` parsing as etcd's handlers see it.

Wire text arrives as aiohttp gives it: `str` decoded with `surrogateescape`, so the original
bytes are recovered exactly before percent-decoding, and decoded bytes go back to text the same
way (`gojson.decode`): invalid UTF-8 survives until the JSON encoder renders it as Go does.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from http_api.gojson import decode

if TYPE_CHECKING:
    from aiohttp import StreamReader

_HEX = frozenset("0123456789abcdefABCDEF")
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
_UINT64_MAX = (1 << 64) - 1

Form = dict[str, list[str]]


class FormError(ValueError):
    """A parse failure carrying Go's error text (an etcd 210 cause)."""


def _go_quote(raw: bytes) -> str:
    """`strconv.Quote` of a short byte string (the escape in Go's `invalid URL escape` error)."""
    out = []
    for byte in raw:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def unescape(text: str, plus_is_space: bool) -> str:
    """Go's `QueryUnescape` (`plus_is_space`) or `PathUnescape`; raises FormError."""
    if "%" not in text and (not plus_is_space or "+" not in text):
        return text
    return decode(unescape_bytes(text.encode("utf-8", "surrogateescape"), plus_is_space))


def unescape_bytes(raw: bytes, plus_is_space: bool) -> bytes:
    """Percent-decoding of raw bytes, as Go's `unescape`; raises FormError."""
    out = bytearray()
    start = 0
    cut = raw.find(b"%")
    while cut >= 0:
        pair = raw[cut + 1 : cut + 3]
        if len(pair) < 2 or not _HEX.issuperset(pair.decode("latin-1")):
            raise FormError(f"invalid URL escape {_go_quote(raw[cut : cut + 3])}")
        out += _literal(raw[start:cut], plus_is_space)
        out.append(int(pair, 16))
        start = cut + 3
        cut = raw.find(b"%", start)
    out += _literal(raw[start:], plus_is_space)
    return bytes(out)


def _literal(raw: bytes, plus_is_space: bool) -> bytes:
    return raw.replace(b"+", b" ") if plus_is_space else raw


def parse_query(query: str, form: Form) -> str | None:
    """Go's `url.ParseQuery` into `form` (values appended); returns the first error text.

    Like Go, a bad pair is skipped and parsing continues, so good pairs still count."""
    error = None
    for pair in query.split("&"):
        if ";" in pair:
            error = error or "invalid semicolon separator in query"
            continue
        if not pair:
            continue
        name, _, value = pair.partition("=")
        try:
            name = unescape(name, True)
            value = unescape(value, True)
        except FormError as exc:
            error = error or str(exc)
            continue
        form.setdefault(name, []).append(value)
    return error


def parse_bool(text: str) -> bool:
    """`strconv.ParseBool`; raises ValueError."""
    try:
        return _BOOLS[text]
    except KeyError:
        raise ValueError(text) from None


def parse_uint(text: str) -> int:
    """`strconv.ParseUint(s, 10, 64)`: ASCII digits only; raises ValueError."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    value = int(text)
    if value > _UINT64_MAX:
        raise ValueError(text)
    return value


@functools.lru_cache(maxsize=256)
def media_type(header: str) -> str:
    """`mime.ParseMediaType`'s type, lower-cased; raises FormError with Go's message."""
    kind, _, params = header.partition(";")
    kind = kind.strip().lower()
    if not kind:
        raise FormError("mime: no media type")
    major, slash, minor = kind.partition("/")
    if not slash or not major or not minor or not _is_token(major) or not _is_token(minor):
        raise FormError(
            "mime: expected token after slash"
            if slash
            else "mime: expected slash after first token"
        )
    for param in params.split(";"):
        param = param.strip()
        if param and ("=" not in param or not _is_token(param.partition("=")[0])):
            raise FormError("mime: invalid media parameter")
    return kind


_TSPECIALS = frozenset('()<>@,;:\\"/[]?= ')


def _is_token(text: str) -> bool:
    return bool(text) and all(0x20 < ord(c) < 0x7F and c not in _TSPECIALS for c in text)


async def read_at_most(content: StreamReader, limit: int) -> bytes:
    """The body, cut at `limit + 1` bytes: enough to tell that it exceeds `limit`."""
    body = bytearray()
    while len(body) <= limit:
        chunk = await content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)
