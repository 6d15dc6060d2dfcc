"""`/v2/members` and `/v2/machines`, with etcd's request validation and Go's error texts."""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web

from http_api.auth import NO_AUTH, Auth
from http_api.goheaders import SniffedResponse
from http_api.gojson import quote
from http_api.protocol import KeysServer, Member, MembersError
from http_api.responses import TEXT as TEXT_PLAIN
from http_api.responses import Headers, json_body, message, method_not_allowed

log = logging.getLogger("etcdhttp")

PREFIX = "/v2/members"
ALLOWED = ("GET", "POST", "DELETE", "PUT")
_SCHEMES = frozenset(("http", "https", "unix", "unixs"))
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_STRUCT = 'struct { PeerURLs []string "json:\\"peerURLs\\"" }'
_MAX_BODY = 10 << 20
_GO_KINDS = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}


class BadRequest(ValueError):
    """A request body etcd answers with 400 and this Go error text."""


def member_json(member: Member) -> str:
    return (
        f'{{"id":"{member.id:x}","name":{quote(member.name)},'
        f'"peerURLs":[{",".join(map(quote, member.peer_urls))}],'
        f'"clientURLs":[{",".join(map(quote, member.client_urls))}]}}'
    )


def _go_kind(value: object) -> str:
    return _GO_KINDS.get(type(value), "object")


def _json_error(exc: json.JSONDecodeError) -> str:
    """encoding/json's syntax error text for the same input."""
    doc, pos = exc.doc, exc.pos
    if pos >= len(doc.rstrip()):
        return "unexpected end of JSON input"
    char = doc[pos]
    if exc.msg == "Extra data":
        context = "after top-level value"
    elif exc.msg.startswith("Expecting property name"):
        context = "looking for beginning of object key string"
    elif exc.msg.startswith("Expecting ',' delimiter") and doc.lstrip().startswith("{"):
        context = "after object key:value pair"
    elif exc.msg.startswith("Expecting ',' delimiter"):
        context = "after array element"
    elif exc.msg.startswith("Expecting ':' delimiter"):
        context = "after object key"
    else:
        context = "looking for beginning of value"
    shown = "\\''" if char == "'" else char
    return f"invalid character '{shown}' {context}"


def _reject_constant(name: str) -> object:
    raise BadRequest(f"invalid character '{name[0]}' looking for beginning of value")


