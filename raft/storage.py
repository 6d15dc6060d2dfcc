"""The stable-storage view the core reads from, and an in-memory implementation.

The application persists each Ready (WAL, snapshot files) and mirrors it into a Storage; the
core only ever reads from it. MemoryStorage is what the asyncio driver rebuilds from the WAL at
boot, and what the tests use directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from .errors import Compacted, RaftInvariantError, SnapshotOutOfDate, Unavailable
from .types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


class Storage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi), at least one if any, then up to `max_size` payload bytes.
        Raises Compacted or Unavailable."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at `index`, valid for first_index() - 1 up to last_index()."""
        ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot: ...


def limit_size(entries: list[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix within `max_size` payload bytes, but never fewer than one entry."""
    if max_size is None or not entries:
        return entries
    total = 0
    for i, entry in enumerate(entries):
        total += len(entry.data)
        if total > max_size and i > 0:
            return entries[:i]
    return entries


class MemoryStorage:
    """Entries live in a list whose element 0 is a placeholder carrying the index and term of
    the last compacted entry, so index arithmetic needs no special case."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self._snapshot = Snapshot()
        self._ents: list[Entry] = [Entry(0, 0)]

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._snapshot.meta.conf_state

    def set_hard_state(self, hard_state: HardState) -> None:
        self.hard_state = hard_state

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise Compacted(index)
        if index - offset >= len(self._ents):
            raise Unavailable(index)
        return self._ents[index - offset].term

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(lo)
        if hi > self.last_index() + 1:
            raise Unavailable(hi)
        return limit_size(self._ents[lo - offset : hi - offset], max_size)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace everything with `snapshot` (a follower restoring, or a restart)."""
        if snapshot.meta.index < self._snapshot.meta.index:
            raise SnapshotOutOfDate(snapshot.meta.index)
        self._snapshot = snapshot
        self._ents = [Entry(snapshot.meta.term, snapshot.meta.index)]
        if self.hard_state.commit < snapshot.meta.index:
            self.hard_state = HardState(
                max(self.hard_state.term, snapshot.meta.term),
                self.hard_state.vote,
                snapshot.meta.index,
            )

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record the application's snapshot at `index` (which must be applied, hence stored)."""
        if index <= self._snapshot.meta.index:
            raise SnapshotOutOfDate(index)
        if index > self.last_index():
            raise Unavailable(index)
        meta = SnapshotMeta(index, self.term(index), conf_state)
        self._snapshot = Snapshot(meta, data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Discard entries up to and including `index`, keeping its term as the placeholder."""
        offset = self._ents[0].index
        if index <= offset:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        cut = index - offset
        self._ents = [Entry(self._ents[cut].term, index), *self._ents[cut + 1 :]]

    def append(self, entries: Sequence[Entry] | Iterable[Entry]) -> None:
        """Append persisted entries, replacing any stored suffix they overlap."""
        entries = list(entries)
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        at = entries[0].index - self._ents[0].index
        if at > len(self._ents):
            raise RaftInvariantError(
                f"append at {entries[0].index} leaves a gap after {self.last_index()}"
            )
        del self._ents[at:]
        self._ents.extend(entries)
