"""Errors raised to local callers. Remote misbehaviour is never raised: it is counted."""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error the core raises."""


class ConfigError(RaftError, ValueError):
    """Invalid Config or bootstrap arguments."""


class ProposalDropped(RaftError):
    """The proposal was not accepted (no leader, transfer in progress, size bound, pending
    conf change); nothing was appended, the caller may retry later."""


class NotLeader(RaftError):
    """The operation needs a leader and none is known."""


class StorageError(RaftError):
    """Base of the conditions a Storage reports about indexes it cannot serve."""


class Compacted(StorageError):
    """The requested index precedes the storage's first index (it is in a snapshot)."""


class Unavailable(StorageError):
    """The requested index is beyond the storage's last index."""


class SnapshotOutOfDate(StorageError):
    """A snapshot older than the one already held was offered."""


class RaftInvariantError(RaftError):
    """A bug in the core: an internal invariant does not hold. Never caught."""
