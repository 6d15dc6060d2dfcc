"""JSON bytes exactly as etcd's Go encoder writes them.

Go escapes `<`, `>`, `&`, U+2028 and U+2029, writes control characters other than `\\n`, `\\r`
and `\\t` as `\\u00XX` (no `\\b`/`\\f` short forms), and writes each invalid UTF-8 byte as the
escape `\\ufffd` (a valid U+FFFD in the input stays raw).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring

from store.event import Event, NodeExtern

_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})
_ESCAPES.update({ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})
_ESCAPES.update(dict.fromkeys(range(0xD800, 0xE000), "\\ufffd"))
_SURROGATE = re.compile("[\ud800-\udfff]")
_NS = 1_000_000_000


def decode(raw: bytes) -> str:
    """Wire bytes as text that keeps invalid UTF-8 (one lone surrogate per invalid byte, like
    Go's decoder); `quote` writes each such byte as `\\ufffd`, as Go's encoder does."""
    return raw.decode("utf-8", "surrogateescape")


def quote(text: str) -> str:
    """A Go JSON string literal.

    The C encoder does the bulk (quotes, backslashes, control characters); Go's extra escapes
    are patched in afterwards. Backspace, form feed and lone surrogates, which the C encoder
    would render differently, take the table-driven path instead."""
    if "\x08" in text or "\x0c" in text or (not text.isascii() and _SURROGATE.search(text)):
        return f'"{text.translate(_ESCAPES)}"'
    out = encode_basestring(text)
    if "<" in out:
        out = out.replace("<", "\\u003c")
    if ">" in out:
        out = out.replace(">", "\\u003e")
    if "&" in out:
        out = out.replace("&", "\\u0026")
    if not out.isascii():
        out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return out


def rfc3339nano_utc(unix_ns: int) -> str:
    """Go's `time.RFC3339Nano` in UTC: `2026-11-24T01:37:55.59597473Z` (fraction zeros trimmed)."""
    seconds, nanos = divmod(unix_ns, _NS)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        return f"{stamp}.{nanos:09d}".rstrip("0") + "Z"
    return stamp + "Z"


def node_json(node: NodeExtern) -> str:
    """`NodeExtern` with Go's field order and `omitempty` rules."""
    parts = []
    if node.key:
        parts.append('"key":' + quote(node.key))
    if node.value is not None:
        parts.append('"value":' + quote(node.value))
    if node.dir:
        parts.append('"dir":true')
    if node.expiration is not None:
        parts.append(f'"expiration":"{rfc3339nano_utc(node.expiration)}"')
    if node.ttl:
        parts.append(f'"ttl":{node.ttl}')
    if node.nodes:
        parts.append('"nodes":[' + ",".join(map(node_json, node.nodes)) + "]")
    if node.modified_index:
        parts.append(f'"modifiedIndex":{node.modified_index}')
    if node.created_index:
        parts.append(f'"createdIndex":{node.created_index}')
    return "{" + ",".join(parts) + "}"


def event_body(event: Event, strip_nodes: bool = False) -> bytes:
    """One event line as `json.Encoder` writes it (trailing newline); `strip_nodes` drops
    node and prevNode (`noValueOnSuccess`)."""
    if strip_nodes:
        return f'{{"action":"{event.action}"}}\n'.encode()
    text = f'{{"action":"{event.action}","node":{node_json(event.node)}'
    if event.prev_node is not None:
        text += f',"prevNode":{node_json(event.prev_node)}'
    return (text + "}\n").encode()


def error_body(code: int, message: str, cause: str, index: int) -> bytes:
    """A v2 error line; `cause` is omitted when empty."""
    if cause:
        return (
            f'{{"errorCode":{code},"message":{quote(message)},"cause":{quote(cause)},'
            f'"index":{index}}}\n'
        ).encode()
    return f'{{"errorCode":{code},"message":{quote(message)},"index":{index}}}\n'.encode()


def go_float(value: float) -> str:
    """`strconv.FormatFloat(f, 'f' or 'e', -1, 64)` as encoding/json chooses between them."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"json: unsupported value: {value}")
    magnitude = abs(value)
    text = repr(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0] if exponent[0] in "+-" else "+"
        digits = exponent.lstrip("+-")
        return f"{mantissa.removesuffix('.0')}e{sign}{int(digits):02d}"
    if "e" in text:
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return text.removesuffix(".0")


def dumps(value: object) -> str:
    """Generic Go `json.Marshal` for dicts (insertion order), sequences, strings and numbers."""
    if isinstance(value, str):
        return quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{quote(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(map(dumps, value)) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
