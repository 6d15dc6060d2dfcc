"""etcd's operator endpoints of `etcdhttp.HandleBasic`: `/debug/vars` and `/config/local/log`.

`/debug/vars` is Go's expvar page with etcd's variables that mean something outside the Go
runtime (`cmdline`, `file_descriptor_limit`, `raft.status`); Go's `memstats` has no Python
counterpart, so `python.memory` carries the interpreter's own figures under a name that says so.
`PUT /config/local/log` takes `{"Level": "DEBUG"}` (capnslog's levels) and changes the level of
every logger at once, as etcd does; pyetcd applies it under `--logger=zap` too.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from http_api.gojson import dumps
from http_api.protocol import KeysServer, RaftStatus
from http_api.responses import Headers, message, method_not_allowed

VARS_PATH = "/debug/vars"
LOG_PATH = "/config/local/log"
VARS_TYPE = "application/json; charset=utf-8"

Handler = Callable[[web.Request, str, Headers], Awaitable[web.StreamResponse]]


def _reject_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


class _Pairs(list[tuple[str, object]]):
    """A JSON object's members in order, duplicates kept (Go assigns each in turn)."""


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_reject_constant)
_SPACE = " \t\r\n"


def decode_level(body: bytes) -> str | None:
    """Go's `json.NewDecoder(body).Decode(&struct{ Level string }{})`: the `Level` member
    (matched case-insensitively, the last one wins; absent or null: ""), or None where Go
    returns an error. Only the first JSON value is read; what follows it is not."""
    text = body.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _DECODER.raw_decode(text, start)
    except ValueError:
        return None
    if value is None:  # Go needs a delimiter after a top-level literal to know it ended
        return "" if end == len(text) or text[end] in _SPACE else None
    if not isinstance(value, _Pairs):  # only an object fits the struct: anything else mistypes
        return None
    level = ""
    mistyped = False
    for key, item in value:
        if not (key.isascii() and key.lower() == "level"):
            continue
        if isinstance(item, str):
            level = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in item)
        elif item is not None:
            mistyped = True
    return None if mistyped else level


async def handle_log(request: web.Request, server: KeysServer, cors: Headers) -> web.Response:
    if request.method != "PUT":
        return method_not_allowed(cors, "PUT")
    level = decode_level(await request.read())
    if level is None:
        return message(400, "Invalid json body", cors)
    if server.set_log_level(level.upper()) is None:
        return message(400, f"Invalid log level {level}", cors)
    return web.Response(status=204, headers=cors)


def raft_status_json(status: RaftStatus | None) -> str:
    """`raft.Status.MarshalJSON`, progress in id order (Go's map order is random)."""
    if status is None:
        return "null"
    progress = ",".join(
        f'"{p.id:x}":{{"match":{p.match},"next":{p.next},"state":"{p.state}"}}'
        for p in status.progress
    )
    return (
        f'{{"id":"{status.id:x}","term":{status.term},"vote":"{status.vote:x}",'
        f'"commit":{status.commit},"lead":"{status.lead:x}","raftState":"{status.raft_state}",'
        f'"applied":{status.applied},"progress":{{{progress}}},'
        f'"leadtransferee":"{status.lead_transferee:x}"}}'
    )


def python_memory() -> dict[str, object]:
    """What the interpreter and the kernel say about this process's memory, in bytes and
    counts; `rss_bytes` only where /proc exists."""
    figures: dict[str, object] = {}
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident = int(statm.read().split()[1])
        figures["rss_bytes"] = resident * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures["allocated_blocks"] = sys.getallocatedblocks()
    figures["gc"] = {
        "counts": list(gc.get_count()),
        "thresholds": list(gc.get_threshold()),
        "generations": gc.get_stats(),
    }
    return figures


def vars_body(server: KeysServer) -> bytes:
    """expvar's page: one `"name": value` per line, names sorted, as Go writes it."""
    variables = {
        "cmdline": dumps(sys.argv),
        "file_descriptor_limit": str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        "python.memory": dumps(python_memory()),
        "raft.status": raft_status_json(server.raft_status()),
    }
    lines = ",\n".join(f"{dumps(name)}: {value}" for name, value in sorted(variables.items()))
    return f"{{\n{lines}\n}}\n".encode()


def handle_vars(method: str, server: KeysServer, cors: Headers) -> web.Response:
    if method != "GET":
        return method_not_allowed(cors, "GET")
    return web.Response(
        status=200, body=vars_body(server), headers={**cors, "Content-Type": VARS_TYPE}
    )


def routes(server: KeysServer) -> dict[str, Handler]:
    """The paths this module answers, for the client listener's dispatch table."""

    async def log_route(request: web.Request, path: str, cors: Headers) -> web.Response:
        return await handle_log(request, server, cors)

    async def vars_route(request: web.Request, path: str, cors: Headers) -> web.Response:
        return handle_vars(request.method, server, cors)

    return {LOG_PATH: log_route, VARS_PATH: vars_route}
