"""Hypothesis: any sequence of saves, reopens and power cuts replays as raft's log would."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from raft.aio.fs import FaultyFS
from raft.aio.wal import WAL, HardState, Metadata, WalEntry

SEGMENT = 512

save = st.tuples(
    st.just("save"),
    st.integers(0, 4),  # how far back the batch starts (a new leader overwriting the tail)
    st.integers(0, 6),  # batch length
    st.integers(0, 60),  # data size
    st.booleans(),  # with a hard state
    st.booleans(),  # must_sync
)
reopen = st.tuples(st.just("reopen"))
crash = st.tuples(st.just("crash"), st.integers(0, 2**32))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(save, save, save, reopen, crash), max_size=40))
def test_replay_matches_a_model_log(ops: list[tuple]) -> None:
    fs = FaultyFS()
    wal = WAL.create(fs, "/w", Metadata(3, 4), segment_size=SEGMENT)
    log: list[WalEntry] = []
    hard = HardState()
    term = 1
    # What a power cut may leave: any state after a record written since the last sync.
    survivors = [(list(log), hard)]
    for op in ops:
        if op[0] == "save":
            _, back, count, size, with_hard, sync = op
            first = max(1, len(log) + 1 - back)
            term += 1 if back else 0
            indexes = range(first, first + count)
            entries = [WalEntry(term, i, i % 2, bytes([i % 256]) * size) for i in indexes]
            if entries:
                del log[first - 1 :]
                log += entries
                survivors.append((list(log), hard))
            if with_hard:
                hard = HardState(term, term % 3, min(len(log), hard.commit + 1))
                survivors.append((list(log), hard))
            wal.save(hard if with_hard else None, entries, must_sync=sync)
            if sync:
                survivors = [(list(log), hard)]
        elif op[0] == "reopen":
            wal.close()
            wal, replay = WAL.open(fs, "/w", segment_size=SEGMENT)
            assert replay.entries == log and replay.hard_state == hard
            survivors = [(list(log), hard)]
        else:
            fs.power_cut(random.Random(op[1]))
            wal, replay = WAL.open(fs, "/w", segment_size=SEGMENT)
            assert (replay.entries, replay.hard_state) in survivors
            log, hard = list(replay.entries), replay.hard_state
            survivors = [(list(log), hard)]
    wal.close()
    replay = WAL.open(fs, "/w", segment_size=SEGMENT)[1]
    assert replay.entries == log
    assert replay.hard_state == hard
    assert replay.metadata == Metadata(3, 4)
