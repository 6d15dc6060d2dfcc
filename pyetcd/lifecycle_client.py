"""What the BOSH lifecycle asks members over HTTP: member lists, health, leadership, member
changes (v2 client API), and whether a peer URL speaks etcd's HTTP peer protocol."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from pyetcd.lifecycle import Member

REQUEST_TIMEOUT = 2.0


class LifecycleError(Exception):
    """One line for stderr; the step fails."""


class Client:
    """Small synchronous v2 client: the lifecycle makes a handful of calls, one at a time."""

    def __init__(self, tls: dict[str, str] | None) -> None:
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self._ssl = ssl.create_default_context(cafile=tls["ca"])
            self._ssl.load_cert_chain(tls["cert"], tls["key"])

    def call(self, method: str, url: str, body: object = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=self._ssl) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw.strip() else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def members(self, client_url: str) -> tuple[Member, ...] | None:
        """The member list one member serves, or None if it does not answer."""
        try:
            status, body = self.call("GET", f"{client_url}/v2/members")
        except (OSError, ssl.SSLError):
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        try:
            return tuple(
                Member(str(m["id"]), str(m.get("name", "")), tuple(m.get("peerURLs") or ()),
                       tuple(m.get("clientURLs") or ()))
                for m in body.get("members") or ()
            )  # fmt: skip
        except (KeyError, TypeError, AttributeError):
            return None  # not etcd's member list: as good as no answer

    def healthy(self, client_url: str) -> bool:
        try:
            status, body = self.call("GET", f"{client_url}/health")
        except (OSError, ssl.SSLError):
            return False
        return status == 200 and isinstance(body, dict) and body.get("health") == "true"

    def is_leader(self, client_url: str) -> bool | None:
        try:
            status, body = self.call("GET", f"{client_url}/v2/stats/self")
        except (OSError, ssl.SSLError):
            return None
        return status == 200 and isinstance(body, dict) and body.get("state") == "StateLeader"

    def change(self, urls: Sequence[str], method: str, path: str, body: object = None) -> None:
        """A member change through the first member that takes it; raises LifecycleError."""
        reasons = []
        for url in urls:
            try:
                status, answer = self.call(method, f"{url}{path}", body)
            except (OSError, ssl.SSLError) as exc:
                reasons.append(f"{url}: {exc}")
                continue
            if status in (200, 201, 204):
                return
            reasons.append(f"{url}: {status} {answer}")
        raise LifecycleError(f"{method} {path} failed: {'; '.join(reasons) or 'no member'}")


def first_answer(client: Client, urls: Sequence[str]) -> tuple[Member, ...] | None:
    for url in urls:
        members = client.members(url)
        if members is not None:
            return members
    return None


def answers_http(url: str, tls: ssl.SSLContext | None) -> bool:
    """Whether a peer URL answers an HTTP request, as etcd's peer listener does (pyetcd's speaks
    its own framed protocol and hangs up)."""
    request = urllib.request.Request(f"{url}/version")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=tls):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False
