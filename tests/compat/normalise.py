"""Turn a raw response into a comparable record, erasing only what legitimately differs.

Kept exact: status, every header name in wire order with its value (but Date, Content-Length and
X-Raft-*), Content-Type, X-Etcd-Index, Allow, Location, CORS headers, body bytes of
non-JSON responses, JSON structure *with key order*, every value, the Go escape sequences used
and the raw bytes outside ASCII. Erased: ports (two members cannot share them), member and
cluster IDs when they equal the value etcd's sha1 scheme gives for the member's own flags,
X-Raft-* values (presence kept), `expiration` instants (RFC3339Nano-UTC shape kept), `ttl`
within one second, child order of listings not requested `sorted`, stats counters and times.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.compat import rawhttp

EXACT_HEADERS = (
    "Content-Type",
    "X-Etcd-Index",
    "Allow",
    "Location",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
)
PRESENCE_HEADERS = ("X-Raft-Index", "X-Raft-Term")
# Every header is compared in wire order with its value, except these, whose values differ
# legitimately (time, raft bookkeeping, a body whose compared form is normalised).
LAYOUT_PLACEHOLDERS = {
    "date": "<date>",
    "content-length": "<length>",
    "x-raft-index": "<raft-index>",
    "x-raft-term": "<raft-term>",
}
COMPARED_NAMES = frozenset(
    n.lower() for n in (*EXACT_HEADERS, *PRESENCE_HEADERS, "X-Etcd-Cluster-Id")
)
TRUE_WORDS = frozenset({"1", "t", "T", "TRUE", "true", "True"})
EXPIRATION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"')
ESCAPE = re.compile(rb'\\u[0-9a-fA-F]{4}|\\["\\/bfnrt]')
HEX_ID = re.compile(r"^[0-9a-f]{1,16}$")
STATS_KEPT = frozenset({"name", "id", "state", "leader", "watchers"})
METRIC_NAMES = (
    "etcd_debugging_store_reads_total",
    "etcd_debugging_store_writes_total",
    "etcd_debugging_store_expires_total",
    "etcd_debugging_store_watchers",
    "etcd_debugging_store_watch_requests_total",
    "etcd_server_has_leader",
    "etcd_server_health_success",
    "etcd_server_health_failures",
)


@dataclass(frozen=True, slots=True)
class Ttl:
    """A TTL in seconds; two readings taken on different machines may differ by one."""

    seconds: Any

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ttl):
            return NotImplemented
        a, b = self.seconds, other.seconds
        if type(a) is int and type(b) is int:
            return abs(a - b) <= 1
        return a == b

    def __hash__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Identity:
    """What a member's own URLs and IDs are replaced by in responses."""

    client_port: int
    peer_port: int
    member_id: str
    cluster_id: str

    def scrub(self, data: bytes) -> bytes:
        for port, name in ((self.client_port, b"CLIENT"), (self.peer_port, b"PEER")):
            data = re.sub(rb"127\.0\.0\.1:%d(?!\d)" % port, name, data)
        return data.replace(self.member_id.encode(), b"MEMBER-ID")


@dataclass(frozen=True, slots=True)
class Context:
    """What about the request decides how its response is normalised."""

    method: str
    path: str
    sorted_listing: bool

    @classmethod
    def of(cls, method: str, target: str) -> Context:
        parts = urlsplit(target)
        query = dict(reversed(parse_qsl(parts.query, keep_blank_values=True)))
        return cls(method, parts.path, query.get("sorted", "") in TRUE_WORDS)


def record(resp: rawhttp.Response, ctx: Context, ident: Identity) -> tuple[Any, ...]:
    """The comparable form of one response."""
    return (
        ("status", resp.status),
        ("headers", _headers(resp, ctx, ident)),
        ("complete", resp.complete),
        ("body", _body(ident.scrub(resp.body), resp, ctx)),
    )


def _headers(resp: rawhttp.Response, ctx: Context, ident: Identity) -> tuple[Any, ...]:
    # Names as spelled on the wire: Go canonicalises them (`X-Etcd-Cluster-Id`).
    spelled = tuple(sorted(k for k, _ in resp.headers if k.lower() in COMPARED_NAMES))
    out: list[tuple[str, Any]] = [("names", spelled)]
    out += [(name, resp.header(name)) for name in EXACT_HEADERS]
    out += [(name, resp.header(name) is not None) for name in PRESENCE_HEADERS]
    cid = resp.header("X-Etcd-Cluster-Id")
    out.append(("X-Etcd-Cluster-Id", "CLUSTER-ID" if cid == ident.cluster_id else cid))
    if ctx.method == "HEAD":
        out.append(("Content-Length", resp.header("Content-Length")))
    out.append(("layout", _layout(resp, ident)))
    return tuple(out)


