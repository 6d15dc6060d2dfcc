"""Concurrent clients recording a history of writes, compare-and-set and reads on a few keys,
each through a member chosen at random, every call bounded by a timeout."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.faults.members import CLIENT_PORT, Member
from tests.faults.netns import entered_fd
from tests.lincheck.history import Kind, Op, Outcome, Value

PREFIX = "/v2/keys/faults/"
KEYS = ("k0", "k1", "k2")
TIMEOUT_S = 1.5
CATCH_UP_ENTRIES = 5000  # entries etcd (and pyetcd) keep behind a snapshot for slow followers
SNAPSHOTS_RECEIVED = re.compile(r"^etcd_network_snapshot_receive_success\{[^}]*\} (\S+)$", re.M)
KEY_NOT_FOUND = 100
COMPARE_FAILED = 101


def classify(kind: Kind, status: int, body: Any) -> tuple[Outcome, bool | Value]:
    """What an answer tells about an operation: (outcome, result).

    A write or swap answered with an error other than a failed comparison may still commit
    (etcd times a proposal out without withdrawing it), so it is UNKNOWN; an unanswered read
    constrains nothing (FAIL)."""
    code = body.get("errorCode") if isinstance(body, dict) else None
    node = body.get("node") if isinstance(body, dict) else None
    if kind is Kind.READ:
        if status == 200 and isinstance(node, dict):
            return Outcome.OK, node.get("value")
        if status == 404 and code == KEY_NOT_FOUND:
            return Outcome.OK, None
        return Outcome.FAIL, None
    if status in (200, 201):
        return Outcome.OK, True if kind is Kind.CAS else None
    if kind is Kind.CAS and code in (KEY_NOT_FOUND, COMPARE_FAILED):
        return Outcome.OK, False
    return Outcome.UNKNOWN, None


def request_for(op: Op, quorum: bool) -> tuple[str, str, str | None]:
    """(method, path, form body) of one operation."""
    path = PREFIX + op.key
    if op.kind is Kind.READ:
        return "GET", f"{path}?quorum={'true' if quorum else 'false'}", None
    form = {"value": op.value}
    if op.kind is Kind.CAS:
        form["prevValue"] = op.expected
    return "PUT", path, urlencode(form)


@dataclass
class History:
    """Operations with exact real-time order: one counter for every invoke and complete."""

    ops: list[Op] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: itertools.count[int] = field(default_factory=itertools.count)

    def invoke(self, client: int, node: int, kind: Kind, key: str, value: Value = None,
               expected: Value = None) -> Op:  # fmt: skip
        with self.lock:
            op = Op(len(self.ops), client, node, kind, key, value, expected, next(self.clock))
            self.ops.append(op)
        return op

    def complete(self, op: Op, outcome: Outcome, result: bool | Value) -> None:
        with self.lock:
            if outcome is not Outcome.UNKNOWN:
                op.ret = next(self.clock)
            op.outcome, op.result = outcome, result


def perform(history: History, member: Member, op: Op, quorum: bool = True) -> None:
    """Send one operation and record what came back."""
    method, path, body = request_for(op, quorum)
    try:
        status, answer = member.request(method, path, body, timeout=TIMEOUT_S)
    except ConnectionRefusedError:
        history.complete(op, Outcome.FAIL, None)  # never reached the member
        return
    except OSError:
        history.complete(op, Outcome.UNKNOWN if op.kind is not Kind.READ else Outcome.FAIL, None)
        return
    history.complete(op, *classify(op.kind, status, answer))


def client_loop(
    history: History,
    client: int,
    members: Callable[[], Sequence[Member]],
    rng: random.Random,
    stop: threading.Event,
) -> None:
    """One client until `stop`: a random key, operation and member each time."""
    last: dict[str, Value] = {}
    for n in itertools.count():
        if stop.is_set():
            return
        targets = members()
        member = targets[rng.randrange(len(targets))]
        key = rng.choice(KEYS)
        roll = rng.random()
        value = f"c{client}-{n}"
        if roll < 0.4:
            op = history.invoke(client, member.index, Kind.READ, key)
        elif roll < 0.7 or key not in last:
            op = history.invoke(client, member.index, Kind.WRITE, key, value)
        else:
            op = history.invoke(client, member.index, Kind.CAS, key, value, last[key])
        perform(history, member, op)
        if op.outcome is Outcome.OK and op.kind is Kind.READ and op.result is not None:
            last[key] = str(op.result)
        elif op.kind is not Kind.READ:
            last[key] = value


def bulk_write(members: Sequence[Member], count: int, threads: int = 6,
               timeout: float = 120.0) -> int:  # fmt: skip
    """Write `count` distinct keys under /bulk through `members` (bounded by `timeout`): the
    number acknowledged. Runs in threads of the caller's namespace."""
    acked = itertools.count()
    done = threading.Event()
    deadline = time.monotonic() + timeout
    netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    def writer(worker: int) -> None:
        with entered_fd(netns):
            for n in itertools.count():
                if done.is_set() or time.monotonic() > deadline:
                    return
                member = members[n % len(members)]
                with contextlib.suppress(OSError):
                    body = urlencode({"value": "x" * 64})
                    status, _ = member.request("PUT", f"/v2/keys/bulk/w{worker}-{n}", body)
                    if status in (200, 201) and next(acked) + 1 >= count:
                        done.set()

    pool = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(threads)]
    try:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout + 5)
    finally:
        os.close(netns)
    return next(acked)


def snapshots_received(member: Member) -> float:
    """etcd's counter of raft snapshots a member received (0 until the first, or unreachable)."""
    with contextlib.suppress(OSError):
        conn = http.client.HTTPConnection(member.host, CLIENT_PORT, timeout=5.0)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode("utf-8", "replace")
        finally:
            conn.close()
        return sum(float(v) for v in SNAPSHOTS_RECEIVED.findall(text))
    return 0.0
