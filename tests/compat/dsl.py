"""The vocabulary scenarios are written in: requests, background watches, waits, bulk writes,
keep-alive sequences.

Targets and bodies may contain `@MID@`, `@PEER@` and `@CLIENT@`, replaced per member by its
member ID (hex), peer URL and client URL, so a scenario can address the member it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
JSON = (("Content-Type", "application/json"),)


@dataclass(frozen=True, slots=True)
class Req:
    """One HTTP request. With `label` it runs in the background until an `Await` collects it."""

    method: str
    target: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    label: str | None = None
    max_lines: int | None = None  # stream watches: stop reading after this many event lines
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Await:
    """Collect a background request started with the same label."""

    label: str


@dataclass(frozen=True, slots=True)
class Bulk:
    """`count` sequential requests (target/body may use `{i}`); records status counts only."""

    count: int
    method: str
    target: str
    body: str = ""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Plain requests sent one after another on a single persistent connection."""

    requests: tuple[Req, ...]


Step = Req | Await | Bulk | KeepAlive


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]


def _body(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def req(
    method: str,
    target: str,
    body: str | bytes = "",
    headers: tuple[tuple[str, str], ...] | None = None,
    timeout: float = 5.0,
) -> Req:
    """Any request; a PUT/POST body defaults to the urlencoded form content type."""
    if headers is None:
        headers = FORM if body and method in ("PUT", "POST") else ()
    return Req(method, target, _body(body), headers, timeout=timeout)


def get(target: str, headers: tuple[tuple[str, str], ...] = ()) -> Req:
    return Req("GET", target, headers=headers)


def head(target: str) -> Req:
    return Req("HEAD", target)


def put(target: str, body: str | bytes = "") -> Req:
    return req("PUT", target, body)


def post(target: str, body: str | bytes = "") -> Req:
    return req("POST", target, body)


def delete(target: str) -> Req:
    return Req("DELETE", target)


def watch(label: str, target: str, timeout: float = 5.0) -> Req:
    """A long-poll GET started in the background; the scenario goes on once headers arrive."""
    return Req("GET", target, label=label, timeout=timeout)


def stream(label: str, target: str, lines: int, timeout: float = 3.0) -> Req:
    """A `stream=true` watch read until `lines` event lines arrived or `timeout` passed."""
    return Req("GET", target, label=label, max_lines=lines, timeout=timeout)


def wait(label: str) -> Await:
    return Await(label)


def keepalive(*requests: Req) -> KeepAlive:
    return KeepAlive(requests)


def scenario(name: str, *steps: Step) -> Scenario:
    return Scenario(name, steps)


def substitute(text: str, member_id: str, peer_url: str, client_url: str) -> str:
    return (
        text.replace("@MID@", member_id).replace("@PEER@", peer_url).replace("@CLIENT@", client_url)
    )
