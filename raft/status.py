"""Read-only snapshots of a node's state for monitoring (/v2/stats) and tests."""

from __future__ import annotations

from dataclasses import dataclass

from .progress import ProgressState
from .types import HardState, SoftState


@dataclass(slots=True)
class Counters:
    """Remote input the core dropped instead of raising, by reason."""

    misaddressed: int = 0  # `to` is not this node, or `frm` is unset or this node
    stale_term: int = 0  # lower-term messages that need no answer
    malformed: int = 0  # internally inconsistent messages
    unknown_sender: int = 0  # responses from nodes without progress on this leader
    ignored_votes: int = 0  # vote requests ignored inside a leader lease
    unexpected: int = 0  # messages meaningless in the current role
    dropped_proposals: int = 0  # forwarded proposals this leader could not accept
    dropped_reads: int = 0  # forwarded ReadIndex requests that could not be served


@dataclass(frozen=True, slots=True)
class ProgressStatus:
    match: int
    next: int
    state: ProgressState
    recent_active: bool
    paused: bool
    pending_snapshot: int
    inflight: int


@dataclass(frozen=True, slots=True)
class Status:
    """`progress` is filled only on the leader, one entry per voter including itself."""

    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    voters: tuple[int, ...]
    progress: dict[int, ProgressStatus]
    lead_transferee: int
    counters: Counters
