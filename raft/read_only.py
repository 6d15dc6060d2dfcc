"""ReadIndex bookkeeping on the leader: pending reads confirmed by a heartbeat round."""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import NONE


@dataclass(slots=True)
class ReadRequest:
    """A read waiting for a quorum to confirm leadership; `frm` NONE for a local read."""

    ctx: bytes
    frm: int
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    """Requests are keyed by their ctx (which doubles as the heartbeat context) and released
    in arrival order: confirming one confirms every request queued before it."""

    __slots__ = ("_pending", "_queue")

    def __init__(self) -> None:
        self._pending: dict[bytes, ReadRequest] = {}
        self._queue: list[bytes] = []

    def add_request(self, index: int, ctx: bytes, frm: int = NONE) -> bool:
        """Queue a read; False if a read with the same ctx is already pending."""
        if ctx in self._pending:
            return False
        self._pending[ctx] = ReadRequest(ctx, frm, index)
        self._queue.append(ctx)
        return True

    def recv_ack(self, node: int, ctx: bytes) -> set[int] | None:
        """Record `node` confirming `ctx`; the acks so far, or None for an unknown ctx."""
        request = self._pending.get(ctx)
        if request is None:
            return None
        request.acks.add(node)
        return request.acks

    def advance(self, ctx: bytes) -> list[ReadRequest]:
        """Release the request for `ctx` and every one queued before it."""
        if ctx not in self._pending:
            return []
        at = self._queue.index(ctx) + 1
        released = [self._pending.pop(c) for c in self._queue[:at]]
        del self._queue[:at]
        return released

    def last_pending_ctx(self) -> bytes | None:
        return self._queue[-1] if self._queue else None

    def clear(self) -> None:
        self._pending.clear()
        self._queue.clear()
