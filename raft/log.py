"""The log as the core sees it: stable entries in Storage followed by unstable ones."""

from __future__ import annotations

from .errors import Compacted, RaftInvariantError, Unavailable
from .storage import Storage, limit_size
from .types import Entry, Snapshot
from .unstable import Unstable


class RaftLog:
    __slots__ = ("applied", "committed", "storage", "unstable")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1

    def first_index(self) -> int:
        snapshot = self.unstable.snapshot
        if snapshot is not None:
            return snapshot.meta.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        unstable = self.unstable
        if unstable.entries:
            return unstable.offset + len(unstable.entries) - 1
        if unstable.snapshot is not None:
            return unstable.snapshot.meta.index
        return self.storage.last_index()

    def last_term(self) -> int:
        return self.term(self.last_index())

    def term(self, index: int) -> int:
        """Term at `index`; raises Compacted below first_index() - 1, Unavailable past the end."""
        term = self.unstable.maybe_term(index)
        if term is not None:
            return term
        if index < self.first_index() - 1:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        return self.storage.term(index)

    def zero_term_on_out_of_bounds(self, index: int) -> int:
        try:
            return self.term(index)
        except (Compacted, Unavailable):
            return 0

    def match_term(self, index: int, term: int) -> bool:
        return self.zero_term_on_out_of_bounds(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as recent as ours."""
        our_term = self.last_term()
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index())

    def append(self, entries: list[Entry]) -> int:
        if not entries:
            return self.last_index()
        if entries[0].index - 1 < self.committed:
            raise RaftInvariantError(
                f"append after {entries[0].index - 1} would overwrite committed {self.committed}"
            )
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def maybe_append(
        self, index: int, log_term: int, commit: int, entries: tuple[Entry, ...]
    ) -> int | None:
        """Append a leader's entries following (index, log_term) if our log matches there;
        returns the last index they cover, or None on mismatch. Existing entries are only
        truncated from the first one whose term conflicts."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftInvariantError(f"conflict at {conflict} <= committed {self.committed}")
            self.append(list(entries[conflict - index - 1 :]))
        self.commit_to(min(commit, last_new))
        return last_new

    def find_conflict(self, entries: tuple[Entry, ...]) -> int:
        """Index of the first entry that conflicts with or extends our log, 0 if none does."""
        if not entries:
            return 0
        last = self.last_index()
        if entries[0].index > last:
            return entries[0].index
        tail = entries[-1]
        if tail.index <= last and self.match_term(tail.index, tail.term):
            # Log Matching: an equal (index, term) at the end means an equal prefix.
            return 0
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose term is <= `term`, and that term: where a
        leader should probe next after a rejection."""
        while index > 0:
            try:
                our = self.term(index)
            except (Compacted, Unavailable):
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    def commit_to(self, commit: int) -> None:
        if commit > self.committed:
            if self.last_index() < commit:
                raise RaftInvariantError(f"commit {commit} beyond last index {self.last_index()}")
            self.committed = commit

    def maybe_commit(self, index: int, term: int) -> bool:
        """Advance commit to `index` only if it holds an entry of `term` (the leader's):
        entries of earlier terms are never committed by counting replicas."""
        if index > self.committed and self.zero_term_on_out_of_bounds(index) == term:
            self.committed = index
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        if index > self.committed or index < self.applied:
            raise RaftInvariantError(f"applied {index} outside [{self.applied}, {self.committed}]")
        self.applied = index

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self.first_index() - 1) and (
            self.unstable.snapshot is None
        )

    def next_committed(self, max_size: int | None = None) -> list[Entry]:
        lo = max(self.applied + 1, self.first_index())
        if self.unstable.snapshot is not None or self.committed + 1 <= lo:
            return []
        return self.slice(lo, self.committed + 1, max_size)

    def entries(self, lo: int, max_size: int | None) -> list[Entry]:
        last = self.last_index()
        if lo > last:
            return []
        return self.slice(lo, last + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi) from storage then unstable; raises Compacted below first_index."""
        if lo < self.first_index():
            raise Compacted(lo)
        if hi > self.last_index() + 1:
            raise Unavailable(hi)
        if lo == hi:
            return []
        offset = self.unstable.offset
        if lo >= offset:
            return limit_size(self.unstable.slice(lo, hi), max_size)
        stored = self.storage.entries(lo, min(hi, offset), max_size)
        if hi <= offset or len(stored) < min(hi, offset) - lo:
            return stored
        rest = self.unstable.slice(offset, hi)
        if max_size is None:
            return stored + rest
        return limit_size(stored + rest, max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.meta.index
        self.unstable.restore(snapshot)

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)
