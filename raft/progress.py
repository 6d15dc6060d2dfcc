"""The leader's view of one follower: how far it has matched and how to keep it fed."""

from __future__ import annotations

from collections import deque
from enum import Enum

from .errors import RaftInvariantError


class ProgressState(Enum):
    PROBE = "probe"  # one append at a time until the follower's match is found
    REPLICATE = "replicate"  # optimistic pipelining, bounded by Inflights
    SNAPSHOT = "snapshot"  # waiting for a snapshot to be applied; nothing else is sent


class Inflights:
    """Last indexes of appends sent but not yet acknowledged, oldest first, bounded in count."""

    __slots__ = ("_queue", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._queue: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, last_index: int) -> None:
        if len(self._queue) >= self.capacity:
            raise RaftInvariantError("append sent while inflights are full")
        self._queue.append(last_index)

    def free_le(self, index: int) -> None:
        """Release every append whose last index is at most `index`."""
        queue = self._queue
        while queue and queue[0] <= index:
            queue.popleft()

    def free_first_one(self) -> None:
        self._queue.popleft()

    def full(self) -> bool:
        return len(self._queue) >= self.capacity

    def reset(self) -> None:
        self._queue.clear()


class Progress:
    __slots__ = (
        "inflights",
        "match",
        "msg_app_flow_paused",
        "next",
        "pending_snapshot",
        "recent_active",
        "state",
    )

    def __init__(self, match: int, next_index: int, max_inflight: int) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        # In PROBE: an append is outstanding, wait for its answer or the next heartbeat.
        self.msg_app_flow_paused = False
        self.inflights = Inflights(max_inflight)

    def _reset_state(self, state: ProgressState) -> None:
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def sent_entries(self, count: int, last_index: int) -> None:
        """Account for an append carrying `count` entries up to `last_index`."""
        if self.state is ProgressState.REPLICATE:
            if count:
                self.next = last_index + 1
                self.inflights.add(last_index)
        elif self.state is ProgressState.PROBE:
            self.msg_app_flow_paused = True

    def maybe_update(self, index: int) -> bool:
        """Record an acknowledgement of `index`; False if it was stale."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.msg_app_flow_paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """Step `next` back after a rejection of the append at `rejected`; False if the
        rejection is stale (answers an append that is no longer the latest)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.msg_app_flow_paused = False
        return True

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.msg_app_flow_paused
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True
