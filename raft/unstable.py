"""Entries and a snapshot the core holds but the application has not yet persisted."""

from __future__ import annotations

from .errors import RaftInvariantError
from .types import Entry, Snapshot


class Unstable:
    """`entries[i]` has index `offset + i`; a pending snapshot, if any, precedes them."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.meta.index == index:
                return self.snapshot.meta.term
            return None
        at = index - self.offset
        if at < len(self.entries):
            return self.entries[at].term
        return None

    def stable_to(self, index: int, term: int) -> None:
        """Forget entries up to `index` once persisted, unless they were replaced meanwhile."""
        if self.maybe_term(index) != term or index < self.offset:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.meta.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        first = entries[0].index
        if first == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif first <= self.offset:
            # Replaces everything unstable; the log above `first` is overwritten.
            self.offset = first
            self.entries = list(entries)
        else:
            del self.entries[first - self.offset :]
            self.entries.extend(entries)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        if lo < self.offset or hi > self.offset + len(self.entries):
            raise RaftInvariantError(
                f"unstable slice [{lo},{hi}) out of [{self.offset},"
                f"{self.offset + len(self.entries)})"
            )
        return self.entries[lo - self.offset : hi - self.offset]
