"""Proposers waiting for their entry to be applied, keyed by request id."""

from __future__ import annotations

import asyncio

from store.errors import EtcdError
from store.event import Event

_SUFFIX_MASK = (1 << 48) - 1


class Waiters:
    """Request ids are unique across the cluster and across restarts, as etcd's: the member's
    low 16 id bits, then a counter seeded from the wall clock in milliseconds. Every member
    applies every entry, so an id proposed elsewhere must never match a local waiter.

    Waiters are kept in the order they registered, which is the order of their start times, so
    the overdue ones are always at the front: one sweep finds them all, where a timer per
    request would cost a heap entry and a cancellation on every write."""

    def __init__(self, member_id: int, now_ms: int) -> None:
        self._pending: dict[int, tuple[asyncio.Future[Event | None], float]] = {}
        self._prefix = (member_id & 0xFFFF) << 48
        self._suffix = (now_ms << 8) & _SUFFIX_MASK

    def register(self, future: asyncio.Future[Event | None], start: float) -> int:
        """A fresh request id whose applied entry resolves `future` (with None for a Sync);
        `start` is the loop time the request began, never earlier than a previous one's."""
        self._suffix = (self._suffix + 1) & _SUFFIX_MASK
        request_id = self._prefix | self._suffix
        self._pending[request_id] = (future, start)
        return request_id

    def trigger(self, request_id: int, result: Event | EtcdError | None) -> None:
        """Resolve the waiter, if this member has one (entries proposed elsewhere have none)."""
        entry = self._pending.pop(request_id, None)
        if entry is None or entry[0].done():
            return
        if isinstance(result, EtcdError):
            entry[0].set_exception(result)
        else:
            entry[0].set_result(result)

    def cancel(self, request_id: int) -> None:
        """Forget a waiter whose proposer gave up (timeout, cancellation)."""
        self._pending.pop(request_id, None)

    def expire(self, started_by: float) -> list[tuple[asyncio.Future[Event | None], float]]:
        """Remove the waiters that started at or before `started_by`; their futures and starts."""
        overdue = []
        for request_id, (_, start) in self._pending.items():
            if start > started_by:
                break
            overdue.append(request_id)
        return [self._pending.pop(request_id) for request_id in overdue]

    def fail_all(self, exc: EtcdError) -> None:
        """The member stops: nothing pending will be applied here any more."""
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(exc)

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._pending

    def __len__(self) -> int:
        return len(self._pending)
