"""The simulator's checks have teeth: deliberately broken nodes and cores are caught."""

from __future__ import annotations

import pytest

from raft import AppendResponse, Entry, HardState, RawNode, ReadState, VoteResponse
from raft.log import RaftLog
from raft.progress import Inflights
from tests.sim.disk import DiskImage, SimDisk
from tests.sim.invariants import Invariants, SafetyViolation
from tests.sim.nemesis import FaultProfile
from tests.sim.test_sim import found_with
from tests.sim.world import LivenessFailure, NotLinearizable, World

HOSTILE = FaultProfile(
    n_nodes=5, drop=0.05, faults=("partition", "crash", "isolate_leader"), interval_ms=100
)


def test_durability_of_sent_messages() -> None:
    check = Invariants().sending
    image = DiskImage(None, HardState(3, 2, 0), [Entry(1, 1), Entry(3, 2)])
    check(3, VoteResponse(2, 3, 3), image)
    check(3, AppendResponse(2, 3, 3, 2), image)
    # Superseded within the same Ready by a higher durable term: harmless.
    check(3, VoteResponse(5, 3, 2), image)
    with pytest.raises(SafetyViolation, match="vote was durable"):
        check(3, VoteResponse(5, 3, 3), image)
    with pytest.raises(SafetyViolation, match="before term 4"):
        check(3, VoteResponse(2, 3, 4), image)
    with pytest.raises(SafetyViolation, match="only 2 durable"):
        check(3, AppendResponse(2, 3, 3, 3), image)


def test_a_calm_cluster_passes() -> None:
    outcome = World(1, profile=FaultProfile()).run()
    assert outcome.ok_ops > 100
    assert outcome.checks > 1000


def test_hostile_profile_passes_with_a_correct_core() -> None:
    outcome = World(0, profile=HOSTILE).run()
    assert outcome.nemesis_actions > 20


def test_sending_before_fsync_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SimDisk, "sync", lambda self: None)
    with pytest.raises(SafetyViolation, match="before"):
        World(0, profile=FaultProfile()).run()


def test_a_disk_that_forgets_synced_state_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def amnesia(self: SimDisk, rng: object, tear: bool) -> int:
        self.durable = DiskImage()
        self.pending.clear()
        return 0

    monkeypatch.setattr(SimDisk, "crash", amnesia)
    with pytest.raises(SafetyViolation, match="restarted with term"):
        World(0, profile=HOSTILE).run()


def test_voting_for_stale_candidates_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    caught = []
    for seed in range(8):
        try:
            World(seed, profile=HOSTILE).run()
        except SafetyViolation as exc:
            caught.append(str(exc))
    assert any("leader completeness" in c for c in caught), caught


def test_reads_without_read_index_are_not_linearizable(monkeypatch: pytest.MonkeyPatch) -> None:
    def local_read(self: RawNode, ctx: bytes) -> None:
        self.raft.read_states.append(ReadState(0, ctx))

    monkeypatch.setattr(RawNode, "read_index", local_read)
    with pytest.raises(NotLinearizable, match="not linearizable"):
        World(0, profile=HOSTILE).run()


def test_a_stuck_inflight_window_fails_liveness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression seed 27 without the core's fix for FINDINGS.md #1."""
    monkeypatch.setattr(Inflights, "free_first_one", lambda self: None)
    with pytest.raises(LivenessFailure, match="no write committed"):
        World(27, profile=found_with(27)).run()


def test_a_replay_is_identical() -> None:
    first: list[str] = []
    second: list[str] = []
    World(3, trace=first.append).run()
    World(3, trace=second.append).run()
    assert first == second
    assert len(first) > 1000