def _layout(resp: rawhttp.Response, ident: Identity) -> tuple[tuple[str, str], ...]:
    """Every header as sent, in order (Go's: the handler's sorted, then Date, Content-Length,
    a sniffed Content-Type, Connection, Transfer-Encoding), no `Server`."""
    out = []
    for name, value in resp.headers:
        lowered = name.lower()
        if lowered in LAYOUT_PLACEHOLDERS:
            value = LAYOUT_PLACEHOLDERS[lowered]
        elif lowered == "x-etcd-cluster-id" and value == ident.cluster_id:
            value = "CLUSTER-ID"
        else:
            value = ident.scrub(value.encode("latin-1")).decode("latin-1")
        out.append((name, value))
    return tuple(out)


def _body(data: bytes, resp: rawhttp.Response, ctx: Context) -> tuple[Any, ...]:
    if ctx.path == "/metrics" and resp.status == 200:
        if data and resp.header("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        text = data.decode("utf-8", "replace")
        return ("metrics", tuple((n, re.search(rf"^{n}[{{ ]", text, re.M) is not None)
                                 for n in METRIC_NAMES))  # fmt: skip
    content_type = resp.header("Content-Type") or ""
    if content_type.startswith("application/json") and data:
        try:
            return ("json", *_json_record(data, ctx))
        except ValueError:
            return ("invalid-json", data)
    return ("raw", data)


def _json_record(data: bytes, ctx: Context) -> tuple[Any, ...]:
    stats = ctx.path.startswith("/v2/stats/")
    documents = tuple(
        _value(json.loads(line, object_pairs_hook=_Pairs), ctx, stats)
        for line in data.split(b"\n")
        if line.strip()
    )
    outside = STRING_LITERAL.sub(b'""', data)
    layout = (
        outside.count(b" "),
        outside.count(b"\n"),
        data.endswith(b"\n"),
    )
    escapes = tuple(sorted(ESCAPE.findall(data)))
    raw_specials = bytes(sorted(b for b in STRING_LITERAL.sub(b"", data) if b > 0x7E))
    inside_specials = bytes(
        sorted(b for lit in STRING_LITERAL.findall(data) for b in lit if b > 0x7E or b < 0x20)
    )
    return (
        documents,
        ("layout", layout),
        ("escapes", escapes),
        (
            "raw-bytes",
            raw_specials + inside_specials,
        ),
    )


class _Pairs(tuple):
    """A JSON object as an ordered tuple of (key, value) pairs, so key order is compared."""

    __slots__ = ()


def _value(value: Any, ctx: Context, stats: bool) -> Any:
    if isinstance(value, _Pairs):
        return ("{}", tuple(_member(k, v, ctx, stats) for k, v in value))
    if isinstance(value, list):
        return tuple(_value(v, ctx, stats) for v in value)
    return value


def _member(key: str, value: Any, ctx: Context, stats: bool) -> tuple[str, Any]:
    if stats and key not in STATS_KEPT and not isinstance(value, _Pairs | list):
        return key, f"<{type(value).__name__}>"
    if key == "expiration" and isinstance(value, str) and EXPIRATION.match(value):
        return key, "<rfc3339nano-utc>"
    if key == "ttl":
        return key, Ttl(value)
    if key == "id" and ctx.method == "POST" and isinstance(value, str) and HEX_ID.match(value):
        return key, "<runtime-member-id>"  # member add: sha1 over peer URLs + the current time
    normalised = _value(value, ctx, stats)
    if key == "nodes" and isinstance(normalised, tuple) and not ctx.sorted_listing:
        normalised = tuple(sorted(normalised, key=repr))
    return key, normalised


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """A human-readable path to the first place two records differ, or None if equal."""
    if a == b:
        return None
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                label = x[0] if isinstance(x, tuple) and x and isinstance(x[0], str) else i
                found = first_difference(x, y, f"{where}/{label}")
                if found:
                    return found
        return f"{where or '/'}: length {len(a)} vs {len(b)}: {a!r} vs {b!r}"
    return f"{where or '/'}: {a!r} vs {b!r}"
