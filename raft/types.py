"""Value types shared by every part of the core: entries, persistent and volatile state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

NONE = 0
"""The node id meaning "nobody" (no vote cast, no leader known); real ids are non-zero."""


class EntryKind(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class Role(Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class ConfChangeKind(IntEnum):
    ADD = 0
    REMOVE = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry; `data` is opaque to the core (a ConfChange encoding for CONF_CHANGE)."""

    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message reflecting it is sent."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting (leader changes, role changes); never persisted."""

    lead: int = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ConfState:
    """The voter set; kept sorted so that it compares and encodes deterministically."""

    voters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Application state up to `meta.index`; `data` is opaque to the core."""

    meta: SnapshotMeta = SnapshotMeta()
    data: bytes = b""

    @property
    def is_empty(self) -> bool:
        return self.meta.index == 0


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the applied index reaches `index`."""

    index: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A single-server membership change; `context` is opaque (etcd puts the member there)."""

    kind: ConfChangeKind
    node_id: int
    context: bytes = b""
