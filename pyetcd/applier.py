"""Committed entries to store events: the one place where raft positions meet the store."""

from __future__ import annotations

import logging
import time

from pyetcd import gotime
from pyetcd.entry import decode_entry
from pyetcd.wait import Waiters
from store.commands import BadCommand, Command
from store.errors import EtcdError
from store.store import Store

log = logging.getLogger("etcdserver")

# --experimental-warning-apply-duration's default.
WARN_APPLY_AFTER = 0.1


class Applier:
    """`warn_after`: seconds an entry's apply may take before etcd's "took too long" warning
    (counted in `slow_applies`, etcd's `etcd_server_slow_apply_total`)."""

    def __init__(
        self, store: Store, waiters: Waiters, warn_after: float = WARN_APPLY_AFTER
    ) -> None:
        self.store = store
        self.waiters = waiters
        self.applied_index = 0
        self.dropped_entries = 0
        self.warn_after = warn_after
        self.slow_applies = 0

    def apply_entry(self, index: int, data: bytes) -> None:
        """Apply the entry at `index` (in log order) and wake its proposer, if it is local.

        An undecodable entry is counted and skipped: it consumes its raft index, as a failed
        write does, and no member can apply it, so skipping keeps the members identical.
        """
        self.applied_index = index
        try:
            request_id, cmd = decode_entry(data)
        except BadCommand as exc:
            self.dropped_entries += 1
            log.error("skipped undecodable entry at index %d: %s", index, exc)
            return
        start = time.perf_counter()
        try:
            result = self.store.apply(cmd)
        except EtcdError as exc:
            self.waiters.trigger(request_id, exc)
            return
        finally:
            took = time.perf_counter() - start
            if took > self.warn_after:
                self._warn_slow(request_id, cmd, took)
        self.waiters.trigger(request_id, result)

    def _warn_slow(self, request_id: int, cmd: Command, took: float) -> None:
        """etcd's warnOfExpensiveRequest, the request in etcd's short form (id, method, path)."""
        self.slow_applies += 1
        request = f"id:{request_id},method:{type(cmd).__name__},path:{getattr(cmd, 'key', '')}"
        duration = gotime.duration(int(took * 1e9))
        log.warning(
            'request "%s" with result "" took too long (%s) to execute',
            request,
            duration,
            extra={
                "zap": "apply request took too long",
                "fields": {
                    "took": duration,
                    "expected-duration": gotime.duration(int(self.warn_after * 1e9)),
                    "prefix": "",
                    "request": request,
                    "response": "",
                },
            },
        )

    def restore(self, data: bytes) -> None:
        """Replace the store with a snapshot's (raises store.snapshot.BadSnapshot)."""
        self.store = Store.restore(data)
