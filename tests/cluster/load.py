"""Concurrent writers that remember every acknowledged write, for durability checks."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.cluster.client import put_key, read_tree

WRITE_TIMEOUT = 1.0


@dataclass(slots=True)
class Writers:
    """`count` threads, each PUTting unique keys `/<prefix>/w<i>-<n>` round-robin over `ports()`.

    A write counts as acknowledged only on 200/201; failed, refused or timed-out writes are
    retried under a new key. Every thread stops after `max_writes` attempts or at `stop()`.
    """

    prefix: str
    ports: Callable[[], Sequence[int]]
    count: int = 3
    max_writes: int = 20_000
    acked: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # status code, or "no answer"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _halt: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Writers:
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.count)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in self._threads), "a writer did not stop"

    def join(self, timeout: float) -> None:
        """Wait for every writer to finish its `max_writes` (bounded), then stop them."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.stop()

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def _run(self, writer: int) -> None:
        for n in range(self.max_writes):
            if self._halt.is_set():
                return
            ports = self.ports()
            if not ports:
                self._halt.wait(0.05)
                continue
            key, value = f"{self.prefix}/w{writer}-{n}", f"v{writer}-{n}"
            reply = put_key(ports[(writer + n) % len(ports)], key, value, WRITE_TIMEOUT)
            with self._lock:
                self.attempts += 1
                self.outcomes[str(reply.status) if reply is not None else "no answer"] += 1
                if reply is not None and reply.status in (200, 201):
                    self.acked["/" + key] = value

    def __enter__(self) -> Writers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def lost_writes(port: int, prefix: str, acked: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """Acknowledged writes that a quorum read on `port` does not return with their value."""
    stored = read_tree(port, prefix, quorum=True)
    return {k: (v, stored.get(k)) for k, v in acked.items() if stored.get(k) != v}
