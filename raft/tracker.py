"""The voter configuration with the leader's per-node Progress and a candidate's votes."""

from __future__ import annotations

from collections.abc import Callable

from .progress import Progress
from .quorum import VoteResult, committed_index, vote_result


class ProgressTracker:
    __slots__ = ("max_inflight", "progress", "voters", "votes")

    def __init__(self, voters: tuple[int, ...], max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.voters: tuple[int, ...] = tuple(sorted(voters))
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def reset_progress(self, make: Callable[[int], Progress]) -> None:
        self.progress = {node: make(node) for node in self.voters}

    def committed(self) -> int:
        progress = self.progress
        voters = self.voters
        if len(voters) == 3:
            a, b, c = (progress[v].match for v in voters)
            # The median of three, the common case of the hot path.
            return max(min(a, b), min(max(a, b), c))
        return committed_index(voters, {v: progress[v].match for v in voters})

    def quorum_active(self, me: int) -> bool:
        """Whether a majority (counting `me`) was heard from since the last reset."""
        active = {v: v == me or self.progress[v].recent_active for v in self.voters}
        return vote_result(self.voters, active) is VoteResult.WON

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node: int, granted: bool) -> None:
        self.votes.setdefault(node, granted)

    def tally_votes(self) -> VoteResult:
        return vote_result(self.voters, self.votes)
