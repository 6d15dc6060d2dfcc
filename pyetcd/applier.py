"""Committed entries to store events: the one place where raft positions meet the store."""

from __future__ import annotations

import logging

from pyetcd.entry import decode_entry
from pyetcd.wait import Waiters
from store.commands import BadCommand
from store.errors import EtcdError
from store.store import Store

log = logging.getLogger("etcdserver")


class Applier:
    def __init__(self, store: Store, waiters: Waiters) -> None:
        self.store = store
        self.waiters = waiters
        self.applied_index = 0
        self.dropped_entries = 0

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
        try:
            result = self.store.apply(cmd)
        except EtcdError as exc:
            self.waiters.trigger(request_id, exc)
            return
        self.waiters.trigger(request_id, result)

    def restore(self, data: bytes) -> None:
        """Replace the store with a snapshot's (raises store.snapshot.BadSnapshot)."""
        self.store = Store.restore(data)