def parse_peer_urls(body: bytes) -> tuple[str, ...]:
    """`MemberCreateRequest.UnmarshalJSON`: JSON (field matched case-insensitively, as Go does)
    then `types.NewURLs`; raises BadRequest. Returns the URLs sorted."""
    try:
        data = json.loads(body.decode("utf-8", "replace") or " ", parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(_json_error(exc)) from None
    if data is not None and not isinstance(data, dict):
        raise BadRequest(f"json: cannot unmarshal {_go_kind(data)} into Go value of type {_STRUCT}")
    urls = None
    for name, value in (data or {}).items():
        if name.lower() == "peerurls":
            urls = value
    if urls is not None and not isinstance(urls, list):
        raise BadRequest(
            f"json: cannot unmarshal {_go_kind(urls)} into Go struct field .peerURLs of type "
            "[]string"
        )
    if not urls:
        raise BadRequest("no valid URLs given")
    for url in urls:
        if url is not None and not isinstance(url, str):
            raise BadRequest(
                f"json: cannot unmarshal {_go_kind(url)} into Go struct field .peerURLs of type "
                "string"
            )
    return tuple(sorted(_check_url(url or "") for url in urls))


def _check_url(raw: str) -> str:
    """`types.NewURLs` for one URL: scheme, `host:port`, no path."""
    text = raw.strip()
    match = _SCHEME.match(text)
    scheme = match.group()[:-1].lower() if match else ""
    if scheme not in _SCHEMES:
        raise BadRequest(f"URL scheme must be http, https, unix, or unixs: {text}")
    rest = text[match.end() :] if match else text
    host, path = "", rest
    if rest.startswith("//"):
        authority_end = len(rest)
        for stop in "/?#":
            cut = rest.find(stop, 2)
            if cut >= 0:
                authority_end = min(authority_end, cut)
        host = rest[2:authority_end].rpartition("@")[2]
        path = rest[authority_end:]
    path = path.partition("#")[0].partition("?")[0]
    port_cut = host.rfind(":")
    if port_cut > host.rfind("]") and not host[port_cut + 1 :].isdigit() and host[port_cut + 1 :]:
        raise BadRequest(f'parse "{text}": invalid port "{host[port_cut:]}" after host')
    if not _has_port(host):
        raise BadRequest(f'URL address does not have the form "host:port": {text}')
    if path:
        raise BadRequest(f"URL must not contain a path: {text}")
    return text


def _has_port(host: str) -> bool:
    """`net.SplitHostPort` succeeds."""
    if host.startswith("["):
        end = host.find("]")
        return end > 0 and host[end + 1 : end + 2] == ":" and ":" not in host[end + 2 :]
    return host.count(":") == 1


async def _read_body(request: web.Request) -> bytes:
    body = bytearray()
    while len(body) <= _MAX_BODY:
        chunk = await request.content.read(_MAX_BODY + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    raise BadRequest("http: request body too large")


async def _peer_urls_from(request: web.Request, headers: Headers) -> tuple[str, ...] | web.Response:
    """etcd's `unmarshalRequest`: exact `application/json` (lower-cased only when parameters
    follow), then the JSON body."""
    ctype = request.headers.get("Content-Type", "")
    if ";" in ctype:
        ctype = ctype[: ctype.index(";")].lower().strip()
    if ctype != "application/json":
        return message(415, f"Bad Content-Type {ctype}, accept application/json", headers)
    try:
        return parse_peer_urls(await _read_body(request))
    except BadRequest as exc:
        return message(400, str(exc), headers)


def _parse_id(text: str) -> int | None:
    """`types.IDFromString`: `strconv.ParseUint(s, 16, 64)`."""
    if not text or not all(c in "0123456789abcdefABCDEF" for c in text) or len(text) > 16:
        return None
    return int(text, 16)


async def handle_members(
    request: web.Request, server: KeysServer, checks: Auth, path: str, cors: Headers
) -> web.Response:
    """`path` is the cleaned request path, `/v2/members` or below; with auth on, changes need
    a root user."""
    method = request.method
    if method not in ALLOWED:
        return method_not_allowed(cors, ",".join(ALLOWED))
    if not await checks.write_root_access(request):
        return message(401, NO_AUTH, cors)
    headers = {**cors, "X-Etcd-Cluster-Id": f"{server.cluster_id:x}"}
    rest = path[len(PREFIX) :].removeprefix("/")
    try:
        if method == "GET":
            return _get(server, rest, headers)
        if method == "POST":
            urls = await _peer_urls_from(request, headers)
            if isinstance(urls, web.Response):
                return urls
            member = await server.add_member(urls)
            return json_body(201, (member_json(member) + "\n").encode(), headers)
        if not rest:
            return method_not_allowed(headers, None)
        member_id = _parse_id(rest)
        if member_id is None:
            return message(404, f"No such member: {rest}", headers)
        if method == "DELETE":
            await server.remove_member(member_id)
            return web.Response(status=204, headers=headers)
        urls = await _peer_urls_from(request, headers)
        if isinstance(urls, web.Response):
            return urls
        await server.update_member(member_id, urls)
        return web.Response(status=204, headers=headers)
    except MembersError as exc:
        return message(exc.status, exc.message, headers)
    except Exception:
        log.exception("members request %s %s failed", method, path)
        return message(500, "Internal Server Error", headers)


def _get(server: KeysServer, rest: str, headers: Headers) -> web.Response:
    if rest == "":
        listing = ",".join(map(member_json, server.members()))
        return json_body(200, f'{{"members":[{listing}]}}\n'.encode(), headers)
    if rest == "leader":
        leader = server.leader()
        if leader is None:
            return message(503, "During election", headers)
        return json_body(200, (member_json(leader) + "\n").encode(), headers)
    return message(404, "Not found", headers)


def handle_machines(request: web.Request, server: KeysServer, cors: Headers) -> web.Response:
    """Client URLs of every member, sorted, comma-separated (GET and HEAD only)."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(cors, "GET,HEAD")
    urls = sorted(url for member in server.members() for url in member.client_urls)
    body = ", ".join(urls).encode()
    headers = {**cors, "Content-Type": TEXT_PLAIN} if body else dict(cors)
    return SniffedResponse(status=200, body=body, headers=headers)
