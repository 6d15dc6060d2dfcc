"""The fast lane: a connection's plain `/v2/keys` requests answered straight from the bytes
received. aiohttp spends a task, a request and a response object and several loop iterations
on every request, more CPU than a local GET itself; the lane spends one parse and one write.

A connection starts in the lane. At the first request the lane does not serve (another path,
a watch, auth, anything `wire.frame` calls OTHER) it passes, with every byte not yet answered,
to aiohttp for good, so the two never answer on one connection at the same time and responses
keep the order of the requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from http_api.keys import Pending
from http_api.responses import Reply
from http_api.wire import MAX_BODY, MAX_HEAD, Head, frame, render

__all__ = ["FastLane", "LaneClient"]

# Unanswered pipelined bytes the lane holds before it stops reading from the client.
_MAX_PENDING = MAX_HEAD + MAX_BODY


class LaneClient(Protocol):
    def lane_reply(self, head: Head, body: bytes) -> Reply | Pending | None:
        """The reply, what it waits for, or None: not for the lane."""


class FastLane:
    """One connection's lane; `handoff(data)` gives the connection to aiohttp with `data`."""

    def __init__(
        self,
        client: LaneClient,
        transport: asyncio.Transport,
        handoff: Callable[[bytes], None],
        idle_timeout: float,
    ) -> None:
        self._client = client
        self._transport = transport
        self._handoff = handoff
        self._loop = asyncio.get_running_loop()
        self._pending = b""
        # The reply being waited for, and whether it answers a HEAD: one at a time, in order.
        self._waiting: tuple[Pending, bool] | None = None
        self._closed = False
        self._read_paused = False
        self._write_paused = False
        self._idle_timeout = idle_timeout
        self._last_active = self._loop.time()
        self._idle_handle = (
            self._loop.call_at(self._last_active + idle_timeout, self._check_idle)
            if idle_timeout > 0
            else None
        )

    def feed(self, data: bytes) -> None:
        self._pending = self._pending + data if self._pending else data
        self._pump()

    def close(self) -> None:
        """The connection is gone (or handed off): a reply still being made is dropped."""
        self._closed = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flow()

    def _pump(self) -> None:
        data = self._pending
        start = 0
        transport = self._transport
        while self._waiting is None and not self._closed and start < len(data):
            head = frame(data, start)
            if head is None:
                break
            if (
                not isinstance(head, Head)
                or (reply := self._client.lane_reply(head, _body(data, head))) is None
            ):
                self._pending = b""
                self.close()
                self._resume_reading()
                self._handoff(data[start:])
                return
            start = head.end
            head_only = head.method == "HEAD"
            if isinstance(reply, tuple):
                status, headers, body = reply
                transport.write(render(status, headers, body, head_only))
            else:
                self._waiting = (reply, head_only)
                reply.future.add_done_callback(self._finish)
        self._pending = data[start:] if start else data
        self._last_active = self._loop.time()
        self._flow()

    def _finish(self, future: asyncio.Future[Any]) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return
        if future.cancelled():
            # Only a loop shutting down gets here: the keys handler turns failures into replies.
            if not self._closed:
                self._transport.close()
                self.close()
            return
        pending, head_only = waiting
        # Made even for a client that is gone: it reads the outcome (and counts a failure).
        status, headers, body = pending.finish(future)
        if self._closed:
            return
        self._transport.write(render(status, headers, body, head_only))
        self._pump()

    def _flow(self) -> None:
        """Stop reading while the client does not read its replies or piles up requests."""
        backlog = self._waiting is not None and len(self._pending) > _MAX_PENDING
        if self._write_paused or backlog:
            if not self._read_paused:
                self._read_paused = True
                self._transport.pause_reading()
        else:
            self._resume_reading()

    def _resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self._transport.resume_reading()

    def _check_idle(self) -> None:
        """Close a connection idle for the keep-alive timeout, as aiohttp would."""
        self._idle_handle = None
        if self._closed:
            return
        due = self._last_active + self._idle_timeout
        if self._waiting is not None or self._loop.time() < due:
            self._idle_handle = self._loop.call_at(
                max(due, self._loop.time() + 1), self._check_idle
            )
            return
        self.close()
        self._transport.close()


def _body(data: bytes, head: Head) -> bytes:
    return data[head.body_start : head.end] if head.end > head.body_start else b""
