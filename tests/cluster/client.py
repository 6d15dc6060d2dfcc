"""Blocking HTTP helpers: one short connection per request, every call bounded by a timeout."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from tests.procs import HOST

FORM = "application/x-www-form-urlencoded"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    timeout: float = 2.0,
) -> Reply | None:
    """None when the member refused, reset or did not answer within `timeout`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type or FORM})
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def get_json(port: int, path: str, timeout: float = 2.0) -> tuple[int, Any] | None:
    """(status, decoded body) or None when unreachable or the body is not JSON."""
    reply = call(port, "GET", path, timeout=timeout)
    if reply is None:
        return None
    try:
        return reply.status, reply.json()
    except ValueError:
        return None


def put_key(port: int, key: str, value: str, timeout: float = 2.0) -> Reply | None:
    return call(port, "PUT", f"/v2/keys/{quote(key)}", urlencode({"value": value}).encode(),
                timeout=timeout)  # fmt: skip


def read_tree(port: int, prefix: str, quorum: bool, timeout: float = 10.0) -> dict[str, str]:
    """Every leaf under `prefix` as key -> value (empty when the prefix does not exist)."""
    q = "true" if quorum else "false"
    reply = call(port, "GET", f"/v2/keys/{prefix}?recursive=true&quorum={q}", timeout=timeout)
    assert reply is not None, f"no answer from :{port} reading /{prefix}"
    if reply.status == 404:
        return {}
    assert reply.status == 200, f"GET /{prefix} on :{port}: {reply.status} {reply.body!r}"
    leaves: dict[str, str] = {}
    stack = [reply.json()["node"]]
    while stack:
        node = stack.pop()
        if node.get("dir"):
            stack.extend(node.get("nodes", []))
        else:
            leaves[node["key"]] = node["value"]
    return leaves


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `probe` until it returns something other than None; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
