"""Small builders shared by the WAL tests."""

from __future__ import annotations

from raft.aio.wal import WalEntry


def batch(first: int, count: int, term: int = 1, size: int = 20) -> list[WalEntry]:
    return [WalEntry(term, i, 0, bytes([i % 251]) * size) for i in range(first, first + count)]
