"""Proposers waiting for their entry to be applied, keyed by request id."""

from __future__ import annotations

import asyncio

from store.errors import EtcdError
from store.event import Event

_SUFFIX_MASK = (1 << 48) - 1


class Waiters:
    """Request ids are unique across the cluster and across restarts, as etcd's: the member's
    low 16 id bits, then a counter seeded from the wall clock in milliseconds. Every member
    applies every entry, so an id proposed elsewhere must never match a local waiter."""

    def __init__(self, member_id: int, now_ms: int) -> None:
        self._pending: dict[int, asyncio.Future[Event | None]] = {}
        self._prefix = (member_id & 0xFFFF) << 48
        self._suffix = (now_ms << 8) & _SUFFIX_MASK

    def register(self) -> tuple[int, asyncio.Future[Event | None]]:
        """A fresh request id and the future its applied entry resolves (None for a Sync)."""
        self._suffix = (self._suffix + 1) & _SUFFIX_MASK
        request_id = self._prefix | self._suffix
        future: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return request_id, future

    def trigger(self, request_id: int, result: Event | EtcdError | None) -> None:
        """Resolve the waiter, if this member has one (entries proposed elsewhere have none)."""
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return
        if isinstance(result, EtcdError):
            future.set_exception(result)
        else:
            future.set_result(result)

    def cancel(self, request_id: int) -> None:
        """Forget a waiter whose proposer gave up (timeout, cancellation)."""
        self._pending.pop(request_id, None)

    def fail_all(self, exc: EtcdError) -> None:
        """The member stops: nothing pending will be applied here any more."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    def __len__(self) -> int:
        return len(self._pending)
