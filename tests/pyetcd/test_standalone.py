"""`--force-new-cluster`'s log surgery (pyetcd.standalone) on an in-memory disk."""

from __future__ import annotations

from pyetcd.membership import encode_context
from pyetcd.standalone import force_new_cluster, members_in, standalone_changes
from raft.aio.fs import FaultyFS
from raft.aio.recovery import open_data_dir
from raft.aio.wal import Metadata
from raft.codec import decode_conf_change, encode_conf_change
from raft.types import ConfChange, ConfChangeKind, Entry, EntryKind, HardState

ADD, REMOVE = ConfChangeKind.ADD, ConfChangeKind.REMOVE
META = Metadata(0xC1, 1)
NOW = 1_795_491_498_000_000_000


def _cc(kind: ConfChangeKind, node: int, index: int, term: int = 1) -> Entry:
    change = ConfChange(kind, node, encode_context(("http://127.0.0.1:1",), 0))
    return Entry(term, index, EntryKind.CONF_CHANGE, encode_conf_change(change))


def test_members_follow_the_snapshot_and_the_logged_changes() -> None:
    entries = [_cc(ADD, 4, 6), Entry(1, 7, EntryKind.NORMAL, b"x"), _cc(REMOVE, 2, 8)]
    assert members_in((1, 2, 3), entries) == [1, 3, 4]


def test_self_is_added_first_when_missing_and_never_removed() -> None:
    kinds = [(c.kind, c.node_id) for c in standalone_changes([1, 2, 3], 2, (), NOW)]
    assert kinds == [(REMOVE, 1), (REMOVE, 3)]
    kinds = [(c.kind, c.node_id) for c in standalone_changes([1, 3], 2, ("http://h:2",), NOW)]
    assert kinds == [(ADD, 2), (REMOVE, 1), (REMOVE, 3)]
    assert standalone_changes([2], 2, (), NOW) == []


def test_the_removals_are_appended_after_the_whole_log_and_committed_durably() -> None:
    """The recorded commit (3) lags the log (5): the tail is kept, the removals follow it."""
    fs = FaultyFS()
    boot = open_data_dir("/d", META, fs=fs, segment_size=1 << 16, preallocate=False)
    logged = [_cc(ADD, 1, 1), _cc(ADD, 2, 2), _cc(ADD, 3, 3), Entry(2, 4, data=b"a")]
    logged.append(Entry(2, 5, data=b"b"))
    boot.wal.save(HardState(2, 1, 3), logged, True)
    boot.wal.close()
    boot = open_data_dir("/d", fs=fs, segment_size=1 << 16, preallocate=False)

    forced = force_new_cluster(boot, ("http://127.0.0.1:1",), NOW)
    assert forced.hard_state == HardState(2, 1, 7)
    tail = forced.storage.entries(4, 8)
    assert [(e.index, e.term, e.data) for e in tail[:2]] == [(4, 2, b"a"), (5, 2, b"b")]
    assert [(decode_conf_change(e.data).kind, decode_conf_change(e.data).node_id) for e in
            tail[2:]] == [(REMOVE, 2), (REMOVE, 3)]  # fmt: skip
    forced.wal.close()
    fs.power_cut()
    again = open_data_dir("/d", fs=fs, segment_size=1 << 16, preallocate=False)
    assert (again.hard_state.commit, again.storage.last_index()) == (7, 7)
    again.wal.close()
