"""Messages exchanged between nodes. Every message carries its recipient, sender and term.

Only remote messages live here; local inputs (tick, campaign, propose, report_*) are RawNode
methods, so a peer can never forge them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Entry, Snapshot


@dataclass(frozen=True, slots=True)
class Message:
    to: int
    frm: int
    term: int


@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """Entries following (index, log_term); also tells the follower the leader's commit.
    `commit_only` marks an empty append that only brings a new commit index to a follower the
    leader already replicates to: accepted, it needs no answer, as the answers to the appends
    that carried the entries tell the leader everything (a rejection is still answered)."""

    index: int
    log_term: int
    entries: tuple[Entry, ...]
    commit: int
    commit_only: bool = False


@dataclass(frozen=True, slots=True)
class AppendResponse(Message):
    """Acknowledges up to `index`, or rejects an append at `index` with a probe hint:
    the follower's last index at or below it (`reject_hint`) and that entry's term."""

    index: int
    reject: bool = False
    reject_hint: int = 0
    log_term: int = 0


@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    """A (pre-)vote request. A pre-vote carries the term the candidate would campaign at;
    `transfer` marks a campaign started by leadership transfer, which bypasses leases."""

    last_index: int
    last_term: int
    pre_vote: bool = False
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse(Message):
    pre_vote: bool = False
    reject: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Keeps followers quiet; `ctx` non-empty when it also confirms a ReadIndex batch."""

    commit: int
    ctx: bytes = b""


@dataclass(frozen=True, slots=True)
class HeartbeatResponse(Message):
    ctx: bytes = b""


@dataclass(frozen=True, slots=True)
class InstallSnapshot(Message):
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class TimeoutNow(Message):
    """Tells a caught-up transferee to campaign at once."""


@dataclass(frozen=True, slots=True)
class Propose(Message):
    """Proposals forwarded by a follower to its leader; entry terms and indexes are unset."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class ReadIndexRequest(Message):
    """A follower's ReadIndex request forwarded to the leader."""

    ctx: bytes


@dataclass(frozen=True, slots=True)
class ReadIndexResponse(Message):
    index: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class TransferLeader(Message):
    """A follower's request that the leader hand leadership to `transferee`."""

    transferee: int
